package copilotfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// The Anthropic Messages API (POST /v1/messages), native for Claude models:
// a Message object, or with "stream": true the events message_start,
// per content block content_block_start (then one ping after the first),
// content_block_delta… and content_block_stop, then message_delta
// (stop_reason, usage) and message_stop. A thinking block (thinking_delta
// deltas, then a signature_delta) comes first when the request enables
// thinking ("enabled" or "adaptive").

type messagesRequest struct {
	Model     string          `json:"model"`
	Stream    bool            `json:"stream"`
	MaxTokens int             `json:"max_tokens"`
	Messages  json.RawMessage `json:"messages"`
	Tools     json.RawMessage `json:"tools"`
	Thinking  *struct {
		Type string `json:"type"`
	} `json:"thinking"`
}

type anthMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type anthBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Signature string          `json:"signature"`
	Content   json.RawMessage `json:"content"` // tool_result
}

// blocksOf reads message content: a string is one text block.
func blocksOf(raw json.RawMessage) []anthBlock {
	var text string
	if json.Unmarshal(raw, &text) == nil {
		return []anthBlock{{Type: "text", Text: text}}
	}
	var blocks []anthBlock
	_ = json.Unmarshal(raw, &blocks)
	return blocks
}

// turn applies the fake's conventions (see ToolTrigger): client tools are
// those without a server-tool type.
func (req *messagesRequest) turn(msgs []anthMessage, answer string) turn {
	var decl []struct {
		Name, Type  string
		InputSchema json.RawMessage `json:"input_schema"`
	}
	_ = json.Unmarshal(req.Tools, &decl)
	var tools []tool
	for _, t := range decl {
		if t.Name != "" && (t.Type == "" || t.Type == "custom") {
			tools = append(tools, tool{t.Name, t.InputSchema})
		}
	}
	n := trimSystem(msgs, func(m anthMessage) string { return m.Role })
	if n == 0 || msgs[n-1].Role != "user" {
		return newTurn(tools, "", false, nil, answer)
	}
	var text strings.Builder
	var outputs []string
	for _, b := range blocksOf(msgs[n-1].Content) {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
		case "tool_result":
			outputs = append(outputs, textOf(b.Content))
		}
	}
	return newTurn(tools, text.String(), true, outputs, answer)
}

func (s *Server) handleMessages(w http.ResponseWriter, r *http.Request) outcome {
	st := s.snapshot(PathMessages)
	s.quotaHeaders(w)
	if o, done := s.applyFault(w, r, st.fault); done {
		return o
	}
	var req messagesRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return writeBadBody(w)
	}
	if o, done := checkModel(w, PathMessages, req.Model, st); done {
		return o
	}
	var msgs []anthMessage
	_ = json.Unmarshal(req.Messages, &msgs)
	if o, done := s.verifySignatures(w, msgs, st.verify); done {
		return o
	}
	g := s.newMsgGen(&req, msgs, st.cached, st.answer)
	g.cost = st.coster(req.Model)
	return s.answer(w, r, st, req.Stream, func() string { return jsonString(g.final()) }, g.stream, msgFailEvent)
}

// verifySignatures refuses thinking blocks whose signature this fake did
// not issue (when on), as Anthropic does.
func (s *Server) verifySignatures(w http.ResponseWriter, msgs []anthMessage, on bool) (outcome, bool) {
	if !on {
		return finished, false
	}
	for i, m := range msgs {
		if m.Role != "assistant" {
			continue
		}
		for j, b := range blocksOf(m.Content) {
			if b.Type == "thinking" && !s.issuedReasoning(b.Signature) {
				msg := fmt.Sprintf("messages.%d.content.%d: Invalid `signature` in `thinking` block", i, j)
				return writeBody(w, http.StatusBadRequest, "application/json", anthropicError("invalid_request_error", msg)), true
			}
		}
	}
	return finished, false
}

// AnthropicErrorBody is an Anthropic-shaped error body for status
// ({"type":"error","error":{"type":…,"message":…}}), for a Fault.Body on
// /v1/messages when a test wants that shape rather than Copilot's default.
func AnthropicErrorBody(status int) string {
	typ := "invalid_request_error"
	switch {
	case status == http.StatusUnauthorized:
		typ = "authentication_error"
	case status == http.StatusForbidden:
		typ = "permission_error"
	case status == http.StatusNotFound:
		typ = "not_found_error"
	case status == http.StatusTooManyRequests:
		typ = "rate_limit_error"
	case status == http.StatusServiceUnavailable || status == 529:
		typ = "overloaded_error"
	case status >= 500:
		typ = "api_error"
	}
	msg := http.StatusText(status)
	if typ == "overloaded_error" {
		msg = "Overloaded"
	}
	return anthropicError(typ, msg)
}

func anthropicError(typ, msg string) string {
	b, _ := json.Marshal(pairs("type", "error", "error", pairs("type", typ, "message", msg)))
	return string(b)
}

// msgFailEvent is the in-stream error event (Fault.FailAfter).
func msgFailEvent(int) string {
	return "event: error\ndata: " + anthropicError("overloaded_error", "Overloaded")
}

// msgGen generates one message.
type msgGen struct {
	id, model, toolID string
	turn              turn
	signature         string // "" → no thinking
	cached, maxTokens int
	cost              coster
}

func (s *Server) newMsgGen(req *messagesRequest, msgs []anthMessage, cached int, answer string) *msgGen {
	g := &msgGen{id: s.nextID("msg_"), model: req.Model, turn: req.turn(msgs, answer), cached: cached, maxTokens: req.MaxTokens}
	if g.turn.tool != "" {
		g.toolID = s.nextID("toolu_")
	}
	if t := req.Thinking; t != nil && (t.Type == "enabled" || t.Type == "adaptive") {
		g.signature = s.issueReasoning("sig_fake_")
	}
	return g
}

// stop is the stop reason and output token count for out tokens of output.
func (g *msgGen) stop(out int) (string, int) {
	if g.signature != "" {
		out += DefaultReasoningTokens
	}
	switch {
	case g.turn.tool != "":
		return "tool_use", out
	case g.maxTokens > 0 && out > g.maxTokens:
		return "max_tokens", g.maxTokens
	}
	return "end_turn", out
}

// copilotUsage is the cost report of a message with out output tokens.
func (g *msgGen) copilotUsage(out int) any {
	return g.cost.copilotUsage(DefaultPromptTokens+g.cached, g.cached, out)
}

func (g *msgGen) usage(out int) obj {
	return pairs("input_tokens", DefaultPromptTokens, "cache_creation_input_tokens", 0,
		"cache_read_input_tokens", g.cached, "output_tokens", out)
}

func (g *msgGen) message(content []obj, stop any, out int) obj {
	return pairs("id", g.id, "type", "message", "role", "assistant", "model", g.model, "content", content,
		"stop_reason", stop, "stop_sequence", nil, "usage", g.usage(out))
}

// final is the non-stream Message.
func (g *msgGen) final() obj {
	var content []obj
	if g.signature != "" {
		content = append(content, pairs("type", "thinking", "thinking", DefaultThinking, "signature", g.signature))
	}
	if g.turn.tool != "" {
		content = append(content, pairs("type", "tool_use", "id", g.toolID, "name", g.turn.tool,
			"input", json.RawMessage(g.turn.args)))
	} else {
		content = append(content, pairs("type", "text", "text", g.turn.text()))
	}
	stop, out := g.stop(DefaultCompletionTokens)
	m := g.message(content, stop, out)
	if cu := g.copilotUsage(out); cu != nil {
		m["copilot_usage"] = cu
	}
	return m
}

// stream is the generated event sequence.
func (g *msgGen) stream(chunks int) []string {
	ev := []string{sseEvent("message_start", pairs("type", "message_start", "message", g.message([]obj{}, nil, 1)))}
	add := func(typ string, kv ...any) {
		ev = append(ev, sseEvent(typ, pairs(append([]any{"type", typ}, kv...)...)))
	}
	idx := 0
	block := func(start obj, deltas []obj) {
		add("content_block_start", "index", idx, "content_block", start)
		if idx == 0 {
			add("ping")
		}
		for _, d := range deltas {
			add("content_block_delta", "index", idx, "delta", d)
		}
		add("content_block_stop", "index", idx)
		idx++
	}
	if g.signature != "" {
		var deltas []obj
		for _, p := range splitPieces(DefaultThinking, 2) {
			deltas = append(deltas, pairs("type", "thinking_delta", "thinking", p))
		}
		block(pairs("type", "thinking", "thinking", "", "signature", ""),
			append(deltas, pairs("type", "signature_delta", "signature", g.signature)))
	}
	var n int
	if g.turn.tool != "" {
		n = g.toolBlock(block, chunks)
	} else {
		var deltas []obj
		for _, p := range g.turn.pieces(chunks) {
			deltas = append(deltas, pairs("type", "text_delta", "text", p))
		}
		block(pairs("type", "text", "text", ""), deltas)
		n = len(deltas)
	}
	stop, out := g.stop(n)
	delta := []any{"delta", pairs("stop_reason", stop, "stop_sequence", nil), "usage", g.usage(out)}
	if cu := g.copilotUsage(out); cu != nil {
		delta = append(delta, "copilot_usage", cu)
	}
	add("message_delta", delta...)
	add("message_stop")
	return ev
}

// toolBlock adds the tool_use block; it returns its number of deltas.
func (g *msgGen) toolBlock(block func(obj, []obj), chunks int) int {
	var deltas []obj
	for _, p := range splitPieces(g.turn.args, chunks) {
		deltas = append(deltas, pairs("type", "input_json_delta", "partial_json", p))
	}
	block(pairs("type", "tool_use", "id", g.toolID, "name", g.turn.tool, "input", obj{}), deltas)
	return len(deltas)
}
