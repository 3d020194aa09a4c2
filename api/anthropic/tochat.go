package anthropic

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/api/openai"
)

// Notes lists what ToChat could not carry over to chat completions, for
// the gateway's log, each thing once, in order of first appearance:
//
//	"dropped tool: web_search (web_search_20250305)"  an Anthropic-defined tool
//	"dropped item: thinking"                          a content block type
//	"dropped item: document (PDF)"                    ... or its kind
//	"dropped field: top_k"                            a request setting
//
// Expected, silent losses (cache_control, metadata, context_management) are
// not listed.
type Notes []string

// Empty reports whether nothing was dropped.
func (n Notes) Empty() bool { return len(n) == 0 }

// Kinds of Notes entries.
const (
	noteTool  = "dropped tool: "
	noteItem  = "dropped item: "
	noteField = "dropped field: "
)

func (n *Notes) add(kind, what string) {
	if s := kind + what; !slices.Contains(*n, s) {
		*n = append(*n, s)
	}
}

// maxStop is the most stop sequences chat completions accepts.
const maxStop = 4

// ToChat converts a Messages request to the chat-completions pivot:
//
//   - system (string or blocks) becomes a first system message, and each
//     role "system" message inside messages a system message in its place;
//     text blocks are joined with a blank line;
//   - a user turn's tool_result blocks become role "tool" messages placed
//     before the rest of the turn (their text; "Error: " in front when
//     is_error; their images move to the user message that follows);
//   - text and image blocks become parts (a base64 image a data: URL); a
//     lone text block is string content;
//   - an assistant turn's tool_use blocks become tool_calls (input as the
//     arguments JSON), its text blocks the content;
//   - thinking and redacted_thinking blocks are dropped: their signatures
//     are only valid for the model that made them; cache_control, metadata
//     and context_management are dropped; PDFs and file ids are dropped
//     (noted), text documents become text;
//   - client tools become function tools (input_schema as parameters);
//     Anthropic-defined tools (a "type" such as web_search_20250305) are
//     dropped (noted); tool_choice auto -> "auto", any -> "required", tool
//     -> the named function, none -> "none", disable_parallel_tool_use ->
//     parallel_tool_calls false;
//   - max_tokens, stop_sequences (the first four) as stop, temperature and
//     top_p carry over; top_k is dropped (noted); ReasoningEffort becomes
//     reasoning_effort for the OpenAI reasoning models (gpt-5*, o1, o3, o4)
//     and is otherwise dropped (noted);
//   - stream sets stream_options.include_usage, for the usage that
//     StreamFromChat needs.
//
// The model is req.Model unchanged: map it with CanonicalModel before the
// call (reasoning_effort is decided on it). The error, an *api.Error, is a
// request nothing of which can be sent.
func ToChat(req *Request) (*openai.ChatRequest, Notes, error) {
	if req == nil {
		return nil, nil, api.NewError(api.CodeInvalidRequest, "empty request")
	}
	var notes Notes
	out := &openai.ChatRequest{Model: req.Model, Stream: req.Stream}
	if text := joinText(req.System); text != "" {
		out.Messages = append(out.Messages, openai.Message{Role: RoleSystem, Content: openai.TextContent(text)})
	}
	for _, m := range req.Messages {
		out.Messages = append(out.Messages, chatMessages(m, &notes)...)
	}
	if len(out.Messages) == 0 {
		return nil, notes, invalid("messages", "no message has content that can be sent")
	}
	chatTools(req, out, &notes)
	chatOptions(req, out, &notes)
	if req.Stream {
		out.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	}
	return out, notes, nil
}

// chatMessages converts one turn to zero or more chat messages.
func chatMessages(m MessageParam, notes *Notes) []openai.Message {
	switch m.Role {
	case RoleSystem:
		if text := joinText(m.Content); text != "" {
			return []openai.Message{{Role: RoleSystem, Content: openai.TextContent(text)}}
		}
		return nil
	case RoleAssistant:
		return assistantMessage(m.Content, notes)
	}
	return userMessages(m.Content, notes)
}

// userMessages converts a user turn: tool messages first, then the rest.
func userMessages(blocks Content, notes *Notes) []openai.Message {
	var out []openai.Message
	var parts []openai.ContentPart
	for _, b := range blocks {
		switch b.Type {
		case BlockToolResult:
			msg, images := toolResult(b, notes)
			out = append(out, msg)
			parts = append(parts, images...)
		default:
			parts = append(parts, userParts(b, notes)...)
		}
	}
	if len(parts) > 0 {
		out = append(out, openai.Message{Role: RoleUser, Content: partsContent(parts)})
	}
	return out
}

// userParts converts one non-tool-result block of a user turn.
func userParts(b Block, notes *Notes) []openai.ContentPart {
	switch b.Type {
	case BlockText:
		if b.Text != "" {
			return []openai.ContentPart{textPart(b.Text)}
		}
	case BlockImage:
		if p, ok := imagePart(b.Source, notes); ok {
			return []openai.ContentPart{p}
		}
	case BlockDocument:
		if text := documentText(b, notes); text != "" {
			return []openai.ContentPart{textPart(text)}
		}
	default: // thinking, redacted_thinking, search_result, ...
		notes.add(noteItem, b.Type)
	}
	return nil
}

// toolResult converts a tool_result block to a tool message and the image
// parts it carried (a tool message can hold only text).
func toolResult(b Block, notes *Notes) (openai.Message, []openai.ContentPart) {
	var texts []string
	var images []openai.ContentPart
	for _, c := range b.Content {
		switch c.Type {
		case BlockText:
			texts = append(texts, c.Text)
		case BlockImage:
			if p, ok := imagePart(c.Source, notes); ok {
				images = append(images, p)
			}
		case BlockDocument:
			texts = append(texts, documentText(c, notes))
		default:
			notes.add(noteItem, c.Type)
		}
	}
	text := strings.Join(texts, "\n")
	if len(images) > 0 {
		images = append([]openai.ContentPart{textPart("Image(s) returned by tool call " + b.ToolUseID + ":")}, images...)
		if text == "" {
			text = "(the tool returned image content, attached to the next user message)"
		}
	}
	if b.IsError {
		text = "Error: " + text
	}
	return openai.Message{Role: "tool", ToolCallID: b.ToolUseID, Content: openai.TextContent(text)}, images
}

// assistantMessage converts an assistant turn; one with nothing left after
// dropping thinking is omitted.
func assistantMessage(blocks Content, notes *Notes) []openai.Message {
	msg := openai.Message{Role: RoleAssistant}
	var texts []string
	for _, b := range blocks {
		switch b.Type {
		case BlockText:
			if b.Text != "" {
				texts = append(texts, b.Text)
			}
		case BlockToolUse:
			msg.ToolCalls = append(msg.ToolCalls, openai.ToolCall{ID: b.ID, Type: "function",
				Function: openai.FunctionCall{Name: b.Name, Arguments: toolArguments(b.Input)}})
		default: // thinking, redacted_thinking, server tool blocks, ...
			notes.add(noteItem, b.Type)
		}
	}
	if len(texts) > 0 {
		msg.Content = openai.TextContent(strings.Join(texts, "\n\n"))
	}
	if msg.Content.IsZero() && len(msg.ToolCalls) == 0 {
		return nil
	}
	return []openai.Message{msg}
}

// toolArguments is a tool_use input as chat arguments: compact JSON, "{}"
// for none.
func toolArguments(input json.RawMessage) string {
	if s := compactJSON(input); s != "" && s != "null" {
		return s
	}
	return "{}"
}

func textPart(s string) openai.ContentPart {
	return openai.ContentPart{Type: "text", Text: s}
}

// partsContent is string content for one text part, parts otherwise.
func partsContent(parts []openai.ContentPart) openai.Content {
	if len(parts) == 1 && parts[0].Type == "text" {
		return openai.TextContent(parts[0].Text)
	}
	return openai.Content{Parts: parts}
}

// imagePart converts an image source: base64 to a data: URL, a URL as is.
// A file id cannot be resolved here.
func imagePart(src *Source, notes *Notes) (openai.ContentPart, bool) {
	var url string
	switch {
	case src == nil:
	case src.Type == "base64" && src.Data != "":
		url = "data:" + src.MediaType + ";base64," + src.Data
	case src.Type == "url" && src.URL != "":
		url = src.URL
	}
	if url == "" {
		notes.add(noteItem, "image ("+sourceType(src)+")")
		return openai.ContentPart{}, false
	}
	return openai.ContentPart{Type: "image_url", ImageURL: &openai.ImageURL{URL: url}}, true
}

// documentText is a text document's text (with its title); a PDF or other
// binary document cannot be sent as chat content.
func documentText(b Block, notes *Notes) string {
	var text string
	switch {
	case b.Source == nil:
	case b.Source.Type == "text":
		text = b.Source.Data
	case b.Source.Type == "content":
		text = joinText(b.Source.Content)
	default:
		notes.add(noteItem, "document ("+documentKind(b.Source)+")")
		return ""
	}
	if b.Title != "" && text != "" {
		text = b.Title + "\n\n" + text
	}
	return text
}

// joinText joins the text blocks of a content list with a blank line.
func joinText(blocks Content) string {
	var texts []string
	for _, b := range blocks {
		if b.Type == BlockText && b.Text != "" {
			texts = append(texts, b.Text)
		}
	}
	return strings.Join(texts, "\n\n")
}

// sourceType names an image source the chat request cannot carry.
func sourceType(src *Source) string {
	if src == nil || src.Type == "" {
		return "no source"
	}
	return src.Type
}

// documentKind names a document the chat request cannot carry.
func documentKind(src *Source) string {
	if src.MediaType == "application/pdf" || src.Type == "base64" {
		return "PDF"
	}
	return src.Type
}
