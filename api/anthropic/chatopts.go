package anthropic

import (
	"encoding/json"
	"strings"

	"github.com/copilot-proxy/copilot-proxy/api/openai"
)

// emptySchema is the parameters of a tool defined without input_schema.
var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// chatTools converts the tools and tool_choice. Client tools become
// function tools with input_schema as parameters; Anthropic-defined tools
// (a "type" such as web_search_20250305) are dropped with a note, since the
// chat upstream cannot run them. tool_choice maps auto -> "auto", any ->
// "required", tool -> the named function, none -> "none", and
// disable_parallel_tool_use -> parallel_tool_calls false; without tools left
// it is dropped.
func chatTools(req *Request, out *openai.ChatRequest, notes *Notes) {
	for _, t := range req.Tools {
		if !t.IsCustom() {
			notes.add(noteTool, t.Name+" ("+t.Type+")")
			continue
		}
		params := t.InputSchema
		if len(params) == 0 || isNull(params) {
			params = emptySchema
		}
		if t.Strict != nil && *t.Strict {
			notes.add(noteField, "strict")
		}
		out.Tools = append(out.Tools, openai.Tool{Type: "function",
			Function: &openai.FunctionDef{Name: t.Name, Description: t.Description, Parameters: params}})
	}
	tc := req.ToolChoice
	if tc == nil || len(out.Tools) == 0 {
		return
	}
	switch tc.Type {
	case ToolChoiceAny:
		out.ToolChoice = &openai.ToolChoice{Mode: "required"}
	case ToolChoiceTool:
		out.ToolChoice = &openai.ToolChoice{Function: tc.Name}
	case ToolChoiceNone:
		out.ToolChoice = &openai.ToolChoice{Mode: "none"}
	default:
		out.ToolChoice = &openai.ToolChoice{Mode: "auto"}
	}
	if tc.DisableParallelToolUse {
		no := false
		out.ParallelToolCalls = &no
	}
}

// chatOptions converts max_tokens, stop_sequences (at most four),
// temperature, top_p and the reasoning effort; top_k has no chat
// equivalent.
func chatOptions(req *Request, out *openai.ChatRequest, notes *Notes) {
	if req.MaxTokens > 0 {
		n := int64(req.MaxTokens)
		out.MaxTokens = &n
	}
	if seqs := req.StopSequences; len(seqs) > 0 {
		if len(seqs) > maxStop {
			notes.add(noteField, "stop_sequences[4:]")
			seqs = seqs[:maxStop]
		}
		out.Stop = openai.Stop(seqs)
	}
	out.Temperature, out.TopP = req.Temperature, req.TopP
	if req.TopK != nil {
		notes.add(noteField, "top_k")
	}
	effort := ReasoningEffort(req)
	switch {
	case effort == "":
	case takesReasoningEffort(req.Model):
		out.ReasoningEffort = effort
	default:
		notes.add(noteField, "reasoning_effort")
	}
}

// Thinking budgets at which the reasoning effort steps up: Claude Code asks
// 4,000 ("think"), 10,000 ("think hard") and 31,999 ("ultrathink").
const (
	budgetMedium = 8192
	budgetHigh   = 24576
)

// ReasoningEffort is the chat reasoning_effort a Messages request asks for:
//
//   - output_config.effort, when set, wins: low, medium and high as they
//     are; xhigh and max become high;
//   - else thinking enabled by budget_tokens: under 8,192 low, under
//     24,576 medium, else high;
//   - else (adaptive thinking without an effort, thinking disabled, no
//     thinking) "": the upstream's default.
func ReasoningEffort(req *Request) string {
	if req.Thinking != nil && req.Thinking.Type == ThinkingDisabled {
		return ""
	}
	if oc := req.OutputConfig; oc != nil && oc.Effort != "" {
		switch e := strings.ToLower(oc.Effort); e {
		case "low", "medium", "high":
			return e
		case "xhigh", "max":
			return "high"
		}
	}
	t := req.Thinking
	switch {
	case t == nil || t.Type != ThinkingEnabled:
		return ""
	case t.BudgetTokens < budgetMedium:
		return "low"
	case t.BudgetTokens < budgetHigh:
		return "medium"
	}
	return "high"
}

// takesReasoningEffort reports whether a Copilot chat model is known to
// accept reasoning_effort: OpenAI's reasoning families (gpt-5*, o1, o3,
// o4-mini). Others (gpt-4.1, gpt-4o, Claude and Gemini on the chat
// endpoint) are refused or unverified, so nothing is sent; a gateway that
// knows a model's capabilities can set the field itself.
func takesReasoningEffort(model string) bool {
	m := strings.ToLower(model)
	for _, p := range []string{"gpt-5", "o1", "o3", "o4"} {
		if strings.HasPrefix(m, p) {
			return true
		}
	}
	return false
}
