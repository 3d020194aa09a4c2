package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// encoding/json matches object keys case-insensitively and lets the last of
// duplicate keys win, while Copilot reads keys exactly. A body such as
// {"model":"claude-x","MODEL":"gpt-4o"} would then be checked by the gateway
// as gpt-4o (passing a key's model allow-list) and served upstream as
// claude-x; {"messages":[…user],"Messages":[…tool]} would bill a user turn
// as an agent one. checkKeys refuses such bodies: among the keys of the JSON
// object obj, a field the gateway reads may appear once and only spelled
// exactly. Found by FuzzParseChatRequest.
func checkKeys(obj []byte, fields ...string) *Error {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil // not an object: the caller's decoding reports it
	}
	var seen [8]bool
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil
		}
		key, _ := t.(string)
		for i, f := range fields {
			if !strings.EqualFold(key, f) {
				continue
			}
			if key != f {
				return NewError(CodeInvalidRequest, "The request body has the field \""+Clip(key, 40)+"\"; field names are case-sensitive: use \""+f+"\".").WithParam(f)
			}
			if seen[i] {
				return NewError(CodeInvalidRequest, "The request body has the field \""+f+"\" more than once.").WithParam(f)
			}
			seen[i] = true
		}
		if err := skipValue(dec); err != nil {
			return nil
		}
	}
	return nil
}

// skipValue consumes one JSON value from dec without keeping it.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		t, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}
