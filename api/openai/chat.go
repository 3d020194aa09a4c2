// Package openai holds the OpenAI chat-completions wire types that serve as
// the pivot between the client APIs copilot-proxy serves (chat completions,
// Responses, Anthropic Messages): every translation goes to or from these.
//
// They are used on the translated path only: a body that needs no
// translation is forwarded as bytes and never decoded into them. Decoding is
// tolerant of what Copilot sends (extra fields, empty choices, null usage);
// unknown request fields are kept in Extra so that nothing a client sent is
// silently reshaped.
package openai

import (
	"bytes"
	"encoding/json"
	"errors"
)

// ChatRequest is a chat-completions request body.
type ChatRequest struct {
	Model               string          `json:"model"`
	Messages            []Message       `json:"messages"`
	Tools               []Tool          `json:"tools,omitempty"`
	ToolChoice          *ToolChoice     `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool           `json:"parallel_tool_calls,omitempty"`
	MaxTokens           *int64          `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int64          `json:"max_completion_tokens,omitempty"`
	Temperature         *float64        `json:"temperature,omitempty"`
	TopP                *float64        `json:"top_p,omitempty"`
	Stop                Stop            `json:"stop,omitempty"`
	Stream              bool            `json:"stream,omitempty"`
	StreamOptions       *StreamOptions  `json:"stream_options,omitempty"`
	ReasoningEffort     string          `json:"reasoning_effort,omitempty"`
	ResponseFormat      *ResponseFormat `json:"response_format,omitempty"`
	User                string          `json:"user,omitempty"`
	N                   *int            `json:"n,omitempty"`

	// Extra holds the members this type does not model (seed,
	// frequency_penalty, metadata, ...), raw, keyed exactly as sent. They
	// are marshalled back after the typed fields.
	Extra map[string]json.RawMessage `json:"-"`
}

// chatRequestWire is ChatRequest without its methods, for encoding/json.
type chatRequestWire ChatRequest

// fields maps each modelled key to its field, for DecodeObject.
func (r *ChatRequest) fields() map[string]any {
	return map[string]any{
		"model": &r.Model, "messages": &r.Messages, "tools": &r.Tools, "tool_choice": &r.ToolChoice,
		"parallel_tool_calls": &r.ParallelToolCalls, "max_tokens": &r.MaxTokens,
		"max_completion_tokens": &r.MaxCompletionTokens, "temperature": &r.Temperature, "top_p": &r.TopP,
		"stop": &r.Stop, "stream": &r.Stream, "stream_options": &r.StreamOptions,
		"reasoning_effort": &r.ReasoningEffort, "response_format": &r.ResponseFormat, "user": &r.User, "n": &r.N,
	}
}

// chatRequestKeys is the set of keys ChatRequest models.
var chatRequestKeys = (&ChatRequest{}).fields()

// UnmarshalJSON decodes a chat body with exact key matching (DecodeObject),
// keeping unknown members in Extra.
func (r *ChatRequest) UnmarshalJSON(data []byte) error {
	*r = ChatRequest{}
	return DecodeObject(data, r.fields(), &r.Extra)
}

// MarshalJSON encodes the typed fields, then Extra.
func (r ChatRequest) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(chatRequestWire(r))
	if err != nil {
		return nil, err
	}
	return AppendMembers(b, r.Extra, chatRequestKeys)
}

// StreamOptions is the stream_options object of a chat request.
type StreamOptions struct {
	// IncludeUsage asks for a last chunk with usage and no choices.
	IncludeUsage bool `json:"include_usage"`
}

// Stop is the stop field: one string or up to four. A single string
// decodes to a one-element list (the array form means the same).
type Stop []string

// UnmarshalJSON accepts a string, an array of strings or null.
func (s *Stop) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		var one string
		if err := json.Unmarshal(data, &one); err != nil {
			return err
		}
		*s = Stop{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(data, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

// ResponseFormat is the response_format object: {"type":"text"},
// {"type":"json_object"} or {"type":"json_schema","json_schema":{...}}.
type ResponseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *JSONSchema `json:"json_schema,omitempty"`
}

// JSONSchema is the json_schema member of a json_schema response format.
type JSONSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// Tool is one entry of a chat request's tools: a function, or another type
// kept raw.
type Tool struct {
	// Type is "function" for the tools this package models.
	Type     string       `json:"type"`
	Function *FunctionDef `json:"function,omitempty"`
	// Raw is the tool as received when it is not a function tool; it is
	// marshalled back as is.
	Raw json.RawMessage `json:"-"`
}

type toolWire Tool

// UnmarshalJSON decodes a tool, keeping the bytes of a non-function one.
func (t *Tool) UnmarshalJSON(data []byte) error {
	var w toolWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*t = Tool(w)
	if t.Type != "function" {
		t.Raw = append(json.RawMessage(nil), data...)
	}
	return nil
}

// MarshalJSON encodes a function tool, or Raw for another type.
func (t Tool) MarshalJSON() ([]byte, error) {
	if t.Type != "function" && t.Raw != nil {
		return t.Raw, nil
	}
	return json.Marshal(toolWire(t))
}

// FunctionDef is a function tool's definition.
type FunctionDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ToolChoice is tool_choice: a mode string ("none", "auto", "required"),
// {"type":"function","function":{"name":...}}, or another object form kept
// raw.
type ToolChoice struct {
	// Mode is the string form; empty for an object form.
	Mode string
	// Function names the function the model must call (object form).
	Function string
	// Raw is any other object form (e.g. allowed_tools), as received.
	Raw json.RawMessage
}

type namedFunction struct {
	Name string `json:"name"`
}

type toolChoiceObject struct {
	Type     string         `json:"type"`
	Function *namedFunction `json:"function,omitempty"`
}

// MarshalJSON encodes the form that is set.
func (c ToolChoice) MarshalJSON() ([]byte, error) {
	switch {
	case c.Function != "":
		return json.Marshal(toolChoiceObject{Type: "function", Function: &namedFunction{Name: c.Function}})
	case c.Raw != nil:
		return c.Raw, nil
	default:
		return json.Marshal(c.Mode)
	}
}

// UnmarshalJSON accepts the string and the object forms.
func (c *ToolChoice) UnmarshalJSON(data []byte) error {
	*c = ToolChoice{}
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		return json.Unmarshal(data, &c.Mode)
	}
	var o toolChoiceObject
	if err := json.Unmarshal(data, &o); err != nil {
		return err
	}
	if o.Type == "function" && o.Function != nil && o.Function.Name != "" {
		c.Function = o.Function.Name
		return nil
	}
	c.Raw = append(json.RawMessage(nil), data...)
	return nil
}

// Message is one chat message. Content is null (absent), a string or an
// array of parts; the form received is the form marshalled.
type Message struct {
	Role       string     `json:"role"`
	Content    Content    `json:"content"`
	Name       string     `json:"name,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
	Refusal    string     `json:"refusal,omitempty"`
	// ReasoningText and ReasoningOpaque are Copilot's extension for models
	// that think (Claude, Gemini): the readable thinking, and an opaque
	// token of the reasoning state that the same model takes back on the
	// next turn.
	ReasoningText   string `json:"reasoning_text,omitempty"`
	ReasoningOpaque string `json:"reasoning_opaque,omitempty"`
}

// Content is a message's content: Text for the string form, Parts for the
// array form, neither for null. Keeping the form lets a body round-trip.
type Content struct {
	Text  *string
	Parts []ContentPart
}

// TextContent is the string form of content.
func TextContent(s string) Content { return Content{Text: &s} }

// IsZero reports null content (for omitzero).
func (c Content) IsZero() bool { return c.Text == nil && c.Parts == nil }

// PlainText is the content's text: the string form, or the text parts
// joined without separator (parts are fragments of one text).
func (c Content) PlainText() string {
	if c.Text != nil {
		return *c.Text
	}
	var b []byte
	for _, p := range c.Parts {
		if p.Type == "text" {
			b = append(b, p.Text...)
		}
	}
	return string(b)
}

// MarshalJSON encodes the form that is set, or null.
func (c Content) MarshalJSON() ([]byte, error) { return MarshalTextOrParts(c.Text, c.Parts) }

// UnmarshalJSON accepts a string, an array of parts or null.
func (c *Content) UnmarshalJSON(data []byte) (err error) {
	c.Text, c.Parts, err = UnmarshalTextOrParts[ContentPart](data)
	return err
}

// MarshalTextOrParts encodes content that is a string or an array of
// parts (chat messages, Responses items and outputs): parts when set, else
// the text, else null.
func MarshalTextOrParts[P any](text *string, parts []P) ([]byte, error) {
	switch {
	case parts != nil:
		return json.Marshal(parts)
	case text != nil:
		return json.Marshal(*text)
	}
	return []byte("null"), nil
}

var errContent = errors.New("content must be a string, an array of parts or null")

// UnmarshalTextOrParts decodes a string (text), an array (parts, never nil)
// or null (neither).
func UnmarshalTextOrParts[P any](data []byte) (text *string, parts []P, err error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, nil, errContent
	}
	switch data[0] {
	case 'n': // null: encoding/json has checked the literal
		return nil, nil, nil
	case '"':
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, nil, err
		}
		return &s, nil, nil
	case '[':
		parts = []P{}
		if err := json.Unmarshal(data, &parts); err != nil {
			return nil, nil, err
		}
		return nil, parts, nil
	}
	return nil, nil, errContent
}

// ContentPart is one part of array content: "text" or "image_url"; other
// types (input_audio, file) are kept raw.
type ContentPart struct {
	Type     string
	Text     string
	ImageURL *ImageURL
	// Raw is a part of another type, as received.
	Raw json.RawMessage
}

type textPartWire struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type imagePartWire struct {
	Type     string    `json:"type"`
	ImageURL *ImageURL `json:"image_url"`
}

// MarshalJSON encodes the part with the members of its type.
func (p ContentPart) MarshalJSON() ([]byte, error) {
	switch {
	case p.Type == "text":
		return json.Marshal(textPartWire{Type: p.Type, Text: p.Text})
	case p.Type == "image_url":
		return json.Marshal(imagePartWire{Type: p.Type, ImageURL: p.ImageURL})
	case p.Raw != nil:
		return p.Raw, nil
	}
	return json.Marshal(struct {
		Type string `json:"type"`
	}{p.Type})
}

// UnmarshalJSON decodes a part, keeping the bytes of one of another type.
func (p *ContentPart) UnmarshalJSON(data []byte) error {
	var w struct {
		Type     string    `json:"type"`
		Text     string    `json:"text"`
		ImageURL *ImageURL `json:"image_url"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*p = ContentPart{Type: w.Type, Text: w.Text, ImageURL: w.ImageURL}
	if w.Type != "text" && w.Type != "image_url" {
		p.Raw = append(json.RawMessage(nil), data...)
	}
	return nil
}

// ImageURL is an image_url part's image: a URL or a data: URL.
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

type imageURLWire ImageURL

// UnmarshalJSON accepts the object form and, as some clients send it, a
// bare URL string.
func (u *ImageURL) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		*u = ImageURL{}
		return json.Unmarshal(data, &u.URL)
	}
	return json.Unmarshal(data, (*imageURLWire)(u))
}

// ToolCall is a call the model made: in a message, or (with Index set) a
// fragment of one in a stream delta, where id, type and name may come in a
// later fragment than the first arguments.
type ToolCall struct {
	Index    *int         `json:"index,omitempty"`
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function FunctionCall `json:"function"`
}

// FunctionCall is a tool call's function and its arguments (a JSON text).
type FunctionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}
