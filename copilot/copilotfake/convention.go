package copilotfake

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// ToolTrigger is the fake's convention for tool calls, the same on chat,
// /responses and /v1/messages: when the request declares at least one
// function tool and its last input item is a user message whose text
// contains ToolTrigger (on chat and /v1/messages, system messages after it
// aside: Claude Code ends its requests with one), the answer is a call to
// one tool instead of text,
// with arguments ToolCallArguments (with WithAnswer, the smallest
// arguments valid for the tool's schema). The tool is the one named by
// the word right after the trigger ("call_tool get_weather" or
// "call_tool: get_weather") when that names a declared tool, else the
// first declared tool.
const ToolTrigger = "call_tool"

// ToolCallArguments is the JSON arguments (input, on /v1/messages) of every
// tool call the fake makes, unless WithAnswer is set: its tool calls carry
// arguments built from the called tool's schema (see exampleArgs).
const ToolCallArguments = `{"city":"Paris","unit":"celsius"}`

// Token counts of generated usage. A stream reports as many output tokens
// as it has content deltas (see SetStream); reasoning adds
// DefaultReasoningTokens; SetCachedTokens adds cached prompt tokens.
const (
	DefaultPromptTokens     = 11
	DefaultCompletionTokens = 7
	DefaultReasoningTokens  = 5
)

// DefaultReasoningSummary is the reasoning summary text /responses gives
// when the request asks for one (reasoning.summary set).
const DefaultReasoningSummary = "Thinking about the request."

// DefaultThinking is the thinking text /v1/messages gives when the request
// enables thinking.
const DefaultThinking = "Let me think about that."

// ToolResultReply is the text answered when the input ends with tool
// results (chat: trailing role "tool" messages; /responses: trailing
// function_call_output items; /v1/messages: tool_result blocks in the last
// user message). output is their contents joined with "; ". In a stream
// it comes as one last delta after the "chunk N " deltas.
func ToolResultReply(output string) string {
	return DefaultChatContent + " | tool output: " + output
}

// turn is what the fake makes of a request's input.
type turn struct {
	tool      string   // tool to call; "" → answer with text
	args      string   // the tool call's JSON arguments (set with tool)
	outputs   []string // trailing tool results
	hasOutput bool
	answer    string // WithAnswer's text; "" → the default answers
}

// tool is a declared client tool: its name and its parameters' schema.
type tool struct {
	name   string
	schema json.RawMessage
}

// newTurn applies the conventions: tools are the declared client tools in
// order, userText the text of the last item when it is a user message,
// outputs the trailing tool results, answer WithAnswer's text. A tool
// call's arguments are ToolCallArguments, or with an answer set, valid for
// the schema of the first tool declared under the picked name.
func newTurn(tools []tool, userText string, lastIsUser bool, outputs []string, answer string) turn {
	if lastIsUser {
		names := make([]string, len(tools))
		for i, t := range tools {
			names[i] = t.name
		}
		if name, ok := pickTool(names, userText); ok {
			t := turn{tool: name, args: ToolCallArguments, answer: answer}
			if answer != "" {
				t.args = string(exampleArgs(tools[slices.Index(names, name)].schema))
			}
			return t
		}
	}
	return turn{outputs: outputs, hasOutput: len(outputs) > 0, answer: answer}
}

// pickTool returns the tool the text asks for (see ToolTrigger).
func pickTool(tools []string, text string) (string, bool) {
	i := strings.Index(text, ToolTrigger)
	if len(tools) == 0 || i < 0 {
		return "", false
	}
	rest := text[i+len(ToolTrigger):]
	if rest == "" || !strings.ContainsRune(": \t\n", rune(rest[0])) {
		return tools[0], true
	}
	if f := strings.Fields(strings.TrimLeft(rest, ": \t\n")); len(f) > 0 {
		word := strings.TrimRight(f[0], ".,;:!?\"'`)")
		for _, t := range tools {
			if t == word {
				return t, true
			}
		}
	}
	return tools[0], true
}

// text is the non-stream answer text.
func (t turn) text() string {
	if t.answer != "" {
		return t.answer + t.outputSuffix()
	}
	if t.hasOutput {
		return ToolResultReply(strings.Join(t.outputs, "; "))
	}
	return DefaultChatContent
}

// pieces is the streamed answer text, one string per delta.
func (t turn) pieces(chunks int) []string {
	if t.answer != "" {
		out := answerPieces(t.answer, chunks)
		if t.hasOutput {
			out = append(out, t.outputSuffix())
		}
		return out
	}
	out := make([]string, 0, chunks+1)
	for i := range chunks {
		out = append(out, "chunk "+strconv.Itoa(i)+" ")
	}
	if t.hasOutput {
		out = append(out, ToolResultReply(strings.Join(t.outputs, "; ")))
	}
	return out
}

// outputSuffix is what a WithAnswer text gets after it for trailing tool
// results ("" without them).
func (t turn) outputSuffix() string {
	if !t.hasOutput {
		return ""
	}
	return " | tool output: " + strings.Join(t.outputs, "; ")
}

// splitPieces cuts s into at most n (at least 1) consecutive pieces.
func splitPieces(s string, n int) []string {
	n = max(1, min(n, len(s)))
	out := make([]string, 0, n)
	size := (len(s) + n - 1) / n
	for len(s) > size {
		out = append(out, s[:size])
		s = s[size:]
	}
	return append(out, s)
}

// textOf is the text of a content value in any of the three APIs: a string,
// or an array of parts whose "text" fields are concatenated (text,
// input_text, output_text parts; other parts are skipped).
func textOf(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(raw, &parts)
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String()
}

// jsonStr is s as a JSON string.
func jsonStr(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// sseEvent is one named SSE event ("event: <typ>\ndata: <json>").
func sseEvent(typ string, payload any) string {
	b, _ := json.Marshal(payload)
	return "event: " + typ + "\ndata: " + string(b)
}

// obj is a JSON object under construction.
type obj = map[string]any

// trimSystem returns how many of msgs remain once trailing system messages
// are left out (role reads a message's role).
func trimSystem[M any](msgs []M, role func(M) string) int {
	n := len(msgs)
	for n > 0 && role(msgs[n-1]) == "system" {
		n--
	}
	return n
}
