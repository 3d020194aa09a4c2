package api

import (
	"bytes"
	"encoding/json"
)

// The implementation of ParseChatRequest before the targeted scan, kept
// verbatim (renamed) as the reference of the differential tests in
// chat_scan_test.go.

type chatWire struct {
	Model         json.RawMessage `json:"model"`
	Stream        json.RawMessage `json:"stream"`
	StreamOptions json.RawMessage `json:"stream_options"`
	Messages      json.RawMessage `json:"messages"`
}

type messageWire struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// parseChatRequestRef is the implementation ParseChatRequest replaced
// (encoding/json into structs), kept as the reference of the differential
// test. It reads the fields the gateway needs from a chat body and
// validates the shape: a JSON object with a non-empty string "model" and a
// non-empty "messages" array. A failure is a 400 Error naming the field.
func parseChatRequestRef(body []byte) (ChatRequest, *Error) {
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
	if e := checkKeys(trimmed, "model", "stream", "stream_options", "messages"); e != nil {
		return out, e
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
	out.hasStreamOptions = len(w.StreamOptions) > 0 // present, null included
	if len(w.StreamOptions) > 0 && string(w.StreamOptions) != "null" {
		var so struct {
			IncludeUsage bool `json:"include_usage"`
		}
		if err := json.Unmarshal(w.StreamOptions, &so); err != nil {
			return out, NewError(CodeInvalidRequest, "\"stream_options\" must be an object.").WithParam("stream_options")
		}
		if e := checkKeys(w.StreamOptions, "include_usage"); e != nil {
			return out, e
		}
		out.IncludeUsage = so.IncludeUsage
	}
	if len(w.Messages) == 0 || string(w.Messages) == "null" {
		return out, NewError(CodeMissingField, "Missing required parameter: 'messages'.").WithParam("messages")
	}
	var msgs []messageWire
	if err := json.Unmarshal(w.Messages, &msgs); err != nil {
		return out, NewError(CodeInvalidRequest, "\"messages\" must be an array of message objects.").WithParam("messages")
	}
	// The last message's role decides X-Initiator (billing): it must be read
	// as Copilot reads it.
	if len(msgs) > 0 {
		var raw []json.RawMessage
		if json.Unmarshal(w.Messages, &raw) == nil && len(raw) > 0 {
			if e := checkKeys(raw[len(raw)-1], "role", "content"); e != nil {
				return out, e.WithParam("messages")
			}
		}
	}
	if len(msgs) == 0 {
		return out, NewError(CodeInvalidRequest, "\"messages\" must contain at least one message.").WithParam("messages")
	}
	out.LastRole = msgs[len(msgs)-1].Role
	for _, m := range msgs {
		if hasImagePartRef(m.Content) {
			out.HasImage = true
			break
		}
	}
	out.OutputLimit = outputLimitRef(trimmed)
	return out, nil
}

// outputLimitRef reads the limits with encoding/json: exact key names, the
// last of a repeated key, decoded as *int64.
func outputLimitRef(obj []byte) int64 {
	var top map[string]json.RawMessage
	if json.Unmarshal(obj, &top) != nil {
		return 0
	}
	for _, name := range []string{"max_completion_tokens", "max_tokens"} {
		var n *int64
		raw, ok := top[name]
		if !ok {
			continue
		}
		if json.Unmarshal(raw, &n) != nil || n != nil && *n < 0 {
			return 0
		}
		if n != nil {
			return *n
		}
	}
	return 0
}

func hasImagePartRef(content json.RawMessage) bool {
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
