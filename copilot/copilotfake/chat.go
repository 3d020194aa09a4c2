package copilotfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

type chatRequest struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	// Read leniently (see turn): a body the fake cannot make sense of is
	// still answered.
	Messages json.RawMessage `json:"messages"`
	Tools    json.RawMessage `json:"tools"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// turn applies the fake's conventions to a chat request (see ToolTrigger).
func (req *chatRequest) turn(answer string) turn {
	var msgs []chatMessage
	_ = json.Unmarshal(req.Messages, &msgs)
	var decl []struct {
		Type     string `json:"type"`
		Function struct {
			Name       string          `json:"name"`
			Parameters json.RawMessage `json:"parameters"`
		} `json:"function"`
	}
	_ = json.Unmarshal(req.Tools, &decl)
	var tools []tool
	for _, t := range decl {
		if t.Type == "function" && t.Function.Name != "" {
			tools = append(tools, tool{t.Function.Name, t.Function.Parameters})
		}
	}
	i := len(msgs)
	for i > 0 && msgs[i-1].Role == "tool" {
		i--
	}
	var outputs []string
	for _, m := range msgs[i:] {
		outputs = append(outputs, textOf(m.Content))
	}
	n := trimSystem(msgs, func(m chatMessage) string { return m.Role })
	lastUser := n > 0 && msgs[n-1].Role == "user"
	text := ""
	if lastUser {
		text = textOf(msgs[n-1].Content)
	}
	return newTurn(tools, text, lastUser, outputs, answer)
}

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) outcome {
	st := s.snapshot(PathChat)
	s.quotaHeaders(w)
	if o, done := s.applyFault(w, r, st.fault); done {
		return o
	}
	var req chatRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return writeBadBody(w)
	}
	if o, done := checkModel(w, PathChat, req.Model, st); done {
		return o
	}
	c := chatGen{
		id:      "chatcmpl-fake" + strconv.FormatInt(s.seq.Add(1), 10),
		created: time.Now().Unix(),
		model:   jsonStr(req.Model),
		turn:    req.turn(st.answer),
		cached:  st.cached,
		cost:    st.coster(req.Model),
	}
	if c.turn.tool != "" {
		c.callID = "call_fake" + strconv.FormatInt(s.seq.Add(1), 10)
	}
	usage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	return s.answer(w, r, st, req.Stream, c.completion,
		func(n int) []string { return c.stream(n, usage) }, chatFailEvent)
}

// chatGen generates a chat completion; model is JSON-encoded.
type chatGen struct {
	id, model, callID string
	created           int64
	turn              turn
	cached            int
	cost              coster
}

func (c chatGen) completion() string {
	msg, finish := `{"role":"assistant","content":`+jsonStr(c.turn.text())+`}`, "stop"
	if c.turn.tool != "" {
		msg = fmt.Sprintf(`{"role":"assistant","content":null,"tool_calls":[{"id":%s,"type":"function","function":{"name":%s,"arguments":%s}}]}`,
			jsonStr(c.callID), jsonStr(c.turn.tool), jsonStr(c.turn.args))
		finish = "tool_calls"
	}
	return fmt.Sprintf(`{"id":%q,"object":"chat.completion","created":%d,"model":%s,"choices":[{"index":0,"message":%s,"finish_reason":%q}],"usage":%s%s}`,
		c.id, c.created, c.model, msg, finish, c.usage(DefaultCompletionTokens), c.costField(DefaultCompletionTokens))
}

func (c chatGen) usage(completion int) string {
	prompt := DefaultPromptTokens + c.cached
	if c.cached == 0 {
		return fmt.Sprintf(`{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}`, prompt, completion, prompt+completion)
	}
	return fmt.Sprintf(`{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d,"prompt_tokens_details":{"cached_tokens":%d}}`,
		prompt, completion, prompt+completion, c.cached)
}

// costField is the copilot_usage field for completion tokens ("" when
// costs are not reported).
func (c chatGen) costField(completion int) string {
	return c.cost.field(DefaultPromptTokens+c.cached, c.cached, completion)
}

// promptFilterEvent is the first event of a Copilot chat stream.
const promptFilterEvent = `{"choices":[],"created":0,"id":"","prompt_filter_results":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}},"prompt_index":0}]}`

// stream builds a Copilot-shaped stream: a prompt-filter event with empty
// choices, the content (or tool call) chunks, a finish chunk, optionally a
// usage chunk, and [DONE].
func (c chatGen) stream(chunks int, includeUsage bool) []string {
	events := []string{promptFilterEvent}
	deltas, finish := c.deltas(chunks)
	for _, d := range deltas {
		events = append(events, c.chunk(d, "null"))
	}
	events = append(events, c.chunk("{}", jsonStr(finish)))
	if includeUsage {
		events = append(events, fmt.Sprintf(`{"id":%q,"object":"chat.completion.chunk","created":%d,"model":%s,"choices":[],"usage":%s%s}`,
			c.id, c.created, c.model, c.usage(len(deltas)), c.costField(len(deltas))))
	}
	return append(events, "[DONE]")
}

func (c chatGen) chunk(delta, finish string) string {
	return fmt.Sprintf(`{"id":%q,"object":"chat.completion.chunk","created":%d,"model":%s,"choices":[{"index":0,"delta":%s,"finish_reason":%s}]}`,
		c.id, c.created, c.model, delta, finish)
}

// deltas are the chunk deltas and the finish reason.
func (c chatGen) deltas(chunks int) ([]string, string) {
	var out []string
	if c.turn.tool == "" {
		for _, p := range c.turn.pieces(chunks) {
			out = append(out, `{"content":`+jsonStr(p)+`}`)
		}
		return out, "stop"
	}
	out = append(out, fmt.Sprintf(`{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":%s,"type":"function","function":{"name":%s,"arguments":""}}]}`,
		jsonStr(c.callID), jsonStr(c.turn.tool)))
	for _, p := range splitPieces(c.turn.args, chunks) {
		out = append(out, `{"tool_calls":[{"index":0,"function":{"arguments":`+jsonStr(p)+`}}]}`)
	}
	return out, "tool_calls"
}

// chatFailEvent is the in-stream error of a chat stream (Fault.FailAfter).
func chatFailEvent(int) string {
	return `{"error":{"message":"fake upstream failure mid-stream","type":"server_error","code":"server_error"}}`
}
