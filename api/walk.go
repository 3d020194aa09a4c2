package api

import (
	"bytes"
	"strings"
)

// Member is one member of a JSON object as WalkObject reads it: sub-slices
// of the input, nothing copied.
type Member struct {
	// Key is the key's bytes between its quotes, as written.
	Key []byte
	// Escaped reports escapes or non-ASCII bytes in Key: compare
	// KeyString, not Key.
	Escaped bool
	// Value is the member's raw value.
	Value []byte
}

// KeyString is the key as encoding/json decodes it.
func (m Member) KeyString() string {
	if !m.Escaped {
		return string(m.Key)
	}
	// The walk validated the string, so decoding cannot fail; Key sits
	// between the quotes of the input.
	s, _ := decodeString(append(append([]byte{'"'}, m.Key...), '"'))
	return s
}

// DecodedKey is the key as encoding/json decodes it, without a copy for the
// usual plain ASCII key (then it is Key itself).
func (m Member) DecodedKey() []byte {
	if !m.Escaped {
		return m.Key
	}
	return []byte(m.KeyString())
}

// KeyEqualFold reports whether the key, as encoding/json decodes it, is
// name under case folding: how encoding/json matches a key to a struct
// field. name is ASCII (a field name).
func (m Member) KeyEqualFold(name string) bool {
	if !m.Escaped {
		return asciiEqualFold(m.Key, name)
	}
	return strings.EqualFold(m.KeyString(), name)
}

// WalkObject checks that b is one JSON value (white space around it
// allowed) exactly as encoding/json's syntax check does (same grammar, same
// nesting limit, invalid UTF-8 accepted) and, when it is an object, calls
// fn (when not nil) with each member in order. It is one pass over the bytes with no
// allocation, for the passthrough paths that read a few fields of large
// bodies. fn may be called before an error further on is found: use what
// it saw only when valid is true.
func WalkObject(b []byte, fn func(Member)) (valid, isObject bool) {
	c := chatScan{b: b}
	c.ws()
	if c.i < len(b) && b[c.i] == '{' {
		ok := c.walkMembers(fn)
		c.ws()
		return ok && c.i == len(b), true
	}
	_, ok := c.value()
	c.ws()
	return ok && c.i == len(b), false
}

// ObjectMembers walks a request body that must be one JSON object (white
// space around it trimmed), calling fn (when not nil) with each member as
// WalkObject does, and returns the 400 for a body that is empty, not valid
// JSON, or not an object: the three checks every request parser makes, with
// one wording. Use what fn saw only when it returns nil.
func ObjectMembers(body []byte, fn func(Member)) *Error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return NewError(CodeInvalidJSON, "The request body is empty; expected a JSON object.")
	}
	switch valid, isObject := WalkObject(trimmed, fn); {
	case !valid:
		return NewError(CodeInvalidJSON, "The request body is not valid JSON.")
	case !isObject:
		return NewError(CodeInvalidRequest, "The request body must be a JSON object.")
	}
	return nil
}

// WalkArray is WalkObject for an array: fn gets each element's raw value.
func WalkArray(b []byte, fn func(elem []byte)) (valid, isArray bool) {
	c := chatScan{b: b}
	c.ws()
	if c.i < len(b) && b[c.i] == '[' {
		ok := c.walkElements(fn)
		c.ws()
		return ok && c.i == len(b), true
	}
	_, ok := c.value()
	c.ws()
	return ok && c.i == len(b), false
}

// walkMembers validates the object at c.i, calling fn (when not nil) with
// each member.
func (c *chatScan) walkMembers(fn func(Member)) bool {
	if !c.open() {
		return false
	}
	if c.next('}') {
		c.depth--
		return true
	}
	for {
		raw, escaped, ok := c.key()
		if !ok {
			return false
		}
		v, ok := c.value()
		if !ok {
			return false
		}
		if fn != nil {
			fn(Member{Key: raw, Escaped: escaped, Value: v})
		}
		more, ok := c.endOf('}')
		if !ok || !more {
			return ok
		}
	}
}

// walkElements validates the array at c.i, calling fn (when not nil) with
// each element.
func (c *chatScan) walkElements(fn func([]byte)) bool {
	if !c.open() {
		return false
	}
	if c.next(']') {
		c.depth--
		return true
	}
	for {
		c.ws()
		v, ok := c.value()
		if !ok {
			return false
		}
		if fn != nil {
			fn(v)
		}
		more, ok := c.endOf(']')
		if !ok || !more {
			return ok
		}
	}
}

// JSONString decodes a raw JSON string value as encoding/json does
// (escapes, invalid UTF-8 replaced); ok is false for any other value.
func JSONString(raw []byte) (string, bool) { return jsonString(raw) }
