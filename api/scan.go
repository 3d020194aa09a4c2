package api

import (
	"encoding/binary"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// maxDepth is encoding/json's nesting limit: deeper input is invalid JSON.
const maxDepth = 10000

// The top-level fields ParseChatRequest reads, in checkKeys order.
const (
	fModel = iota
	fStream
	fStreamOptions
	fMessages
)

var (
	topFields     = [...]string{fModel: "model", fStream: "stream", fStreamOptions: "stream_options", fMessages: "messages"}
	optionFields  = [...]string{"include_usage"}
	messageFields = [...]string{"role", "content"}
)

// plainByte marks the bytes a JSON string can hold as they are: not '"',
// not '\\', not a control character, ASCII.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// chatScan is one validating pass over a chat body. It checks the JSON
// syntax of the whole body exactly as encoding/json does (same grammar,
// same nesting limit, invalid UTF-8 accepted) while keeping the raw bytes of
// the few values ParseChatRequest needs; no value is decoded or copied
// except the key names that hold escapes or non-ASCII bytes.
type chatScan struct {
	b     []byte
	i     int
	depth int

	// Top level.
	keyErr                  *Error // first misspelled or repeated field the gateway reads
	seen                    [len(topFields)]bool
	model, stream, messages []byte // raw values; nil when absent
	// Raw max_tokens and max_completion_tokens (the last of each, exact
	// spelling: Copilot reads no other), for the output-limit estimate.
	maxTokens, maxCompletionTokens []byte

	// stream_options.
	soTypeErr    bool   // not an object, or include_usage not a boolean (encoding/json's matching)
	soKeyErr     *Error // misspelled or repeated include_usage
	includeUsage bool

	// messages.
	msgTypeErr bool   // not an array of objects, or a role that is not a string
	msgCount   int    // elements of the array
	lastKeyErr *Error // misspelled or repeated role/content in the last message
	lastRole   []byte // raw role of the last message (a JSON string), nil when none
	hasImage   bool
}

// scan validates b (which starts with '{') and reads the chat fields. It
// reports false for invalid JSON.
func (c *chatScan) scan(b []byte) bool {
	c.b = b
	if !c.top() {
		return false
	}
	c.ws()
	return c.i == len(c.b)
}

func (c *chatScan) ws() {
	for c.i < len(c.b) {
		switch c.b[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

// next skips white space and reports whether the next byte is ch,
// consuming it when it is.
func (c *chatScan) next(ch byte) bool {
	c.ws()
	if c.i < len(c.b) && c.b[c.i] == ch {
		c.i++
		return true
	}
	return false
}

// open enters a container at c.i ('{' or '[').
func (c *chatScan) open() bool {
	c.i++
	c.depth++
	return c.depth <= maxDepth
}

// endOf handles what follows a member or element: ',' (more follow, true,
// true) or the closing byte (done, false, true).
func (c *chatScan) endOf(closing byte) (more, ok bool) {
	c.ws()
	if c.i >= len(c.b) {
		return false, false
	}
	switch c.b[c.i] {
	case ',':
		c.i++
		return true, true
	case closing:
		c.i++
		c.depth--
		return false, true
	}
	return false, false
}

// key reads an object key and the colon after it: its bytes between the
// quotes, and whether it has escapes or non-ASCII bytes (then it must be
// decoded to be compared), as a Member's Key and Escaped.
func (c *chatScan) key() (raw []byte, escaped, ok bool) {
	c.ws()
	if c.i >= len(c.b) || c.b[c.i] != '"' {
		return nil, false, false
	}
	start := c.i
	escaped, ok = c.str()
	end := c.i
	if !ok || !c.next(':') {
		return nil, false, false
	}
	c.ws()
	return c.b[start+1 : end-1], escaped, true
}

// value validates one value at c.i and returns its bytes.
func (c *chatScan) value() ([]byte, bool) {
	start := c.i
	if c.i >= len(c.b) {
		return nil, false
	}
	ok := false
	switch c.b[c.i] {
	case '{':
		ok = c.object()
	case '[':
		ok = c.array()
	case '"':
		_, ok = c.str()
	case 't':
		ok = c.lit("true")
	case 'f':
		ok = c.lit("false")
	case 'n':
		ok = c.lit("null")
	default:
		ok = c.number()
	}
	return c.b[start:c.i], ok
}

func (c *chatScan) object() bool { return c.walkMembers(nil) }

func (c *chatScan) array() bool { return c.walkElements(nil) }

// str validates a string at c.i (on its opening quote). complex reports
// escapes or non-ASCII bytes.
func (c *chatScan) str() (complex, ok bool) {
	b, i := c.b, c.i+1
	for {
		i = plainRun(b, i)
		if i >= len(b) {
			return false, false
		}
		switch ch := b[i]; {
		case ch == '"':
			c.i = i + 1
			return complex, true
		case ch == '\\':
			complex = true
			if i+1 >= len(b) {
				return false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+5 >= len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return false, false
				}
				i += 6
			default:
				return false, false
			}
		case ch < 0x20:
			return false, false
		default: // >= 0x80: any byte, invalid UTF-8 included, as encoding/json
			complex = true
			i++
		}
	}
}

// plainRun returns the end of the run of plain bytes (see plainByte) of b
// that starts at i. Eight bytes at a time while none needs a look (the
// bulk of a prompt), then byte by byte.
func plainRun(b []byte, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for i+8 <= len(b) {
		v := binary.LittleEndian.Uint64(b[i:])
		q, bs := v^(ones*'"'), v^(ones*'\\')
		// A high bit set in any of these: a byte >= 0x80, < 0x20, '"' or
		// '\\' (the usual has-zero and has-less-than tests, exact as to
		// whether some byte matches).
		if (v|(v-ones*0x20)&^v|(q-ones)&^q|(bs-ones)&^bs)&highs != 0 {
			break
		}
		i += 8
	}
	for i < len(b) && plainByte[b[i]] {
		i++
	}
	return i
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func (c *chatScan) lit(word string) bool {
	if len(c.b)-c.i < len(word) || string(c.b[c.i:c.i+len(word)]) != word {
		return false
	}
	c.i += len(word)
	return true
}

func (c *chatScan) number() bool {
	b, i := c.b, c.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return false
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	c.i = i
	return true
}

// match compares a key with the field names the gateway reads. fold is the
// index of the field encoding/json would fill (case-insensitive, -1 for
// none); exact is that index when the key is also spelled exactly and seen
// for the first time, else -1 with err saying why (as checkKeys does).
func match(m Member, fields []string, seen []bool) (fold, exact int, err *Error) {
	var name string
	if m.Escaped {
		name = m.KeyString()
	}
	for i, f := range fields {
		var eqFold, eq bool
		if m.Escaped {
			eqFold, eq = strings.EqualFold(name, f), name == f
		} else {
			eqFold = asciiEqualFold(m.Key, f)
			eq = eqFold && string(m.Key) == f
		}
		if !eqFold {
			continue
		}
		if !eq {
			if !m.Escaped {
				name = string(m.Key)
			}
			return i, -1, fieldNameError(name, f)
		}
		if seen[i] {
			return i, -1, fieldNameError(f, f)
		}
		seen[i] = true
		return i, i, nil
	}
	return -1, -1, nil
}

// fieldNameError is the 400 for a key that encoding/json would match with
// field but Copilot would not: name spelled with other capitals, or (name ==
// field) a repeat of field.
func fieldNameError(name, field string) *Error {
	if name != field {
		return NewError(CodeInvalidRequest, "The request body has the field \""+Clip(name, 40)+"\"; field names are case-sensitive: use \""+field+"\".").WithParam(field)
	}
	return NewError(CodeInvalidRequest, "The request body has the field \""+field+"\" more than once.").WithParam(field)
}

// topKeyError walks the top-level keys of obj (a valid JSON object) and
// returns the first field spelled with other capitals or repeated, as
// match reports it; nil when every one of fields appears at most once and
// spelled exactly.
func topKeyError(obj []byte, fields ...string) *Error {
	seen := make([]bool, len(fields))
	var first *Error
	WalkObject(obj, func(m Member) {
		if first == nil {
			_, _, first = match(m, fields, seen)
		}
	})
	return first
}

// asciiEqualFold is strings.EqualFold for an ASCII key and field name.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// top reads the top-level object.
func (c *chatScan) top() bool {
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
		key := Member{Key: raw, Escaped: escaped}
		_, exact, err := match(key, topFields[:], c.seen[:])
		if err != nil && c.keyErr == nil {
			c.keyErr = err
		}
		var v []byte
		switch exact {
		case fStreamOptions:
			ok = c.streamOptions()
		case fMessages:
			v, ok = c.messagesValue()
		default:
			v, ok = c.value()
		}
		if !ok {
			return false
		}
		switch exact {
		case fModel:
			c.model = v
		case fStream:
			c.stream = v
		case fMessages:
			c.messages = v
		case -1:
			c.limitField(key, v)
		}
		more, ok := c.endOf('}')
		if !ok || !more {
			return ok
		}
	}
}

// limitField keeps the value of an output-limit field. A key written with
// escapes ("max\u005ftokens") is decoded first, as encoding/json and
// Copilot read it: skipping it would let a client shrink its reservation.
func (c *chatScan) limitField(key Member, v []byte) {
	switch string(key.DecodedKey()) {
	case "max_tokens":
		c.maxTokens = v
	case "max_completion_tokens":
		c.maxCompletionTokens = v
	}
}

// streamOptions reads the value of stream_options as encoding/json would
// decode it into struct{IncludeUsage bool}, plus checkKeys.
func (c *chatScan) streamOptions() bool {
	if c.i >= len(c.b) || c.b[c.i] != '{' {
		v, ok := c.value()
		if ok && !isNull(v) {
			c.soTypeErr = true
		}
		return ok
	}
	var seen [len(optionFields)]bool
	return c.members(optionFields[:], seen[:], &c.soKeyErr, func(fold int, v []byte) {
		if fold != 0 {
			return
		}
		switch string(v) {
		case "true":
			c.includeUsage = true
		case "false":
			c.includeUsage = false
		case "null":
		default:
			c.soTypeErr = true
		}
	})
}

// members reads the object at c.i: each key is matched against fields
// (seen catches repeats; the first key error is kept in *keyErr) and use
// gets the matched field's index (see match) and the member's raw value.
func (c *chatScan) members(fields []string, seen []bool, keyErr **Error, use func(fold int, v []byte)) bool {
	return c.walkMembers(func(m Member) {
		fold, _, err := match(m, fields, seen)
		if err != nil && *keyErr == nil {
			*keyErr = err
		}
		use(fold, m.Value)
	})
}

// messagesValue reads the value of messages as encoding/json would decode
// it into []struct{Role string; Content json.RawMessage}, plus checkKeys on
// the last element.
func (c *chatScan) messagesValue() ([]byte, bool) {
	c.msgTypeErr, c.msgCount, c.lastKeyErr, c.lastRole, c.hasImage = false, 0, nil, nil, false
	start := c.i
	if c.i >= len(c.b) || c.b[c.i] != '[' {
		v, ok := c.value()
		if ok && !isNull(v) {
			c.msgTypeErr = true
		}
		return v, ok
	}
	if !c.open() {
		return nil, false
	}
	if c.next(']') {
		c.depth--
		return c.b[start:c.i], true
	}
	for {
		c.ws()
		if c.i >= len(c.b) {
			return nil, false
		}
		c.msgCount++
		c.lastKeyErr, c.lastRole = nil, nil
		if c.b[c.i] == '{' {
			if !c.message() {
				return nil, false
			}
		} else {
			v, ok := c.value()
			if !ok {
				return nil, false
			}
			if !isNull(v) {
				c.msgTypeErr = true
			}
		}
		more, ok := c.endOf(']')
		if !ok {
			return nil, false
		}
		if !more {
			return c.b[start:c.i], true
		}
	}
}

func (c *chatScan) message() bool {
	var seen [len(messageFields)]bool
	var content []byte
	ok := c.members(messageFields[:], seen[:], &c.lastKeyErr, func(fold int, v []byte) {
		switch fold {
		case 0: // role
			switch {
			case v[0] == '"':
				c.lastRole = v
			case isNull(v):
			default:
				c.msgTypeErr = true
			}
		case 1: // content
			content = v
		}
	})
	if ok && !c.hasImage && len(content) > 0 && content[0] == '[' {
		c.hasImage = hasImagePart(content)
	}
	return ok
}

func isNull(v []byte) bool { return string(v) == "null" }

// jsonString decodes a raw JSON string value; ok is false for any other
// value.
func jsonString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	simple := utf8.Valid(inner)
	for _, ch := range inner {
		if ch == '\\' {
			simple = false
			break
		}
	}
	if simple {
		return string(inner), true
	}
	return decodeString(raw)
}

// decodeString is json.Unmarshal into a string, kept apart so only the rare
// escaped strings pay for the heap variable.
func decodeString(raw []byte) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}
