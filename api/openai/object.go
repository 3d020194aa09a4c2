package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"sort"
)

// FieldError is DecodeObject's error about one member of an object: a key
// given twice, or a value of the wrong shape.
type FieldError struct {
	// Field is the member's key.
	Field string
	// Repeated is true when the key appears more than once.
	Repeated bool
	// Err is the value's decoding error when Repeated is false.
	Err error
}

// Error implements error.
func (e *FieldError) Error() string {
	if e.Repeated {
		return "field \"" + e.Field + "\" appears more than once"
	}
	return "field \"" + e.Field + "\": " + e.Err.Error()
}

// Unwrap returns the value's decoding error.
func (e *FieldError) Unwrap() error { return e.Err }

var errNotObject = errors.New("expected a JSON object")

// DecodeObject decodes the JSON object data member by member: a member
// whose key is exactly a key of fields is decoded into that target (a
// pointer); every other member is kept raw in *extra when extra is not nil.
//
// Keys match exactly, unlike encoding/json, which also fills a field from a
// key spelled with other capitals: Copilot reads keys exactly, so a folded
// match could make the gateway act on a value Copilot never sees, and a key
// such as "MODEL" is simply an unknown member here (kept in extra, where
// callers that guard a field look for it). A key of fields given twice is a
// *FieldError, as api.ParseChatRequest refuses repeats of the fields it
// reads. A JSON null leaves every target untouched.
func DecodeObject(data []byte, fields map[string]any, extra *map[string]json.RawMessage) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errNotObject
	}
	seen := make(map[string]bool, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		target, known := fields[key]
		if !known {
			if extra != nil {
				if *extra == nil {
					*extra = make(map[string]json.RawMessage)
				}
				(*extra)[key] = raw
			}
			continue
		}
		if seen[key] {
			return &FieldError{Field: key, Repeated: true}
		}
		seen[key] = true
		if err := json.Unmarshal(raw, target); err != nil {
			return &FieldError{Field: key, Err: err}
		}
	}
	_, err = dec.Token()
	return err
}

// AppendMembers adds the members of extra to obj, the JSON of a non-empty
// object, in key order (so output is deterministic), skipping keys that are
// in known: a typed field always wins over a raw copy of it.
func AppendMembers(obj []byte, extra map[string]json.RawMessage, known map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(extra))
	for k := range extra {
		if _, ok := known[k]; !ok {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return obj, nil
	}
	sort.Strings(keys)
	obj = bytes.TrimSpace(obj)
	if len(obj) < 2 || obj[len(obj)-1] != '}' {
		return nil, errNotObject
	}
	out := append([]byte(nil), obj[:len(obj)-1]...)
	empty := len(bytes.TrimSpace(out[1:])) == 0
	for _, k := range keys {
		v := bytes.TrimSpace(extra[k])
		if !json.Valid(v) {
			return nil, errors.New("extra member \"" + k + "\" is not valid JSON")
		}
		if !empty {
			out = append(out, ',')
		}
		empty = false
		name, _ := json.Marshal(k)
		out = append(out, name...)
		out = append(out, ':')
		out = append(out, v...)
	}
	return append(out, '}'), nil
}
