package copilotfake

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The Responses API (POST /responses): a Response object, or with
// "stream": true the event sequence response.created, response.in_progress,
// per output item response.output_item.added … response.output_item.done
// (reasoning summary, output text or function call arguments events in
// between), and last response.completed (response.incomplete when
// max_output_tokens is below the output). Every event is
// "event: <type>" + "data: {…,"type":<type>,"sequence_number":N}"; no [DONE].
//
// A reasoning item comes first when include has
// "reasoning.encrypted_content" (it then carries encrypted_content) or
// reasoning.summary is set (it then carries DefaultReasoningSummary).

type responsesRequest struct {
	Model     string          `json:"model"`
	Stream    bool            `json:"stream"`
	Input     json.RawMessage `json:"input"`
	Tools     json.RawMessage `json:"tools"`
	Include   []string        `json:"include"`
	Reasoning *struct {
		Summary string `json:"summary"`
	} `json:"reasoning"`
	MaxOutputTokens int `json:"max_output_tokens"`
}

type respInputItem struct {
	Type             string          `json:"type"`
	Role             string          `json:"role"`
	ID               string          `json:"id"`
	Content          json.RawMessage `json:"content"`
	Output           json.RawMessage `json:"output"`
	EncryptedContent *string         `json:"encrypted_content"`
}

// items reads input: a string is one user message.
func (req *responsesRequest) items() []respInputItem {
	var text string
	if json.Unmarshal(req.Input, &text) == nil {
		return []respInputItem{{Type: "message", Role: "user", Content: req.Input}}
	}
	var items []respInputItem
	_ = json.Unmarshal(req.Input, &items)
	return items
}

// turn applies the fake's conventions (see ToolTrigger).
func (req *responsesRequest) turn(items []respInputItem, answer string) turn {
	var decl []struct {
		Type, Name string
		Parameters json.RawMessage
	}
	_ = json.Unmarshal(req.Tools, &decl)
	var tools []tool
	for _, t := range decl {
		if t.Type == "function" && t.Name != "" {
			tools = append(tools, tool{t.Name, t.Parameters})
		}
	}
	i := len(items)
	for i > 0 && items[i-1].Type == "function_call_output" {
		i--
	}
	var outputs []string
	for _, it := range items[i:] {
		outputs = append(outputs, textOf(it.Output))
	}
	n := len(items)
	lastUser := n > 0 && items[n-1].Role == "user" && (items[n-1].Type == "" || items[n-1].Type == "message")
	text := ""
	if lastUser {
		text = textOf(items[n-1].Content)
	}
	return newTurn(tools, text, lastUser, outputs, answer)
}

func (s *Server) handleResponses(w http.ResponseWriter, r *http.Request) outcome {
	st := s.snapshot(PathResponses)
	s.quotaHeaders(w)
	if o, done := s.applyFault(w, r, st.fault); done {
		return o
	}
	var req responsesRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return writeBadBody(w)
	}
	if o, done := checkModel(w, PathResponses, req.Model, st); done {
		return o
	}
	if slices.Contains(req.Include, "usage") {
		return writeAPIError(w, http.StatusBadRequest, "unsupported_value", "include",
			`Invalid include value "usage".`)
	}
	items := req.items()
	if o, done := s.verifyEncrypted(w, items, st.verify); done {
		return o
	}
	g := s.newRespGen(&req, items, st.cached, st.answer)
	g.cost = st.coster(req.Model)
	return s.answer(w, r, st, req.Stream, func() string { return jsonString(g.final()) }, g.stream, g.failEvent)
}

// verifyEncrypted refuses reasoning items whose encrypted_content this fake
// did not issue (when on).
func (s *Server) verifyEncrypted(w http.ResponseWriter, items []respInputItem, on bool) (outcome, bool) {
	if !on {
		return finished, false
	}
	for _, it := range items {
		if it.Type == "reasoning" && it.EncryptedContent != nil && !s.issuedReasoning(*it.EncryptedContent) {
			return writeAPIError(w, http.StatusBadRequest, "invalid_encrypted_content", "",
				"The encrypted content for item "+it.ID+" could not be verified."), true
		}
	}
	return finished, false
}

// respGen generates one response.
type respGen struct {
	id, model, msgID   string
	created            int64
	turn               turn
	callID, fcID       string // tool call ids
	rsID, enc, summary string // reasoning item; rsID "" → none
	cached, maxOut     int
	reasoningTokens    int
	cost               coster
}

func (s *Server) newRespGen(req *responsesRequest, items []respInputItem, cached int, answer string) *respGen {
	g := &respGen{
		id: s.nextID("resp_"), model: req.Model, msgID: s.nextID("msg_"),
		created: time.Now().Unix(), turn: req.turn(items, answer),
		cached: cached, maxOut: req.MaxOutputTokens,
	}
	if g.turn.tool != "" {
		g.callID, g.fcID = s.nextID("call_"), s.nextID("fc_")
	}
	wantEnc := slices.Contains(req.Include, "reasoning.encrypted_content")
	if req.Reasoning != nil && req.Reasoning.Summary != "" {
		g.summary = DefaultReasoningSummary
	}
	if wantEnc || g.summary != "" {
		g.rsID, g.reasoningTokens = s.nextID("rs_"), DefaultReasoningTokens
	}
	if wantEnc {
		g.enc = s.issueReasoning("enc_fake_")
	}
	return g
}

// status is the final status for outTokens of output.
func (g *respGen) status(outTokens int) string {
	if g.turn.tool == "" && g.maxOut > 0 && outTokens > g.maxOut {
		return "incomplete"
	}
	return "completed"
}

// response is the Response object; usage only once it is over.
func (g *respGen) response(status string, output []obj, outTokens int) obj {
	o := pairs("id", g.id, "object", "response", "created_at", g.created, "status", status,
		"error", nil, "incomplete_details", nil, "model", g.model, "output", output,
		"parallel_tool_calls", true, "store", false, "usage", nil)
	switch status {
	case "in_progress":
		return o
	case "incomplete":
		o["incomplete_details"] = pairs("reason", "max_output_tokens")
		outTokens = g.maxOut
	case "failed":
		o["error"] = pairs("code", "server_error", "message", "fake upstream failure mid-stream")
		return o
	}
	input := DefaultPromptTokens + g.cached
	out := outTokens + g.reasoningTokens
	o["usage"] = pairs("input_tokens", input, "input_tokens_details", pairs("cached_tokens", g.cached),
		"output_tokens", out, "output_tokens_details", pairs("reasoning_tokens", g.reasoningTokens),
		"total_tokens", input+out)
	if cu := g.cost.copilotUsage(input, g.cached, out); cu != nil {
		o["copilot_usage"] = cu
	}
	return o
}

func (g *respGen) reasoningItem(done bool) obj {
	summary := []obj{}
	if done && g.summary != "" {
		summary = append(summary, pairs("type", "summary_text", "text", g.summary))
	}
	o := pairs("id", g.rsID, "type", "reasoning", "summary", summary)
	if done && g.enc != "" {
		o["encrypted_content"] = g.enc
	}
	return o
}

func outputText(text string) obj {
	return pairs("type", "output_text", "text", text, "annotations", []any{}, "logprobs", []any{})
}

func (g *respGen) messageItem(text string, done bool) obj {
	status, content := "in_progress", []obj{}
	if done {
		status, content = "completed", []obj{outputText(text)}
	}
	return pairs("id", g.msgID, "type", "message", "status", status, "role", "assistant", "content", content)
}

func (g *respGen) callItem(args string, done bool) obj {
	status := "in_progress"
	if done {
		status = "completed"
	}
	return pairs("id", g.fcID, "type", "function_call", "status", status,
		"call_id", g.callID, "name", g.turn.tool, "arguments", args)
}

// final is the non-stream Response.
func (g *respGen) final() obj {
	var output []obj
	if g.rsID != "" {
		output = append(output, g.reasoningItem(true))
	}
	if g.turn.tool != "" {
		output = append(output, g.callItem(g.turn.args, true))
	} else {
		output = append(output, g.messageItem(g.turn.text(), true))
	}
	return g.response(g.status(DefaultCompletionTokens), output, DefaultCompletionTokens)
}

// respEvents accumulates stream events, numbering them.
type respEvents struct{ list []string }

func (e *respEvents) add(typ string, payload obj) {
	payload["type"], payload["sequence_number"] = typ, len(e.list)
	e.list = append(e.list, sseEvent(typ, payload))
}

// stream is the generated event sequence.
func (g *respGen) stream(chunks int) []string {
	var e respEvents
	e.add("response.created", pairs("response", g.response("in_progress", []obj{}, 0)))
	e.add("response.in_progress", pairs("response", g.response("in_progress", []obj{}, 0)))
	var output []obj
	if g.rsID != "" {
		output = append(output, g.streamReasoning(&e, len(output)))
	}
	var item obj
	var n int
	if g.turn.tool != "" {
		item, n = g.streamCall(&e, len(output), chunks)
	} else {
		item, n = g.streamText(&e, len(output), chunks)
	}
	output = append(output, item)
	status := g.status(n)
	e.add("response."+status, pairs("response", g.response(status, output, n)))
	return e.list
}

func (g *respGen) streamReasoning(e *respEvents, idx int) obj {
	e.add("response.output_item.added", pairs("output_index", idx, "item", g.reasoningItem(false)))
	if g.summary != "" {
		at := func(kv ...any) obj {
			return pairs(append([]any{"item_id", g.rsID, "output_index", idx, "summary_index", 0}, kv...)...)
		}
		e.add("response.reasoning_summary_part.added", at("part", pairs("type", "summary_text", "text", "")))
		e.add("response.reasoning_summary_text.delta", at("delta", g.summary))
		e.add("response.reasoning_summary_text.done", at("text", g.summary))
		e.add("response.reasoning_summary_part.done", at("part", pairs("type", "summary_text", "text", g.summary)))
	}
	item := g.reasoningItem(true)
	e.add("response.output_item.done", pairs("output_index", idx, "item", item))
	return item
}

// streamText adds a message item's events; it returns the item and how
// many deltas it had.
func (g *respGen) streamText(e *respEvents, idx, chunks int) (obj, int) {
	at := func(kv ...any) obj {
		return pairs(append([]any{"item_id", g.msgID, "output_index", idx, "content_index", 0}, kv...)...)
	}
	pieces := g.turn.pieces(chunks)
	text := strings.Join(pieces, "")
	e.add("response.output_item.added", pairs("output_index", idx, "item", g.messageItem("", false)))
	e.add("response.content_part.added", at("part", outputText("")))
	for _, p := range pieces {
		e.add("response.output_text.delta", at("delta", p, "logprobs", []any{}))
	}
	e.add("response.output_text.done", at("text", text, "logprobs", []any{}))
	e.add("response.content_part.done", at("part", outputText(text)))
	item := g.messageItem(text, true)
	e.add("response.output_item.done", pairs("output_index", idx, "item", item))
	return item, len(pieces)
}

// streamCall adds a function_call item's events.
func (g *respGen) streamCall(e *respEvents, idx, chunks int) (obj, int) {
	at := func(kv ...any) obj {
		return pairs(append([]any{"item_id", g.fcID, "output_index", idx}, kv...)...)
	}
	e.add("response.output_item.added", pairs("output_index", idx, "item", g.callItem("", false)))
	args := g.turn.args
	pieces := splitPieces(args, chunks)
	for _, p := range pieces {
		e.add("response.function_call_arguments.delta", at("delta", p))
	}
	e.add("response.function_call_arguments.done", at("arguments", args))
	item := g.callItem(args, true)
	e.add("response.output_item.done", pairs("output_index", idx, "item", item))
	return item, len(pieces)
}

// failEvent is response.failed as event seq (Fault.FailAfter).
func (g *respGen) failEvent(seq int) string {
	return sseEvent("response.failed", pairs("type", "response.failed", "sequence_number", seq,
		"response", g.response("failed", []obj{}, 0)))
}

// jsonString is v encoded as a JSON body.
func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
