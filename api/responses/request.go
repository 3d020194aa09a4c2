// Package responses holds the OpenAI Responses API wire types and the pure
// converters between it and chat completions (package openai, the pivot):
//
//   - ToChat, FromChatResponse and StreamFromChat serve a Responses client
//     (Codex CLI) with a model that Copilot serves only on /chat/completions;
//   - FromChat, ToChatResponse and StreamToChat serve a chat-completions
//     client with a model that Copilot serves only on /responses;
//   - ParseRequest, PeekRequest, EventUsage, BodyUsage and TailUsage read what the
//     gateway needs from bodies it forwards untouched.
//
// Nothing here does I/O; ids are derived from the response id the caller
// gives, so every output is deterministic.
package responses

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/copilot-proxy/copilot-proxy/api/openai"
)

// Request is a Responses API request body (POST /v1/responses).
type Request struct {
	Model              string            `json:"model"`
	Input              Input             `json:"input"`
	Instructions       string            `json:"instructions,omitempty"`
	Tools              []Tool            `json:"tools,omitempty"`
	ToolChoice         *ToolChoice       `json:"tool_choice,omitempty"`
	ParallelToolCalls  *bool             `json:"parallel_tool_calls,omitempty"`
	MaxOutputTokens    *int64            `json:"max_output_tokens,omitempty"`
	Reasoning          *Reasoning        `json:"reasoning,omitempty"`
	Include            []string          `json:"include,omitempty"`
	Store              *bool             `json:"store,omitempty"`
	Stream             bool              `json:"stream,omitempty"`
	PreviousResponseID string            `json:"previous_response_id,omitempty"`
	PromptCacheKey     string            `json:"prompt_cache_key,omitempty"`
	Temperature        *float64          `json:"temperature,omitempty"`
	TopP               *float64          `json:"top_p,omitempty"`
	Text               *TextConfig       `json:"text,omitempty"`
	Metadata           map[string]string `json:"metadata,omitempty"`
	User               string            `json:"user,omitempty"`

	// Extra holds the members this type does not model (client_metadata,
	// truncation, service_tier, ...), raw, keyed exactly as sent.
	Extra map[string]json.RawMessage `json:"-"`
}

type requestWire Request

func (r *Request) fields() map[string]any {
	return map[string]any{
		"model": &r.Model, "input": &r.Input, "instructions": &r.Instructions, "tools": &r.Tools,
		"tool_choice": &r.ToolChoice, "parallel_tool_calls": &r.ParallelToolCalls,
		"max_output_tokens": &r.MaxOutputTokens, "reasoning": &r.Reasoning, "include": &r.Include,
		"store": &r.Store, "stream": &r.Stream, "previous_response_id": &r.PreviousResponseID,
		"prompt_cache_key": &r.PromptCacheKey, "temperature": &r.Temperature, "top_p": &r.TopP,
		"text": &r.Text, "metadata": &r.Metadata, "user": &r.User,
	}
}

var requestKeys = (&Request{}).fields()

// UnmarshalJSON decodes a body with exact key matching
// (openai.DecodeObject), keeping unknown members in Extra.
func (r *Request) UnmarshalJSON(data []byte) error {
	*r = Request{}
	return openai.DecodeObject(data, r.fields(), &r.Extra)
}

// MarshalJSON encodes the typed fields, then Extra.
func (r Request) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(requestWire(r))
	if err != nil {
		return nil, err
	}
	return openai.AppendMembers(b, r.Extra, requestKeys)
}

// Includes reports whether include lists v (e.g.
// "reasoning.encrypted_content").
func (r *Request) Includes(v string) bool {
	for _, s := range r.Include {
		if s == v {
			return true
		}
	}
	return false
}

// Input is the request's input: a string (Text) or a list of items.
type Input struct {
	Text  *string
	Items []Item
}

// TextInput is the string form of input.
func TextInput(s string) Input { return Input{Text: &s} }

// IsZero reports an absent input.
func (in Input) IsZero() bool { return in.Text == nil && in.Items == nil }

// MarshalJSON encodes the form that is set (items when both are).
func (in Input) MarshalJSON() ([]byte, error) {
	switch {
	case in.Items != nil:
		return json.Marshal(in.Items)
	case in.Text != nil:
		return json.Marshal(*in.Text)
	}
	return []byte("[]"), nil
}

var errInput = errors.New("input must be a string or an array of items")

// UnmarshalJSON accepts a string or an array of items.
func (in *Input) UnmarshalJSON(data []byte) error {
	*in = Input{}
	data = bytes.TrimSpace(data)
	switch {
	case len(data) > 0 && data[0] == '"':
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		in.Text = &s
		return nil
	case len(data) > 0 && data[0] == '[':
		items := []Item{}
		if err := json.Unmarshal(data, &items); err != nil {
			return err
		}
		in.Items = items
		return nil
	}
	return errInput
}

// Reasoning is the reasoning configuration.
type Reasoning struct {
	// Effort: none, minimal, low, medium, high, xhigh.
	Effort string `json:"effort,omitempty"`
	// Summary: auto, concise, detailed.
	Summary string `json:"summary,omitempty"`
}

// TextConfig is the text configuration (the output format).
type TextConfig struct {
	Format    *TextFormat `json:"format,omitempty"`
	Verbosity string      `json:"verbosity,omitempty"`
}

// TextFormat is text.format: {"type":"text"}, {"type":"json_object"} or
// {"type":"json_schema","name":...,"schema":...,"strict":...}.
type TextFormat struct {
	Type        string          `json:"type"`
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// Tool is one entry of tools: a function tool, a namespace group of tools,
// or a tool of another type (web_search, file_search, custom, mcp, ...)
// kept raw.
type Tool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
	// Tools are the members of a namespace group.
	Tools []Tool `json:"tools,omitempty"`
	// Raw is a tool of another type, as received.
	Raw json.RawMessage `json:"-"`
}

type toolWire Tool

// Tool types this package models; every other one is kept raw.
const (
	ToolFunction  = "function"
	ToolNamespace = "namespace"
)

// UnmarshalJSON decodes a tool, keeping the bytes of one of another type.
func (t *Tool) UnmarshalJSON(data []byte) error {
	var w toolWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*t = Tool(w)
	if t.Type != ToolFunction && t.Type != ToolNamespace {
		*t = Tool{Type: w.Type, Name: w.Name, Raw: append(json.RawMessage(nil), data...)}
	}
	return nil
}

// MarshalJSON encodes a function or namespace tool, or Raw.
func (t Tool) MarshalJSON() ([]byte, error) {
	if t.Type != ToolFunction && t.Type != ToolNamespace && t.Raw != nil {
		return t.Raw, nil
	}
	return json.Marshal(toolWire(t))
}

// ToolChoice is tool_choice: a mode ("none", "auto", "required"),
// {"type":"function","name":...}, or another object form kept raw
// (allowed_tools, a built-in tool, mcp, custom).
type ToolChoice struct {
	// Mode is the string form.
	Mode string
	// Function names the function tool the model must call.
	Function string
	// Raw is any other object form, as received.
	Raw json.RawMessage
}

type toolChoiceObject struct {
	Type string `json:"type"`
	Name string `json:"name,omitempty"`
}

// MarshalJSON encodes the form that is set.
func (c ToolChoice) MarshalJSON() ([]byte, error) {
	switch {
	case c.Function != "":
		return json.Marshal(toolChoiceObject{Type: ToolFunction, Name: c.Function})
	case c.Raw != nil:
		return c.Raw, nil
	}
	return json.Marshal(c.Mode)
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
	if o.Type == ToolFunction && o.Name != "" {
		c.Function = o.Name
		return nil
	}
	c.Raw = append(json.RawMessage(nil), data...)
	return nil
}
