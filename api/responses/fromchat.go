package responses

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/api/openai"
)

// minOutputTokens is the smallest max_output_tokens the Responses API
// takes: a chat client's smaller max_tokens (health checks send 1) is
// raised to it rather than refused.
const minOutputTokens = 16

// responsesOpaquePrefix marks a chat reasoning_opaque that StreamToChat or
// ToChatResponse made from a Responses reasoning item (id and
// encrypted_content); only those go back to /responses.
const responsesOpaquePrefix = "copilot-proxy/responses:"

// FromChat translates a chat-completions request for a model that Copilot
// serves only on /responses. Leading system (or developer) messages become
// instructions, later ones developer messages; user and assistant text and
// images become message items, assistant tool_calls function_call items,
// tool messages function_call_output items. Function tools keep their
// names (strict false unless the client set it: chat schemas are written
// for non-strict use). store is false and reasoning.encrypted_content is
// included, as the editor does, since nothing is stored upstream. stop,
// logprobs and the other chat-only settings are not carried. The error is
// a 400 *api.Error for what /responses cannot take (n > 1, audio, a
// non-function tool, an unknown role).
func FromChat(req *openai.ChatRequest) (*Request, error) {
	if req == nil {
		return nil, api.NewError(api.CodeInvalidRequest, "The request is empty.")
	}
	if req.N != nil && *req.N > 1 {
		return nil, api.NewError(api.CodeInvalidRequest, "\"n\" greater than 1 is not supported for this model.").WithParam("n")
	}
	no := false
	out := &Request{Model: req.Model, Stream: req.Stream, Store: &no, Include: []string{includeEncrypted},
		Temperature: req.Temperature, TopP: req.TopP, User: req.User, ParallelToolCalls: req.ParallelToolCalls}
	items, instructions, err := responsesInput(req.Messages)
	if err != nil {
		return nil, err
	}
	out.Input, out.Instructions = Input{Items: items}, instructions
	if out.Tools, err = responsesTools(req.Tools); err != nil {
		return nil, err
	}
	out.ToolChoice = responsesToolChoice(req.ToolChoice)
	if limit := firstSet(req.MaxCompletionTokens, req.MaxTokens); limit != nil {
		v := max(*limit, minOutputTokens)
		out.MaxOutputTokens = &v
	}
	if req.ReasoningEffort != "" {
		out.Reasoning = &Reasoning{Effort: req.ReasoningEffort}
	}
	out.Text = responsesText(req.ResponseFormat)
	return out, nil
}

func firstSet(a, b *int64) *int64 {
	if a != nil {
		return a
	}
	return b
}

func roleError(i int, role string) error {
	return api.NewError(api.CodeInvalidRequest, "messages["+strconv.Itoa(i)+"] has role \""+api.Clip(role, 40)+
		"\"; expected system, developer, user, assistant or tool.").WithParam("messages")
}

// responsesInput converts the messages; the leading system messages are
// returned joined as instructions.
func responsesInput(msgs []openai.Message) ([]Item, string, error) {
	items := []Item{}
	var instructions []string
	for i := range msgs {
		m := &msgs[i]
		switch m.Role {
		case "system", "developer":
			if len(items) == 0 {
				instructions = append(instructions, m.Content.PlainText())
				continue
			}
			items = append(items, Item{Type: ItemMessage, Role: "developer", Content: TextContent(m.Content.PlainText())})
		case "user":
			c, err := responsesUserContent(i, m.Content)
			if err != nil {
				return nil, "", err
			}
			items = append(items, Item{Type: ItemMessage, Role: "user", Content: c})
		case "assistant":
			items = append(items, assistantItems(m)...)
		case "tool":
			items = append(items, Item{Type: ItemFunctionCallOutput, CallID: m.ToolCallID,
				Output: TextContent(m.Content.PlainText())})
		default:
			return nil, "", roleError(i, m.Role)
		}
	}
	return items, strings.Join(instructions, "\n\n"), nil
}

// assistantItems: the reasoning that came with the message (when it came
// from /responses), its text, then its tool calls.
func assistantItems(m *openai.Message) []Item {
	var items []Item
	if it, ok := reasoningFromOpaque(m.ReasoningText, m.ReasoningOpaque); ok {
		items = append(items, it)
	}
	if text := m.Content.PlainText(); text != "" {
		items = append(items, Item{Type: ItemMessage, Role: "assistant",
			Content: PartsContent(ContentPart{Type: PartOutputText, Text: text})})
	}
	for _, tc := range m.ToolCalls {
		items = append(items, Item{Type: ItemFunctionCall, CallID: tc.ID, Name: tc.Function.Name,
			Arguments: tc.Function.Arguments})
	}
	return items
}

// reasoningFromOpaque rebuilds a reasoning item from a reasoning_opaque
// this package made (responsesOpaque); any other opaque state belongs to
// another API and is left out.
func reasoningFromOpaque(text, opaque string) (Item, bool) {
	rest, ok := strings.CutPrefix(opaque, responsesOpaquePrefix)
	if !ok {
		return Item{}, false
	}
	id, enc, ok := strings.Cut(rest, ":")
	if !ok || enc == "" {
		return Item{}, false
	}
	it := Item{Type: ItemReasoning, ID: id, Summary: []SummaryPart{}, EncryptedContent: &enc}
	if text != "" {
		it.Summary = append(it.Summary, SummaryPart{Type: "summary_text", Text: text})
	}
	return it, true
}

// responsesOpaque is the chat reasoning_opaque for a reasoning item with
// encrypted content ("" for one without).
func responsesOpaque(it *Item) string {
	if it.EncryptedContent == nil || *it.EncryptedContent == "" {
		return ""
	}
	return responsesOpaquePrefix + it.ID + ":" + *it.EncryptedContent
}

func responsesUserContent(i int, c openai.Content) (Content, error) {
	if c.Parts == nil {
		return TextContent(c.PlainText()), nil
	}
	parts := []ContentPart{}
	for _, p := range c.Parts {
		switch p.Type {
		case "text":
			parts = append(parts, ContentPart{Type: PartInputText, Text: p.Text})
		case "image_url":
			img := ContentPart{Type: PartInputImage, Detail: "auto"}
			if p.ImageURL != nil {
				img.ImageURL = p.ImageURL.URL
				if p.ImageURL.Detail != "" {
					img.Detail = p.ImageURL.Detail
				}
			}
			parts = append(parts, img)
		case "file":
			parts = append(parts, inputFile(p.Raw))
		default:
			return Content{}, api.NewError(api.CodeInvalidRequest, "messages["+strconv.Itoa(i)+
				"] has a content part of type \""+api.Clip(p.Type, 40)+"\", which this model does not take.").WithParam("messages")
		}
	}
	return PartsContent(parts...), nil
}

// inputFile maps a chat file part, {"type":"file","file":{...}}, to an
// input_file part, whose members are the same but not nested.
func inputFile(raw json.RawMessage) ContentPart {
	var w struct {
		File map[string]json.RawMessage `json:"file"`
	}
	_ = json.Unmarshal(raw, &w)
	if w.File == nil {
		w.File = map[string]json.RawMessage{}
	}
	w.File["type"] = json.RawMessage(`"input_file"`)
	b, _ := json.Marshal(w.File)
	return ContentPart{Type: "input_file", Raw: b}
}

func responsesTools(tools []openai.Tool) ([]Tool, error) {
	var out []Tool
	for i, t := range tools {
		if t.Type != "function" || t.Function == nil {
			return nil, api.NewError(api.CodeInvalidRequest, "tools["+strconv.Itoa(i)+"] has type \""+api.Clip(t.Type, 40)+
				"\"; this model takes function tools only.").WithParam("tools")
		}
		strict := t.Function.Strict
		if strict == nil {
			no := false
			strict = &no
		}
		out = append(out, Tool{Type: ToolFunction, Name: t.Function.Name, Description: t.Function.Description,
			Parameters: t.Function.Parameters, Strict: strict})
	}
	return out, nil
}

func responsesToolChoice(c *openai.ToolChoice) *ToolChoice {
	switch {
	case c == nil:
		return nil
	case c.Function != "":
		return &ToolChoice{Function: c.Function}
	case c.Raw != nil:
		return &ToolChoice{Raw: c.Raw} // allowed_tools has the same shape in both APIs
	}
	return &ToolChoice{Mode: c.Mode}
}

func responsesText(f *openai.ResponseFormat) *TextConfig {
	switch {
	case f == nil:
		return nil
	case f.Type == "json_schema" && f.JSONSchema != nil:
		s := f.JSONSchema
		return &TextConfig{Format: &TextFormat{Type: f.Type, Name: s.Name, Description: s.Description,
			Schema: s.Schema, Strict: s.Strict}}
	case f.Type == "json_object" || f.Type == "text":
		return &TextConfig{Format: &TextFormat{Type: f.Type}}
	}
	return nil
}

// ToChatResponse is the chat answer made of a Responses answer: the
// message items' text as content, function_call items as tool_calls,
// reasoning summaries as reasoning_text (with the encrypted reasoning as
// reasoning_opaque, so FromChat can send it back), finish_reason
// tool_calls, length (incomplete for max_output_tokens), content_filter or
// stop, and the usage.
func ToChatResponse(resp *Response) *openai.ChatResponse {
	if resp == nil {
		resp = &Response{}
	}
	m := openai.Message{Role: "assistant"}
	var text, reasoning strings.Builder
	for i := range resp.Output {
		it := &resp.Output[i]
		switch it.Type {
		case ItemMessage:
			text.WriteString(it.Content.PlainText())
		case ItemFunctionCall:
			m.ToolCalls = append(m.ToolCalls, openai.ToolCall{ID: it.CallID, Type: "function",
				Function: openai.FunctionCall{Name: chatCallName(it.Namespace, it.Name), Arguments: it.Arguments}})
		case ItemReasoning:
			appendSummary(&reasoning, it.Summary)
			if o := responsesOpaque(it); o != "" {
				m.ReasoningOpaque = o
			}
		}
	}
	if text.Len() > 0 || len(m.ToolCalls) == 0 {
		m.Content = openai.TextContent(text.String())
	}
	m.ReasoningText = reasoning.String()
	return &openai.ChatResponse{ID: resp.ID, Object: "chat.completion", Created: resp.CreatedAt, Model: resp.Model,
		Choices: []openai.Choice{{Index: 0, Message: m, FinishReason: chatFinish(resp, len(m.ToolCalls) > 0)}},
		Usage:   chatUsage(resp.Usage)}
}

func appendSummary(b *strings.Builder, parts []SummaryPart) {
	for _, p := range parts {
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(p.Text)
	}
}

// chatCallName is the chat name of a call: a namespaced call (which a chat
// client's plain function tools never produce) is flattened as ToChat does.
func chatCallName(ns, name string) string {
	if ns == "" {
		return name
	}
	return flatName(qualName{ns, name})
}

func chatFinish(resp *Response, calls bool) string {
	if resp.Status == StatusIncomplete && resp.IncompleteDetails != nil {
		switch resp.IncompleteDetails.Reason {
		case ReasonMaxOutputTokens:
			return "length"
		case ReasonContentFilter:
			return "content_filter"
		}
	}
	if calls {
		return "tool_calls"
	}
	return "stop"
}

func chatUsage(u *Usage) *openai.Usage {
	if u == nil {
		return nil
	}
	total := u.TotalTokens
	if total == 0 {
		total = u.InputTokens + u.OutputTokens
	}
	return &openai.Usage{PromptTokens: u.InputTokens, CompletionTokens: u.OutputTokens, TotalTokens: total,
		PromptTokensDetails:     &openai.PromptTokensDetails{CachedTokens: u.InputTokensDetails.CachedTokens},
		CompletionTokensDetails: &openai.CompletionTokensDetails{ReasoningTokens: u.OutputTokensDetails.ReasoningTokens}}
}
