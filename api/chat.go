package api

import (
	"bytes"
	"encoding/json"
)

// ChatRequest holds the few fields of a chat-completions body the gateway
// needs. The body itself is forwarded as bytes, never re-marshalled.
type ChatRequest struct {
	Model string
	// Stream is the client's "stream" flag.
	Stream bool
	// IncludeUsage reports whether the client asked for the usage chunk
	// (stream_options.include_usage).
	IncludeUsage bool
	// LastRole is the role of the last message ("user", "assistant", "tool", ...).
	LastRole string
	// HasImage is true when any message has an image content part.
	HasImage bool
}

// Initiator is the X-Initiator value for the request: "user" when the last
// message is from the user, "agent" otherwise (UPSTREAM.md §3).
func (c *ChatRequest) Initiator() string {
	if c.LastRole == "user" {
		return "user"
	}
	return "agent"
}

type chatWire struct {
	Model         json.RawMessage `json:"model"`
	Stream        json.RawMessage `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Messages json.RawMessage `json:"messages"`
}

type messageWire struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type partWire struct {
	Type string `json:"type"`
}

// ParseChatRequest reads the fields the gateway needs from a chat body and
// validates the shape: a JSON object with a non-empty string "model" and a
// non-empty "messages" array. A failure is a 400 Error naming the field.
func ParseChatRequest(body []byte) (ChatRequest, *Error) {
	var out ChatRequest
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return out, NewError(CodeInvalidJSON, "The request body is empty; expected a JSON object.")
	}
	if trimmed[0] != '{' {
		if !json.Valid(trimmed) {
			return out, NewError(CodeInvalidJSON, "The request body is not valid JSON.")
		}
		return out, NewError(CodeInvalidRequest, "The request body must be a JSON object.")
	}
	var w chatWire
	if err := json.Unmarshal(trimmed, &w); err != nil {
		if !json.Valid(trimmed) {
			return out, NewError(CodeInvalidJSON, "The request body is not valid JSON.")
		}
		return out, NewError(CodeInvalidRequest, "The request body has a field of the wrong type: "+describeJSONError(err)+".")
	}
	if len(w.Model) == 0 || string(w.Model) == "null" {
		return out, NewError(CodeMissingField, "you must provide a model parameter").WithParam("model")
	}
	if err := json.Unmarshal(w.Model, &out.Model); err != nil || out.Model == "" {
		return out, NewError(CodeInvalidRequest, "\"model\" must be a non-empty string.").WithParam("model")
	}
	if len(w.Stream) > 0 && string(w.Stream) != "null" {
		if err := json.Unmarshal(w.Stream, &out.Stream); err != nil {
			return out, NewError(CodeInvalidRequest, "\"stream\" must be a boolean.").WithParam("stream")
		}
	}
	if w.StreamOptions != nil {
		out.IncludeUsage = w.StreamOptions.IncludeUsage
	}
	if len(w.Messages) == 0 || string(w.Messages) == "null" {
		return out, NewError(CodeMissingField, "Missing required parameter: 'messages'.").WithParam("messages")
	}
	var msgs []messageWire
	if err := json.Unmarshal(w.Messages, &msgs); err != nil {
		return out, NewError(CodeInvalidRequest, "\"messages\" must be an array of message objects.").WithParam("messages")
	}
	if len(msgs) == 0 {
		return out, NewError(CodeInvalidRequest, "\"messages\" must contain at least one message.").WithParam("messages")
	}
	out.LastRole = msgs[len(msgs)-1].Role
	for _, m := range msgs {
		if hasImagePart(m.Content) {
			out.HasImage = true
			break
		}
	}
	return out, nil
}

func hasImagePart(content json.RawMessage) bool {
	c := bytes.TrimSpace(content)
	if len(c) == 0 || c[0] != '[' {
		return false
	}
	// Cheap pre-check before decoding the parts.
	if !bytes.Contains(c, []byte("image")) {
		return false
	}
	var parts []partWire
	if err := json.Unmarshal(c, &parts); err != nil {
		return false
	}
	for _, p := range parts {
		if p.Type == "image_url" || p.Type == "input_image" || p.Type == "image" {
			return true
		}
	}
	return false
}

func describeJSONError(err error) string {
	if te, ok := err.(*json.UnmarshalTypeError); ok && te.Field != "" {
		return "\"" + te.Field + "\" has type " + te.Value
	}
	return "unexpected value"
}

var includeUsageField = []byte(`"stream_options":{"include_usage":true},`)

// WithIncludeUsage returns a chat body that asks the upstream for the final
// usage chunk of a stream (stream_options.include_usage), for accounting.
// The common case (no stream_options) inserts the field after the opening
// brace so every other byte stays as the client sent it; a body that has
// stream_options without include_usage is re-encoded at its top level only
// (the values stay raw bytes). body must have passed ParseChatRequest.
func WithIncludeUsage(body []byte) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, err
	}
	raw, has := top["stream_options"]
	if !has || string(bytes.TrimSpace(raw)) == "null" {
		if has {
			delete(top, "stream_options")
		} else {
			i := bytes.IndexByte(body, '{')
			rest := bytes.TrimSpace(body[i+1:])
			out := make([]byte, 0, len(body)+len(includeUsageField))
			out = append(out, body[:i+1]...)
			if len(rest) > 0 && rest[0] == '}' { // an empty object: no trailing comma
				out = append(out, includeUsageField[:len(includeUsageField)-1]...)
			} else {
				out = append(out, includeUsageField...)
			}
			return append(out, body[i+1:]...), nil
		}
	}
	opts := map[string]json.RawMessage{}
	if has && string(bytes.TrimSpace(raw)) != "null" {
		if err := json.Unmarshal(raw, &opts); err != nil {
			return nil, err
		}
	}
	opts["include_usage"] = json.RawMessage("true")
	enc, err := json.Marshal(opts)
	if err != nil {
		return nil, err
	}
	top["stream_options"] = enc
	return json.Marshal(top)
}
