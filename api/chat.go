package api

import (
	"bytes"
	"encoding/json"
	"strconv"
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
	// OutputLimit is max_completion_tokens, else max_tokens, when it is a
	// non-negative integer; 0 otherwise. Only estimates use it (token and
	// credit reservations): a bad value is Copilot's to refuse.
	OutputLimit int64
	// hasStreamOptions: the body has a top-level "stream_options" key (of
	// any value), so asking for usage means rewriting it, not inserting it.
	hasStreamOptions bool
}

// Initiator is the X-Initiator value for the request: "user" when the last
// message is from the user, "agent" otherwise (UPSTREAM.md §3).
func (c *ChatRequest) Initiator() string {
	if c.LastRole == "user" {
		return "user"
	}
	return "agent"
}

type partWire struct {
	Type string `json:"type"`
}

// ParseChatRequest reads the fields the gateway needs from a chat body and
// validates the shape: a JSON object with a non-empty string "model" and a
// non-empty "messages" array. A failure is a 400 Error naming the field.
//
// It is one pass over the body (scan.go) that validates the JSON syntax of
// the whole body, as encoding/json would, and reads only the top-level
// "model", "stream", "stream_options" and "messages" and, in the messages,
// each role and content; nothing else is decoded or copied. The field names
// the gateway reads must be spelled exactly and appear once: Copilot reads
// keys exactly while encoding/json would match "MODEL" too, so a key limited
// to some models could otherwise smuggle another one past the allow-list.
// chat_ref_test.go keeps the encoding/json implementation it replaced (with
// chatkeys_test.go's exact-key rule) and checks both agree.
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
	var c chatScan
	if !c.scan(trimmed) {
		return out, NewError(CodeInvalidJSON, "The request body is not valid JSON.")
	}
	out.hasStreamOptions = c.seen[fStreamOptions]
	if c.keyErr != nil {
		return out, c.keyErr
	}
	if c.model == nil || isNull(c.model) {
		return out, NewError(CodeMissingField, "you must provide a model parameter").WithParam("model")
	}
	if m, ok := jsonString(c.model); ok && m != "" {
		out.Model = m
	} else {
		return out, NewError(CodeInvalidRequest, "\"model\" must be a non-empty string.").WithParam("model")
	}
	if c.stream != nil && !isNull(c.stream) {
		switch string(c.stream) {
		case "true":
			out.Stream = true
		case "false":
		default:
			return out, NewError(CodeInvalidRequest, "\"stream\" must be a boolean.").WithParam("stream")
		}
	}
	if c.soTypeErr {
		return out, NewError(CodeInvalidRequest, "\"stream_options\" must be an object.").WithParam("stream_options")
	}
	if c.soKeyErr != nil {
		return out, c.soKeyErr
	}
	out.IncludeUsage = c.includeUsage
	if c.messages == nil || isNull(c.messages) {
		return out, NewError(CodeMissingField, "Missing required parameter: 'messages'.").WithParam("messages")
	}
	if c.msgTypeErr {
		return out, NewError(CodeInvalidRequest, "\"messages\" must be an array of message objects.").WithParam("messages")
	}
	if c.msgCount > 0 && c.lastKeyErr != nil {
		return out, c.lastKeyErr.WithParam("messages")
	}
	if c.msgCount == 0 {
		return out, NewError(CodeInvalidRequest, "\"messages\" must contain at least one message.").WithParam("messages")
	}
	if c.lastRole != nil {
		out.LastRole, _ = jsonString(c.lastRole)
	}
	out.HasImage = c.hasImage
	out.OutputLimit = outputLimit(c.maxCompletionTokens, c.maxTokens)
	return out, nil
}

// outputLimit is the first of the raw values that is a non-negative JSON
// integer (null and absent fall through, as encoding/json leaves a
// pointer nil), else 0.
func outputLimit(raws ...[]byte) int64 {
	for _, raw := range raws {
		if raw == nil || isNull(raw) {
			continue
		}
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || n < 0 {
			return 0
		}
		return n
	}
	return 0
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

// WithIncludeUsage returns the chat body c was parsed from, asking the
// upstream for the final usage chunk of a stream
// (stream_options.include_usage), for accounting. The common case (no
// stream_options) inserts the field after the opening brace, with no
// second pass over the body, so every other byte stays as the client sent
// it; a body that has stream_options is re-encoded at its top level only
// (the values stay raw bytes).
func (c *ChatRequest) WithIncludeUsage(body []byte) ([]byte, error) {
	if !c.hasStreamOptions {
		return insertIncludeUsage(body), nil
	}
	return rewriteIncludeUsage(body)
}

// insertIncludeUsage adds the stream_options field after the body's opening
// brace.
func insertIncludeUsage(body []byte) []byte {
	i := bytes.IndexByte(body, '{')
	rest := bytes.TrimSpace(body[i+1:])
	out := make([]byte, 0, len(body)+len(includeUsageField))
	out = append(out, body[:i+1]...)
	if len(rest) > 0 && rest[0] == '}' { // an empty object: no trailing comma
		out = append(out, includeUsageField[:len(includeUsageField)-1]...)
	} else {
		out = append(out, includeUsageField...)
	}
	return append(out, body[i+1:]...)
}

// rewriteIncludeUsage sets stream_options.include_usage in a body that has
// stream_options (a null one is replaced).
func rewriteIncludeUsage(body []byte) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, err
	}
	raw := top["stream_options"]
	opts := map[string]json.RawMessage{}
	if len(raw) > 0 && string(bytes.TrimSpace(raw)) != "null" {
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
