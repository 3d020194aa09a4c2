package responses

import (
	"github.com/copilot-proxy/copilot-proxy/api/openai"
)

// FromChatResponse is the Responses answer to req made of a chat answer:
// per choice (Copilot may split one answer over several), a reasoning item
// when the model's reasoning came back, a message item with the text, and
// a function_call item per tool call (call_id from the tool call's id,
// namespace and name mapped back as names.go says). Item ids derive from
// id (events.go). finish_reason "length" makes the response incomplete
// with reason max_output_tokens ("content_filter": reason content_filter).
// A nil resp gives a completed response with no output.
func FromChatResponse(resp *openai.ChatResponse, req *Request, id string, createdAt int64) *Response {
	r := newResponse(req, id, createdAt, StatusCompleted)
	if resp == nil {
		r.Usage = &Usage{}
		return r
	}
	if r.Model == "" {
		r.Model = resp.Model
	}
	var tools []Tool
	include := false
	if req != nil {
		tools, include = req.Tools, req.Includes(includeEncrypted)
	}
	names := newToolNames(tools)
	finish := ""
	for _, ch := range resp.Choices {
		m := &ch.Message
		if m.ReasoningText != "" || (include && m.ReasoningOpaque != "") {
			r.Output = append(r.Output, reasoningItem(itemID(prefixReasoning, id, len(r.Output)),
				m.ReasoningText, m.ReasoningOpaque, include))
		}
		if text := m.Content.PlainText() + m.Refusal; text != "" {
			r.Output = append(r.Output, messageItem(itemID(prefixMessage, id, len(r.Output)), text, StatusCompleted))
		}
		for _, tc := range m.ToolCalls {
			n := len(r.Output)
			ns, name := names.fromChat(tc.Function.Name)
			r.Output = append(r.Output, callItem(itemID(prefixCall, id, n), callID(tc.ID, id, n), ns, name,
				tc.Function.Arguments, StatusCompleted))
		}
		finish = worseFinish(finish, ch.FinishReason)
	}
	r.Status, r.IncompleteDetails = statusOf(finish)
	if r.Status == StatusIncomplete {
		markLastMessage(r.Output, StatusIncomplete)
	}
	r.Usage = usageFromChat(resp.Usage)
	return r
}

// includeEncrypted is the include value asking for reasoning items'
// encrypted_content (Codex always sends it with store false).
const includeEncrypted = "reasoning.encrypted_content"

// callID is the call's upstream id, or one derived from the response id
// when the upstream sent none.
func callID(upstream, respID string, index int) string {
	if upstream != "" {
		return upstream
	}
	return itemID(prefixCallID, respID, index)
}

// worseFinish keeps the finish reason that says most about the answer
// when choices disagree: a cut-off answer is incomplete whatever else
// happened.
func worseFinish(a, b string) string {
	rank := func(s string) int {
		switch s {
		case "length":
			return 4
		case "content_filter":
			return 3
		case "tool_calls", "function_call":
			return 2
		case "":
			return 0
		}
		return 1
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// statusOf is the response status for a chat finish reason.
func statusOf(finish string) (string, *IncompleteDetails) {
	switch finish {
	case "length":
		return StatusIncomplete, &IncompleteDetails{Reason: ReasonMaxOutputTokens}
	case "content_filter":
		return StatusIncomplete, &IncompleteDetails{Reason: ReasonContentFilter}
	}
	return StatusCompleted, nil
}

func markLastMessage(items []Item, status string) {
	for i := len(items) - 1; i >= 0; i-- {
		if items[i].Type == ItemMessage {
			items[i].Status = status
			return
		}
	}
}

// usageFromChat maps chat usage; a missing usage is zeros (the answer
// still completes). A missing total is the sum.
func usageFromChat(u *openai.Usage) *Usage {
	if u == nil {
		return &Usage{}
	}
	out := &Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
	out.InputTokensDetails.CachedTokens = u.Cached()
	out.OutputTokensDetails.ReasoningTokens = u.Reasoning()
	if out.TotalTokens == 0 {
		out.TotalTokens = out.InputTokens + out.OutputTokens
	}
	return out
}

func messageItem(id, text, status string) Item {
	return Item{Type: ItemMessage, ID: id, Role: "assistant", Status: status,
		Content: PartsContent(ContentPart{Type: PartOutputText, Text: text})}
}

func callItem(id, callID, ns, name, args, status string) Item {
	return Item{Type: ItemFunctionCall, ID: id, CallID: callID, Namespace: ns, Name: name, Arguments: args, Status: status}
}

// reasoningItem carries chat reasoning: the text as its summary, and the
// opaque reasoning state, marked as ours (opaquePrefix), as its
// encrypted_content when the client asked for it, so that ToChat can give
// it back to the model on the next turn.
func reasoningItem(id, text, opaque string, include bool) Item {
	it := Item{Type: ItemReasoning, ID: id, Summary: []SummaryPart{}}
	if text != "" {
		it.Summary = append(it.Summary, SummaryPart{Type: "summary_text", Text: text})
	}
	if include && opaque != "" {
		enc := opaquePrefix + opaque
		it.EncryptedContent = &enc
	}
	return it
}
