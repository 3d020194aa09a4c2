package responses

import (
	"strconv"
	"strings"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/api/openai"
)

// Notes lists what ToChat could not carry over to chat completions, for
// the gateway's log. Each list names a thing once, in order of first
// appearance.
type Notes struct {
	// DroppedTools are tool types the upstream cannot run on chat
	// completions (web_search, file_search, custom, local_shell, mcp, ...).
	DroppedTools []string
	// DroppedItems are input items or parts with no chat equivalent:
	// reasoning items from another API, web_search_call, input_file,
	// images in tool output, ...
	DroppedItems []string
	// DroppedFields are request settings that change the answer and have
	// no chat equivalent (previous_response_id, an object tool_choice
	// other than a function).
	DroppedFields []string
}

// Empty reports whether nothing was dropped.
func (n Notes) Empty() bool {
	return len(n.DroppedTools) == 0 && len(n.DroppedItems) == 0 && len(n.DroppedFields) == 0
}

func addOnce(list *[]string, s string) {
	for _, x := range *list {
		if x == s {
			return
		}
	}
	*list = append(*list, s)
}

// opaquePrefix marks a reasoning item's encrypted_content that the
// translated path made from Copilot's chat reasoning_opaque (see
// StreamFromChat). Only such items can go back to chat: encrypted content
// from the real Responses API means nothing to another endpoint.
const opaquePrefix = "copilot-proxy/chat:"

// ToChat translates a Responses request for a model that Copilot serves
// only on /chat/completions.
//
// instructions and system or developer messages become system messages, in
// order; function_call items become tool_calls of an assistant message
// (consecutive calls, and an assistant text message just before them, make
// one message); function_call_output items become "tool" messages;
// reasoning items are dropped, except those this package made from chat
// reasoning, which go back as reasoning_text/reasoning_opaque. Function
// tools are kept and namespace groups flattened (names.go); built-in tools
// are dropped and listed in Notes. Streams always ask for the usage chunk.
// The error is a 400 *api.Error for an input that cannot be a chat
// conversation (a message of an unknown role).
func ToChat(req *Request) (*openai.ChatRequest, Notes, error) {
	var notes Notes
	if req == nil {
		return nil, notes, api.NewError(api.CodeInvalidRequest, "The request is empty.")
	}
	b := chatBuilder{names: newToolNames(req.Tools), notes: &notes}
	if req.Instructions != "" {
		b.msgs = append(b.msgs, openai.Message{Role: "system", Content: openai.TextContent(req.Instructions)})
	}
	if req.Input.Text != nil {
		b.msgs = append(b.msgs, openai.Message{Role: "user", Content: openai.TextContent(*req.Input.Text)})
	}
	for i := range req.Input.Items {
		if err := b.item(i, &req.Input.Items[i]); err != nil {
			return nil, notes, err
		}
	}
	out := &openai.ChatRequest{Model: req.Model, Messages: b.msgs}
	out.Tools = chatTools(req.Tools, b.names, &notes)
	chatSettings(out, req, b.names, &notes)
	return out, notes, nil
}

// chatBuilder accumulates the chat messages of a Responses input.
type chatBuilder struct {
	names toolNames
	notes *Notes
	msgs  []openai.Message
	// pending is reasoning to attach to the next assistant message.
	pending *openai.Message
}

func (b *chatBuilder) item(i int, it *Item) error {
	switch it.Type {
	case ItemMessage:
		return b.message(i, it)
	case ItemFunctionCall:
		b.functionCall(it)
	case ItemFunctionCallOutput:
		b.functionOutput(it)
	case ItemReasoning:
		b.reasoning(it)
	case "":
		addOnce(&b.notes.DroppedItems, "item without type")
	default:
		addOnce(&b.notes.DroppedItems, it.Type)
	}
	return nil
}

func (b *chatBuilder) message(i int, it *Item) error {
	switch it.Role {
	case "system", "developer":
		if hasNonText(it.Content) {
			addOnce(&b.notes.DroppedItems, "image in a "+it.Role+" message")
		}
		b.msgs = append(b.msgs, openai.Message{Role: "system", Content: openai.TextContent(it.Content.PlainText())})
	case "user":
		b.pending = nil // reasoning belongs to the assistant turn right after it
		b.msgs = append(b.msgs, openai.Message{Role: "user", Content: b.userContent(it.Content)})
	case "assistant":
		b.assistantText(it.Content.PlainText())
	default:
		return api.NewError(api.CodeInvalidRequest, "input["+strconv.Itoa(i)+"] has role \""+api.Clip(it.Role, 40)+
			"\"; expected user, assistant, system or developer.").WithParam("input")
	}
	return nil
}

// assistantText adds an assistant message. Text that follows tool calls
// of the same turn (before their results) joins their message: chat has
// no text after tool calls, and the results must come right after them.
func (b *chatBuilder) assistantText(text string) {
	if text == "" {
		return
	}
	if n := len(b.msgs); n > 0 && b.pending == nil && b.msgs[n-1].Role == "assistant" && len(b.msgs[n-1].ToolCalls) > 0 {
		m := &b.msgs[n-1]
		if prev := m.Content.PlainText(); prev != "" {
			text = prev + "\n\n" + text
		}
		m.Content = openai.TextContent(text)
		return
	}
	b.assistant().Content = openai.TextContent(text)
}

// assistant appends a new assistant message, carrying pending reasoning.
func (b *chatBuilder) assistant() *openai.Message {
	m := openai.Message{Role: "assistant"}
	if b.pending != nil {
		m.ReasoningText, m.ReasoningOpaque = b.pending.ReasoningText, b.pending.ReasoningOpaque
		b.pending = nil
	}
	b.msgs = append(b.msgs, m)
	return &b.msgs[len(b.msgs)-1]
}

func (b *chatBuilder) functionCall(it *Item) {
	args := it.Arguments
	if args == "" {
		args = "{}" // some upstreams refuse an empty arguments text
	}
	tc := openai.ToolCall{ID: it.CallID, Type: "function",
		Function: openai.FunctionCall{Name: b.names.toChat(it.Namespace, it.Name), Arguments: args}}
	var m *openai.Message
	if n := len(b.msgs); n > 0 && b.msgs[n-1].Role == "assistant" && b.pending == nil {
		m = &b.msgs[n-1]
	} else {
		m = b.assistant()
	}
	m.ToolCalls = append(m.ToolCalls, tc)
}

func (b *chatBuilder) functionOutput(it *Item) {
	if hasNonText(it.Output) {
		addOnce(&b.notes.DroppedItems, "non-text function_call_output")
	}
	b.msgs = append(b.msgs, openai.Message{Role: "tool", ToolCallID: it.CallID,
		Content: openai.TextContent(it.Output.PlainText())})
}

func (b *chatBuilder) reasoning(it *Item) {
	if it.EncryptedContent == nil || !strings.HasPrefix(*it.EncryptedContent, opaquePrefix) {
		addOnce(&b.notes.DroppedItems, ItemReasoning)
		return
	}
	var text []string
	for _, s := range it.Summary {
		text = append(text, s.Text)
	}
	b.pending = &openai.Message{ReasoningText: strings.Join(text, "\n\n"),
		ReasoningOpaque: strings.TrimPrefix(*it.EncryptedContent, opaquePrefix)}
}

// userContent converts a user message's content: text and images; other
// parts are dropped and noted. One text part becomes the string form, which
// every chat upstream accepts.
func (b *chatBuilder) userContent(c Content) openai.Content {
	if c.Parts == nil {
		return openai.TextContent(c.PlainText())
	}
	parts := []openai.ContentPart{}
	for _, p := range c.Parts {
		switch {
		case p.Type == PartInputText || p.Type == PartOutputText:
			parts = append(parts, openai.ContentPart{Type: "text", Text: p.Text})
		case p.Type == PartInputImage && p.ImageURL != "":
			parts = append(parts, openai.ContentPart{Type: "image_url",
				ImageURL: &openai.ImageURL{URL: p.ImageURL, Detail: p.Detail}})
		default: // an uploaded file id means nothing to Copilot
			addOnce(&b.notes.DroppedItems, p.Type)
		}
	}
	if len(parts) == 1 && parts[0].Type == "text" {
		return openai.TextContent(parts[0].Text)
	}
	return openai.Content{Parts: parts}
}

// hasNonText reports parts that PlainText leaves out.
func hasNonText(c Content) bool {
	for _, p := range c.Parts {
		if p.Type != PartInputText && p.Type != PartOutputText && p.Type != PartRefusal {
			return true
		}
	}
	return false
}

// emptySchema stands for a function without parameters: some chat
// upstreams require a schema.
var emptySchema = []byte(`{"type":"object","properties":{}}`)

// chatTools keeps the function tools, flattening namespace groups, and
// notes the others.
func chatTools(tools []Tool, names toolNames, notes *Notes) []openai.Tool {
	var out []openai.Tool
	fn := func(ns string, t Tool) {
		params := t.Parameters
		if len(params) == 0 || string(params) == "null" {
			params = emptySchema
		}
		out = append(out, openai.Tool{Type: "function", Function: &openai.FunctionDef{
			Name: names.toChat(ns, t.Name), Description: t.Description, Parameters: params, Strict: t.Strict}})
	}
	for _, t := range tools {
		switch t.Type {
		case ToolFunction:
			fn("", t)
		case ToolNamespace:
			for _, inner := range t.Tools {
				if inner.Type == ToolFunction {
					fn(t.Name, inner)
				} else {
					addOnce(&notes.DroppedTools, inner.Type)
				}
			}
		default:
			addOnce(&notes.DroppedTools, t.Type)
		}
	}
	return out
}

// chatSettings maps the request's settings. tool_choice and
// parallel_tool_calls go only with tools: chat upstreams refuse them alone.
func chatSettings(out *openai.ChatRequest, req *Request, names toolNames, notes *Notes) {
	out.MaxTokens, out.Temperature, out.TopP, out.User = req.MaxOutputTokens, req.Temperature, req.TopP, req.User
	if req.Reasoning != nil {
		out.ReasoningEffort = req.Reasoning.Effort
	}
	if len(out.Tools) > 0 {
		out.ToolChoice = chatToolChoice(req.ToolChoice, names, notes)
		out.ParallelToolCalls = req.ParallelToolCalls
	}
	if req.Text != nil {
		out.ResponseFormat = chatResponseFormat(req.Text.Format)
	}
	if req.Stream {
		out.Stream = true
		out.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	}
	if req.PreviousResponseID != "" {
		addOnce(&notes.DroppedFields, "previous_response_id")
	}
}

func chatToolChoice(c *ToolChoice, names toolNames, notes *Notes) *openai.ToolChoice {
	switch {
	case c == nil:
		return nil
	case c.Function != "":
		return &openai.ToolChoice{Function: names.toChat("", c.Function)}
	case c.Raw != nil:
		addOnce(&notes.DroppedFields, "tool_choice")
		return nil
	case c.Mode == "none" || c.Mode == "auto" || c.Mode == "required":
		return &openai.ToolChoice{Mode: c.Mode}
	}
	return nil
}

func chatResponseFormat(f *TextFormat) *openai.ResponseFormat {
	switch {
	case f == nil:
		return nil
	case f.Type == "json_schema":
		return &openai.ResponseFormat{Type: f.Type, JSONSchema: &openai.JSONSchema{
			Name: f.Name, Description: f.Description, Schema: f.Schema, Strict: f.Strict}}
	case f.Type == "json_object":
		return &openai.ResponseFormat{Type: f.Type}
	}
	return nil
}
