package gateway

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// dialect is what the relay knows of one API's event stream: its keep-alive,
// how to read an event for accounting and for its last event, and how a
// broken stream ends. The relay itself only knows SSE framing.
type dialect struct {
	// ping is sent after Keepalive of upstream silence.
	ping []byte
	// observe notes usage and the stream's last event in res; it reports
	// whether ev carried usage.
	observe func(ev []byte, res *relayResult) bool
	// failEvent is the final event of a stream that broke.
	failEvent func(e *api.Error) []byte
	// cut is the error of a stream that ended without its last event.
	cut error
	// dropUsage withholds usage-only chat chunks the gateway asked for on
	// the client's behalf (they are still observed).
	dropUsage bool
}

// commentPing is an SSE comment: every SSE parser skips it.
var commentPing = []byte(": ping\n\n")

// chatDialect is OpenAI chat completions: data-only events, [DONE] last,
// errors as `data: {"error":{...}}`.
func chatDialect(dropUsage bool) dialect {
	return dialect{ping: commentPing, observe: observeChat, failEvent: api.ErrorEvent,
		cut: errNoDone, dropUsage: dropUsage}
}

// errNoDone is the error of a chat stream that ended cleanly without
// [DONE].
var errNoDone = errors.New("the stream ended without data: [DONE]")

// responsesDialect is the OpenAI Responses API: typed events, the last one
// response.completed, response.incomplete or response.failed (or an error
// event); a broken stream ends with response.failed.
var responsesDialect = dialect{ping: commentPing, observe: observeResponses, failEvent: responsesFailEvent,
	cut: errNoResponseEnd}

// errNoResponseEnd is the error of a Responses stream that ended cleanly
// without its last event.
var errNoResponseEnd = errors.New("the stream ended without response.completed")

var responsesLast = [][]byte{
	[]byte(`"response.completed"`), []byte(`"response.incomplete"`), []byte(`"response.failed"`),
}

// observeResponses notes the last event of a Responses stream and the usage
// it carries (in its response object).
func observeResponses(ev []byte, res *relayResult) bool {
	last := false
	for _, t := range responsesLast {
		last = last || bytes.Contains(ev, t)
	}
	if !last {
		if bytes.HasPrefix(ev, []byte("event: error")) || bytes.Contains(ev, []byte(`"type":"error"`)) {
			res.Done = true // the upstream ended the stream with its own error
		}
		return false
	}
	var e struct {
		Type     string `json:"type"`
		Response struct {
			Usage *responsesUsage `json:"usage"`
		} `json:"response"`
	}
	if json.Unmarshal(eventData(ev), &e) != nil {
		return false
	}
	res.Done = true
	if u := e.Response.Usage; u != nil {
		res.Usage, res.HasUsage = u.api(), true
		return true
	}
	return false
}

// responsesUsage is the usage object of a Responses answer.
type responsesUsage struct {
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
	TotalTokens  int64 `json:"total_tokens"`
}

func (u responsesUsage) api() api.Usage {
	return api.Usage{PromptTokens: max(u.InputTokens, 0), CompletionTokens: max(u.OutputTokens, 0), TotalTokens: max(u.TotalTokens, 0)}
}

// responsesFailEvent is a response.failed event for a stream the gateway
// had to end: Responses clients (Codex) read it as a failed turn.
func responsesFailEvent(e *api.Error) []byte {
	body, _ := json.Marshal(map[string]any{
		"type": "response.failed",
		"response": map[string]any{
			"object": "response",
			"status": "failed",
			"error":  map[string]string{"code": string(e.Code), "message": e.Message},
		},
	})
	out := make([]byte, 0, len(body)+40)
	out = append(out, "event: response.failed\ndata: "...)
	out = append(out, body...)
	return append(out, "\n\n"...)
}

// messagesDialect is the Anthropic Messages API: typed events, message_stop
// last (or an error event); keep-alives are ping events, as Anthropic sends
// them; a broken stream ends with an error event.
var messagesDialect = dialect{ping: []byte("event: ping\ndata: {\"type\": \"ping\"}\n\n"), observe: observeMessages,
	failEvent: api.AnthropicErrorEvent, cut: errNoMessageStop}

// errNoMessageStop is the error of a Messages stream that ended cleanly
// without message_stop.
var errNoMessageStop = errors.New("the stream ended without message_stop")

var (
	messageStart = []byte(`"message_start"`)
	messageDelta = []byte(`"message_delta"`)
	messageStop  = []byte(`"message_stop"`)
)

// observeMessages notes the usage of a Messages stream (input tokens in
// message_start, output tokens in message_delta) and its last event.
func observeMessages(ev []byte, res *relayResult) bool {
	switch {
	case bytes.Contains(ev, messageStop):
		res.Done = true
		return false
	case bytes.HasPrefix(ev, []byte("event: error")):
		res.Done = true // the upstream ended the stream with its own error
		return false
	case !bytes.Contains(ev, messageStart) && !bytes.Contains(ev, messageDelta):
		return false
	}
	var e struct {
		Type    string `json:"type"`
		Message struct {
			Usage *api.Usage `json:"usage"`
		} `json:"message"`
		Usage *api.Usage `json:"usage"`
	}
	if json.Unmarshal(eventData(ev), &e) != nil {
		return false
	}
	u := e.Usage
	if e.Type == "message_start" {
		u = e.Message.Usage
	}
	if u == nil {
		return false
	}
	if u.PromptTokens > 0 {
		res.Usage.PromptTokens = u.PromptTokens
	}
	if u.CompletionTokens > 0 {
		res.Usage.CompletionTokens = u.CompletionTokens
	}
	res.Usage.TotalTokens = res.Usage.PromptTokens + res.Usage.CompletionTokens
	res.HasUsage = true
	return true
}
