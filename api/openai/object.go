package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"sort"

	"github.com/copilot-proxy/copilot-proxy/api"
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
	// One pass (api.WalkObject) splits the members and checks the syntax;
	// only the members of fields are decoded. A syntax error anywhere wins
	// over a member error, so a caller handing raw bytes to UnmarshalJSON
	// (responses.ParseRequest) needs no validating pass of its own; when
	// json.Unmarshal calls UnmarshalJSON it has validated data already, so
	// the order is not observable there.
	seen := make(map[string]bool, len(fields))
	var fieldErr error
	valid, isObject := api.WalkObject(data, func(m api.Member) {
		if fieldErr != nil {
			return
		}
		key := m.KeyString()
		target, known := fields[key]
		switch {
		case !known:
			if extra != nil {
				if *extra == nil {
					*extra = make(map[string]json.RawMessage)
				}
				(*extra)[key] = append(json.RawMessage(nil), m.Value...)
			}
		case seen[key]:
			fieldErr = &FieldError{Field: key, Repeated: true}
		default:
			seen[key] = true
			if err := json.Unmarshal(m.Value, target); err != nil {
				fieldErr = &FieldError{Field: key, Err: err}
			}
		}
	})
	switch {
	case !valid:
		return errSyntax
	case fieldErr != nil:
		return fieldErr
	case !isObject && string(bytes.TrimSpace(data)) != "null":
		return errNotObject
	}
	return nil
}

var errSyntax = errors.New("invalid JSON")

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
	var compact bytes.Buffer
	empty := len(bytes.TrimSpace(out[1:])) == 0
	for _, k := range keys {
		if !empty {
			out = append(out, ',')
		}
		empty = false
		name, _ := json.Marshal(k)
		out = append(out, name...)
		out = append(out, ':')
		// Compacted and HTML-escaped as json.Marshal writes a
		// json.RawMessage, so callers need no second json.Marshal pass over
		// the whole object to get the same bytes.
		compact.Reset()
		if err := json.Compact(&compact, extra[k]); err != nil {
			return nil, errors.New("extra member \"" + k + "\" is not valid JSON")
		}
		escaped := bytes.NewBuffer(out)
		json.HTMLEscape(escaped, compact.Bytes())
		out = escaped.Bytes()
	}
	return append(out, '}'), nil
}
