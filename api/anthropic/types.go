package anthropic

import (
	"bytes"
	"encoding/json"
	"reflect"
)

// Request is the body of POST /v1/messages, and of
// /v1/messages/count_tokens (where max_tokens is optional). Fields the
// gateway never translates (metadata, context_management, ...) are kept raw
// or dropped; unknown fields are tolerated.
type Request struct {
	Model     string `json:"model"`
	MaxTokens int    `json:"max_tokens,omitempty"`
	// System is the system prompt: a string, or text blocks (with
	// cache_control), read into the same Content type as a message.
	System        Content         `json:"system,omitempty"`
	Messages      []MessageParam  `json:"messages"`
	Tools         []Tool          `json:"tools,omitempty"`
	ToolChoice    *ToolChoice     `json:"tool_choice,omitempty"`
	StopSequences []string        `json:"stop_sequences,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	TopK          *int            `json:"top_k,omitempty"`
	Thinking      *Thinking       `json:"thinking,omitempty"`
	Metadata      json.RawMessage `json:"metadata,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
	OutputConfig  *OutputConfig   `json:"output_config,omitempty"`
	// ContextManagement is Claude Code's context-editing config; only the
	// native endpoint can honour it.
	ContextManagement json.RawMessage `json:"context_management,omitempty"`
	ServiceTier       string          `json:"service_tier,omitempty"`
}

// Roles of a MessageParam. RoleSystem is not in Anthropic's schema, but
// Claude Code sometimes sends it inside messages.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleSystem    = "system"
)

// MessageParam is one turn of Request.Messages.
type MessageParam struct {
	Role    string  `json:"role"`
	Content Content `json:"content"`
}

// Block types.
const (
	BlockText             = "text"
	BlockImage            = "image"
	BlockDocument         = "document"
	BlockToolUse          = "tool_use"
	BlockToolResult       = "tool_result"
	BlockThinking         = "thinking"
	BlockRedactedThinking = "redacted_thinking"
)

// Content is a list of content blocks. It reads each JSON form Anthropic
// uses: a string (one text block), an array of blocks, or, as some block
// kinds nest it (a web search error), a single block object; null is
// empty.
type Content []Block

// UnmarshalJSON reads a string, an array of blocks or one block.
func (c *Content) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*c = nil
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*c = Content{{Type: BlockText, Text: s}}
		return nil
	case b[0] == '{':
		var one Block
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*c = Content{one}
		return nil
	case b[0] == '[':
		var blocks []Block
		if err := json.Unmarshal(b, &blocks); err != nil {
			return err
		}
		*c = blocks
		return nil
	}
	return &json.UnmarshalTypeError{Value: jsonValueKind(b), Type: contentType}
}

var contentType = reflect.TypeFor[Content]()

// jsonValueKind names the kind of a JSON scalar for an error message.
func jsonValueKind(b []byte) string {
	if b[0] == 't' || b[0] == 'f' {
		return "bool"
	}
	return "number"
}

// Block is one content block, all kinds in one flat struct: Type says which
// fields are meaningful.
//
//	text               Text (CacheControl, Citations)
//	image              Source (base64 media_type+data, url, file)
//	document           Source (base64 PDF, text, content, url), Title
//	tool_use           ID, Name, Input
//	tool_result        ToolUseID, Content (string or blocks), IsError
//	thinking           Thinking, Signature
//	redacted_thinking  Data
type Block struct {
	Type         string          `json:"type"`
	Text         string          `json:"text,omitempty"`
	Source       *Source         `json:"source,omitempty"`
	ID           string          `json:"id,omitempty"`
	Name         string          `json:"name,omitempty"`
	Input        json.RawMessage `json:"input,omitempty"`
	ToolUseID    string          `json:"tool_use_id,omitempty"`
	Content      Content         `json:"content,omitempty"`
	IsError      bool            `json:"is_error,omitempty"`
	Thinking     string          `json:"thinking,omitempty"`
	Signature    string          `json:"signature,omitempty"`
	Data         string          `json:"data,omitempty"`
	Title        string          `json:"title,omitempty"`
	Citations    json.RawMessage `json:"citations,omitempty"`
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

// MarshalJSON writes the fields of the block's type as Anthropic sends them:
// a text block always has "text", a tool_use block always has an "input"
// object, a thinking block always has "thinking" and "signature".
func (b Block) MarshalJSON() ([]byte, error) {
	switch b.Type {
	case BlockText:
		return marshal(struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}{b.Type, b.Text})
	case BlockToolUse:
		input := b.Input
		if len(bytes.TrimSpace(input)) == 0 {
			input = json.RawMessage("{}")
		}
		return marshal(struct {
			Type  string          `json:"type"`
			ID    string          `json:"id"`
			Name  string          `json:"name"`
			Input json.RawMessage `json:"input"`
		}{b.Type, b.ID, b.Name, input})
	case BlockThinking:
		return marshal(struct {
			Type      string `json:"type"`
			Thinking  string `json:"thinking"`
			Signature string `json:"signature"`
		}{b.Type, b.Thinking, b.Signature})
	}
	type plain Block // no MarshalJSON: the generic omitempty form
	return marshal(plain(b))
}

// Source is the source of an image or document block. A search_result
// block's source is a plain string (where the result came from): it reads
// as a Source with only Ref set.
type Source struct {
	// Type is "base64", "url", "file", "text" (document) or "content"
	// (document made of blocks).
	Type      string  `json:"type,omitempty"`
	MediaType string  `json:"media_type,omitempty"`
	Data      string  `json:"data,omitempty"`
	URL       string  `json:"url,omitempty"`
	FileID    string  `json:"file_id,omitempty"`
	Content   Content `json:"content,omitempty"`
	// Ref is the string form of a source.
	Ref string `json:"-"`
}

type sourceWire Source

// UnmarshalJSON reads the object form, or the string form into Ref.
func (s *Source) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		*s = Source{}
		return json.Unmarshal(b, &s.Ref)
	}
	return json.Unmarshal(b, (*sourceWire)(s))
}

// MarshalJSON writes the form that was read.
func (s Source) MarshalJSON() ([]byte, error) {
	if s.Ref != "" && s.Type == "" {
		return marshal(s.Ref)
	}
	return marshal(sourceWire(s))
}

// Tool is a tool definition. A client ("custom") tool has no type, or type
// "custom", and an input_schema; any other type is an Anthropic-defined
// tool (web_search_20250305, bash_20250124, ...) with its own fields.
type Tool struct {
	Type         string          `json:"type,omitempty"`
	Name         string          `json:"name"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"input_schema,omitempty"`
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
	Strict       *bool           `json:"strict,omitempty"`
}

// IsCustom reports whether t is a client tool defined by its input_schema,
// the only kind a chat-completions upstream can be given.
func (t Tool) IsCustom() bool { return t.Type == "" || t.Type == "custom" }

// Tool choice types.
const (
	ToolChoiceAuto = "auto"
	ToolChoiceAny  = "any"
	ToolChoiceTool = "tool"
	ToolChoiceNone = "none"
)

// ToolChoice is how the model may use the tools.
type ToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

// Thinking types.
const (
	ThinkingEnabled  = "enabled"
	ThinkingDisabled = "disabled"
	ThinkingAdaptive = "adaptive"
)

// Thinking is extended-thinking configuration.
type Thinking struct {
	Type         string `json:"type"`
	BudgetTokens int    `json:"budget_tokens,omitempty"`
	Display      string `json:"display,omitempty"`
}

// OutputConfig is the output_config object: effort ("low", "medium",
// "high", "xhigh", "max") and a structured-output format.
type OutputConfig struct {
	Effort string          `json:"effort,omitempty"`
	Format json.RawMessage `json:"format,omitempty"`
}

// Stop reasons of a Message.
const (
	StopEndTurn      = "end_turn"
	StopMaxTokens    = "max_tokens"
	StopStopSequence = "stop_sequence"
	StopToolUse      = "tool_use"
	StopPauseTurn    = "pause_turn"
	StopRefusal      = "refusal"
)

// Message is the response of POST /v1/messages (type "message").
type Message struct {
	ID           string  `json:"id"`
	Type         string  `json:"type"`
	Role         string  `json:"role"`
	Model        string  `json:"model"`
	Content      []Block `json:"content"`
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
	Usage        Usage   `json:"usage"`
}

// Usage is the token count of a Message. InputTokens excludes the tokens
// read from or written to the prompt cache, which have their own fields.
type Usage struct {
	InputTokens              int64 `json:"input_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
}
