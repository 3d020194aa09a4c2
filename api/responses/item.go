package responses

import (
	"bytes"
	"encoding/json"

	"github.com/copilot-proxy/copilot-proxy/api/openai"
)

// Item types this package models; every other one (item_reference,
// web_search_call, custom_tool_call, local_shell_call, compaction, ...) is
// kept raw.
const (
	ItemMessage            = "message"
	ItemFunctionCall       = "function_call"
	ItemFunctionCallOutput = "function_call_output"
	ItemReasoning          = "reasoning"
)

// Item is one input or output item. Which fields apply depends on Type:
//
//   - message: Role (user, assistant, system, developer), Content, Status;
//   - function_call: CallID, Name, Namespace, Arguments, Status;
//   - function_call_output: CallID, Output;
//   - reasoning: Summary, ReasoningContent, EncryptedContent.
//
// A message given without "type" (the easy input form) decodes with Type
// "message".
type Item struct {
	Type      string
	ID        string
	Status    string
	Role      string
	Content   Content
	CallID    string
	Name      string
	Namespace string
	Arguments string
	// Output is a function_call_output's output: a string or parts
	// (input_text, input_image, input_file).
	Output           Content
	Summary          []SummaryPart
	ReasoningContent []SummaryPart
	// EncryptedContent is nil when absent: a reasoning item must be sent
	// back with it unchanged for the conversation to go on.
	EncryptedContent *string
	// Raw is an item of another type, as received.
	Raw json.RawMessage
}

// SummaryPart is a reasoning item's summary ("summary_text") or content
// ("reasoning_text") part.
type SummaryPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type itemWire struct {
	Type             string          `json:"type"`
	ID               string          `json:"id"`
	Status           string          `json:"status"`
	Role             string          `json:"role"`
	Content          json.RawMessage `json:"content"`
	CallID           string          `json:"call_id"`
	Name             string          `json:"name"`
	Namespace        string          `json:"namespace"`
	Arguments        string          `json:"arguments"`
	Output           json.RawMessage `json:"output"`
	Summary          []SummaryPart   `json:"summary"`
	EncryptedContent *string         `json:"encrypted_content"`
}

// UnmarshalJSON decodes an item of any type, keeping the bytes of one this
// package does not model.
func (it *Item) UnmarshalJSON(data []byte) error {
	var w itemWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	if w.Type == "" && w.Role != "" {
		w.Type = ItemMessage
	}
	*it = Item{Type: w.Type, ID: w.ID, Status: w.Status}
	switch w.Type {
	case ItemMessage:
		it.Role = w.Role
		return decodeOptional(w.Content, &it.Content)
	case ItemFunctionCall:
		it.CallID, it.Name, it.Namespace, it.Arguments = w.CallID, w.Name, w.Namespace, w.Arguments
	case ItemFunctionCallOutput:
		it.CallID = w.CallID
		return it.Output.decodeOutput(w.Output)
	case ItemReasoning:
		it.Summary, it.EncryptedContent = w.Summary, w.EncryptedContent
		return decodeOptional(w.Content, &it.ReasoningContent)
	default:
		it.Raw = append(json.RawMessage(nil), data...)
	}
	return nil
}

// decodeOptional decodes raw into v unless it is absent.
func decodeOptional(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return nil
	}
	return json.Unmarshal(raw, v)
}

type messageWire struct {
	Type    string  `json:"type"`
	ID      string  `json:"id,omitempty"`
	Role    string  `json:"role"`
	Content Content `json:"content"`
	Status  string  `json:"status,omitempty"`
}

type functionCallWire struct {
	Type      string `json:"type"`
	ID        string `json:"id,omitempty"`
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
	Arguments string `json:"arguments"`
	Status    string `json:"status,omitempty"`
}

type functionOutputWire struct {
	Type   string  `json:"type"`
	ID     string  `json:"id,omitempty"`
	CallID string  `json:"call_id"`
	Output Content `json:"output"`
	Status string  `json:"status,omitempty"`
}

type reasoningWire struct {
	Type             string        `json:"type"`
	ID               string        `json:"id,omitempty"`
	Summary          []SummaryPart `json:"summary"`
	Content          []SummaryPart `json:"content,omitempty"`
	EncryptedContent *string       `json:"encrypted_content,omitempty"`
	Status           string        `json:"status,omitempty"`
}

// MarshalJSON encodes the members of the item's type (always those the
// API requires, such as a function call's arguments even when empty), or
// Raw for a type this package does not model.
func (it Item) MarshalJSON() ([]byte, error) {
	switch it.Type {
	case ItemMessage:
		return json.Marshal(messageWire{it.Type, it.ID, it.Role, it.Content, it.Status})
	case ItemFunctionCall:
		return json.Marshal(functionCallWire{it.Type, it.ID, it.CallID, it.Name, it.Namespace, it.Arguments, it.Status})
	case ItemFunctionCallOutput:
		return json.Marshal(functionOutputWire{it.Type, it.ID, it.CallID, it.Output, it.Status})
	case ItemReasoning:
		summary := it.Summary
		if summary == nil {
			summary = []SummaryPart{}
		}
		return json.Marshal(reasoningWire{it.Type, it.ID, summary, it.ReasoningContent, it.EncryptedContent, it.Status})
	}
	if it.Raw != nil {
		return it.Raw, nil
	}
	return json.Marshal(struct {
		Type string `json:"type"`
	}{it.Type})
}

// Content is a message's content (or a function call's output): Text for
// the string form, Parts for the array form, neither for null.
type Content struct {
	Text  *string
	Parts []ContentPart
}

// TextContent is the string form of content.
func TextContent(s string) Content { return Content{Text: &s} }

// PartsContent is the array form of content (never null, even when empty).
func PartsContent(parts ...ContentPart) Content {
	if parts == nil {
		parts = []ContentPart{}
	}
	return Content{Parts: parts}
}

// IsZero reports null content.
func (c Content) IsZero() bool { return c.Text == nil && c.Parts == nil }

// PlainText is the content's text: the string form, or its text parts
// (input_text, output_text, refusal) joined without separator.
func (c Content) PlainText() string {
	if c.Text != nil {
		return *c.Text
	}
	var b []byte
	for _, p := range c.Parts {
		switch p.Type {
		case PartInputText, PartOutputText:
			b = append(b, p.Text...)
		case PartRefusal:
			b = append(b, p.Refusal...)
		}
	}
	return string(b)
}

// MarshalJSON encodes the form that is set, or null.
func (c Content) MarshalJSON() ([]byte, error) { return openai.MarshalTextOrParts(c.Text, c.Parts) }

// UnmarshalJSON accepts a string, an array of parts or null.
func (c *Content) UnmarshalJSON(data []byte) (err error) {
	c.Text, c.Parts, err = openai.UnmarshalTextOrParts[ContentPart](data)
	return err
}

// decodeOutput reads a function_call_output's output. Besides the string
// and parts forms it accepts what older Codex releases sent for a failed
// call, {"content":"...","success":false}, and keeps any other object as
// its JSON text, so a tool's answer is never lost.
func (c *Content) decodeOutput(raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return decodeOptional(raw, c)
	}
	var o struct {
		Content *string `json:"content"`
	}
	if json.Unmarshal(raw, &o) == nil && o.Content != nil {
		*c = TextContent(*o.Content)
		return nil
	}
	*c = TextContent(string(raw))
	return nil
}

// Content part types this package models; others are kept raw.
const (
	PartInputText  = "input_text"
	PartInputImage = "input_image"
	PartOutputText = "output_text"
	PartRefusal    = "refusal"
)

// ContentPart is one part of array content: input_text, output_text
// (Text, Annotations), input_image (ImageURL or FileID, Detail), refusal
// (Refusal); other types (input_file, input_audio) are kept raw.
type ContentPart struct {
	Type        string
	Text        string
	ImageURL    string
	FileID      string
	Detail      string
	Refusal     string
	Annotations []json.RawMessage
	// Raw is a part of another type, as received.
	Raw json.RawMessage
}

type partWire struct {
	Type        string            `json:"type"`
	Text        string            `json:"text"`
	ImageURL    string            `json:"image_url"`
	FileID      string            `json:"file_id"`
	Detail      string            `json:"detail"`
	Refusal     string            `json:"refusal"`
	Annotations []json.RawMessage `json:"annotations"`
}

// UnmarshalJSON decodes a part, keeping the bytes of one of another type.
func (p *ContentPart) UnmarshalJSON(data []byte) error {
	var w partWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*p = ContentPart{Type: w.Type}
	switch w.Type {
	case PartInputText, PartOutputText:
		p.Text, p.Annotations = w.Text, w.Annotations
	case PartInputImage:
		p.ImageURL, p.FileID, p.Detail = w.ImageURL, w.FileID, w.Detail
	case PartRefusal:
		p.Refusal = w.Refusal
	default:
		p.Raw = append(json.RawMessage(nil), data...)
	}
	return nil
}

type inputTextWire struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type outputTextWire struct {
	Type        string            `json:"type"`
	Text        string            `json:"text"`
	Annotations []json.RawMessage `json:"annotations"`
}

type inputImageWire struct {
	Type     string `json:"type"`
	ImageURL string `json:"image_url,omitempty"`
	FileID   string `json:"file_id,omitempty"`
	Detail   string `json:"detail,omitempty"`
}

type refusalWire struct {
	Type    string `json:"type"`
	Refusal string `json:"refusal"`
}

// MarshalJSON encodes the members of the part's type; output_text always
// has annotations (an empty list), as the API sends it.
func (p ContentPart) MarshalJSON() ([]byte, error) {
	switch p.Type {
	case PartInputText:
		return json.Marshal(inputTextWire{p.Type, p.Text})
	case PartOutputText:
		ann := p.Annotations
		if ann == nil {
			ann = []json.RawMessage{}
		}
		return json.Marshal(outputTextWire{p.Type, p.Text, ann})
	case PartInputImage:
		return json.Marshal(inputImageWire{p.Type, p.ImageURL, p.FileID, p.Detail})
	case PartRefusal:
		return json.Marshal(refusalWire{p.Type, p.Refusal})
	}
	if p.Raw != nil {
		return p.Raw, nil
	}
	return json.Marshal(struct {
		Type string `json:"type"`
	}{p.Type})
}
