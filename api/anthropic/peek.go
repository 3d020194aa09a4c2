package anthropic

import (
	"bytes"
	"encoding/json"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// Peek is what the native passthrough needs from a Messages body, which it
// forwards untouched: routing (model, stream), admission (max_tokens) and
// the upstream headers (X-Initiator, Copilot-Vision-Request).
type Peek struct {
	Model     string
	Stream    bool
	MaxTokens int // 0 when absent
	// LastRole is the role of the last message ("" when there is none).
	LastRole string
	// LastHasToolResult: the last message carries tool_result blocks, so it
	// is the agent loop going on, not a person typing.
	LastHasToolResult bool
	// HasImage: some message (or tool result) has an image block.
	HasImage bool
}

// Initiator is the X-Initiator value: "user" when the last message is a
// user turn that returns no tool results, "agent" otherwise. A user turn of
// tool results is what the chat pivot sends as role "tool" messages, so both
// paths bill the same turn the same way.
func (p Peek) Initiator() string {
	if p.LastRole == RoleUser && !p.LastHasToolResult {
		return "user"
	}
	return "agent"
}

// PeekRequest reads the Peek fields of a Messages body, validating only what
// the gateway acts on: a JSON object with exact top-level keys (see
// requestFields), a non-empty string model, a boolean stream and, when
// present, a positive integer max_tokens. max_tokens is not required (the
// upstream says so), and messages that are not an array are left for the
// upstream to refuse.
func PeekRequest(body []byte) (Peek, *api.Error) {
	var p Peek
	top, e := topLevel(body)
	if e != nil {
		return p, e
	}
	if e := checkScalars(top, false); e != nil {
		return p, e
	}
	p.Model, _ = rawString(top["model"])
	p.Stream = string(top["stream"]) == "true"
	if mt, ok := top["max_tokens"]; ok {
		_ = json.Unmarshal(mt, &p.MaxTokens)
	}
	p.readMessages(top["messages"])
	return p, nil
}

type peekMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type peekBlock struct {
	Type    string          `json:"type"`
	Content json.RawMessage `json:"content"`
}

var imageType = []byte(`"image"`)

// readMessages sets LastRole, LastHasToolResult and HasImage. Only the last
// message, and messages that mention "image", are decoded.
func (p *Peek) readMessages(raw json.RawMessage) {
	if len(raw) == 0 || raw[0] != '[' {
		return
	}
	var last []byte
	arrayElements(raw, func(elem []byte) {
		last = elem
		if !p.HasImage && bytes.Contains(elem, imageType) {
			var m peekMessage
			p.HasImage = json.Unmarshal(elem, &m) == nil && hasImage(peekBlocks(m.Content))
		}
	})
	var m peekMessage
	if last == nil || json.Unmarshal(last, &m) != nil {
		return
	}
	p.LastRole = m.Role
	for _, b := range peekBlocks(m.Content) {
		if b.Type == BlockToolResult {
			p.LastHasToolResult = true
		}
	}
}

func hasImage(blocks []peekBlock) bool {
	for _, b := range blocks {
		if b.Type == BlockImage {
			return true
		}
		if b.Type == BlockToolResult && hasImage(peekBlocks(b.Content)) {
			return true
		}
	}
	return false
}

// peekBlocks decodes a content value's block types; a string or anything
// else that is not an array of blocks has none.
func peekBlocks(raw json.RawMessage) []peekBlock {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '[' {
		return nil
	}
	var blocks []peekBlock
	_ = json.Unmarshal(raw, &blocks)
	return blocks
}
