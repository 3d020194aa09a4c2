package gateway

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/api/anthropic"
	"github.com/copilot-proxy/copilot-proxy/api/openai"
	"github.com/copilot-proxy/copilot-proxy/api/responses"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// anthropicHeaders are the request headers a native Messages call forwards.
var anthropicHeaders = []string{"Anthropic-Version", "Anthropic-Beta"}

// handleMessages serves POST /v1/messages (Claude Code's ?beta=true and
// other query strings are ignored): the Anthropic Messages API. The model
// id is mapped to Copilot's (claude-sonnet-4-5-20250929 →
// claude-sonnet-4.5). Models Copilot serves at /v1/messages get the body as
// bytes (the model id rewritten when it was mapped) and the events one by
// one; a native call that fails with a 5xx before any byte was sent falls
// back once to translation. Every other model is translated through chat
// completions (api/anthropic), and through /responses for responses-only
// models.
func handleMessages(up *upstream, rt *router, models *modelCache, bodies bodyReader, out *relayer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, peek, ok := readRequest(w, r, bodies, anthropic.PeekRequest)
		if !ok {
			return
		}
		model, ok := claudeModel(w, r, models, models.resolve(peek.Model))
		if model = models.resolve(model); !ok || !admitModel(w, r, model, peek.Stream) ||
			!reserve(w, r, models, model, len(body), func() int64 { return middleware.OutputEstimate(int64(peek.MaxTokens)) }) {
			return
		}
		to := rt.endpoint(model, api.EndpointMessages, api.EndpointChat, api.EndpointResponses)
		if to == api.EndpointMessages {
			if nativeMessages(w, r, up, rt, out, body, peek, model) {
				return
			}
			to = rt.endpoint(model, api.EndpointChat, api.EndpointResponses)
		}
		messagesTranslated(w, r, up, models, out, body, model, to)
	}
}

// claudeModel maps the client's model id to a listed Copilot id; a model
// that maps to nothing is a 404 naming the models that exist. Without a
// model list the id is used as sent.
func claudeModel(w http.ResponseWriter, r *http.Request, models *modelCache, id string) (string, bool) {
	snap, err := models.snapshot(r.Context())
	if err != nil || snap == nil {
		return id, true
	}
	if m, ok := anthropic.CanonicalModel(id, snap.ids); ok {
		return m, true
	}
	middleware.WriteError(w, r, api.NewError(api.CodeModelNotFound, "The model '"+api.Clip(id, maxPathInMessage)+
		"' does not exist. Models: "+strings.Join(chatModels(snap.models), ", ")).WithParam("model"))
	return "", false
}

// chatModels are the ids of the listed models that answer chat.
func chatModels(ms []api.Model) []string {
	var out []string
	for _, m := range ms {
		if m.Type == "" || m.Type == "chat" {
			out = append(out, m.ID)
		}
	}
	slices.Sort(out)
	return out
}

// nativeMessages passes the request to Copilot's /v1/messages. It reports
// false, having answered nothing, when the call failed before any byte was
// sent (a 5xx, or unsupported_api_for_model): the caller translates instead.
func nativeMessages(w http.ResponseWriter, r *http.Request, up *upstream, rt *router, out *relayer, body []byte, peek anthropic.Peek, model string) bool {
	if model != peek.Model {
		b, err := setModel(body, model)
		if err != nil {
			middleware.WriteError(w, r, api.NewError(api.CodeInvalidJSON, "The request body is not a JSON object."))
			return true
		}
		body = b
	}
	c := call{method: http.MethodPost, path: api.EndpointMessages, body: body, stream: peek.Stream,
		initiator: peek.Initiator(), vision: peek.HasImage, header: http.Header{}}
	for _, h := range anthropicHeaders {
		if v := r.Header.Values(h); len(v) > 0 {
			c.header[h] = v
		}
	}
	resp, ok := up.send(w, r, c)
	if !ok {
		return true
	}
	defer closeAnswer(resp)
	if resp.StatusCode >= 500 {
		e, _ := readUpstreamError(resp)
		logFallback(r, model, api.EndpointMessages, api.EndpointChat, e)
		return false
	}
	e, refused, answered := unsupportedAPI(w, r, resp)
	switch {
	case answered:
		return true
	case refused:
		rt.learn(model, api.EndpointChat)
		logFallback(r, model, api.EndpointMessages, api.EndpointChat, e)
		return false
	}
	out.answer(w, r, resp, &messagesDialect)
	return true
}

// setModel returns body with its top-level "model" replaced.
func setModel(body []byte, model string) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, err
	}
	top["model"], _ = json.Marshal(model)
	return json.Marshal(top)
}

// messagesTranslated answers a Messages request through Copilot's chat
// completions (to == EndpointChat) or /responses.
func messagesTranslated(w http.ResponseWriter, r *http.Request, up *upstream, models *modelCache, out *relayer, body []byte, model, to string) {
	req, e := anthropic.ParseRequest(body)
	if e != nil {
		middleware.WriteError(w, r, e)
		return
	}
	req.Model = model
	chat, notes, err := anthropic.ToChat(req)
	if err != nil {
		middleware.WriteError(w, r, api.NewError(api.CodeInvalidRequest, "The request cannot be translated for model '"+api.Clip(model, maxPathInMessage)+"': "+err.Error()))
		return
	}
	if len(notes) > 0 {
		middleware.LoggerFrom(r.Context()).Info().Str("model", model).Strs("notes", notes).
			Msg("messages request translated; some parts were dropped")
	}
	models.clampOutput(model, chat.MaxTokens)
	models.clampOutput(model, chat.MaxCompletionTokens)
	upPath, upBody, err := messagesUpstreamBody(chat, to)
	if err != nil {
		fail(w, r, api.NewError(api.CodeInternal, "could not encode the translated request"))
		return
	}
	peek, _ := anthropic.PeekRequest(body)
	resp, ok := up.send(w, r, call{method: http.MethodPost, path: upPath, body: upBody, stream: req.Stream,
		initiator: peek.Initiator(), vision: peek.HasImage})
	if !ok {
		return
	}
	defer closeAnswer(resp)
	messagesAnswer(w, r, out, resp, to, model)
}

// messagesUpstreamBody encodes the chat pivot for the upstream endpoint.
func messagesUpstreamBody(chat *openai.ChatRequest, to string) (string, []byte, error) {
	if to != api.EndpointResponses {
		b, err := json.Marshal(chat)
		return api.EndpointChat, b, err
	}
	rreq, err := responses.FromChat(chat)
	if err != nil {
		return "", nil, err
	}
	b, err := json.Marshal(rreq)
	return api.EndpointResponses, b, err
}

// messagesAnswer translates the upstream's answer to the Messages shape.
func messagesAnswer(w http.ResponseWriter, r *http.Request, out *relayer, resp *http.Response, from, model string) {
	id := "msg_" + strings.TrimPrefix(newResponseID(), "resp_")
	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		writeUpstreamError(w, r, resp)
	case isEventStream(resp.Header):
		tr := &chatToMessages{s: anthropic.NewStreamFromChat(id, model)}
		if from == api.EndpointResponses {
			tr.via = responses.NewStreamToChat(model)
		}
		out.translate(w, r, resp, tr, messagesDialect.ping)
	default:
		chat, ok := readChatAnswer(w, r, resp, from)
		if !ok {
			return
		}
		noteUsage(r, chat.Usage)
		msg, err := anthropic.MarshalMessage(anthropic.FromChatResponse(chat, model, id))
		if err != nil {
			fail(w, r, api.NewError(api.CodeInternal, "could not encode the answer"))
			return
		}
		writeRawJSON(w, http.StatusOK, append(msg, '\n'))
	}
}

// readChatAnswer reads a non-stream answer of chat completions or of
// /responses (converted to the chat pivot).
func readChatAnswer(w http.ResponseWriter, r *http.Request, resp *http.Response, from string) (*openai.ChatResponse, bool) {
	if from != api.EndpointResponses {
		var chat openai.ChatResponse
		return &chat, readTranslated(w, r, resp, &chat)
	}
	var rr responses.Response
	if !readTranslated(w, r, resp, &rr) {
		return nil, false
	}
	return responses.ToChatResponse(&rr), true
}

// handleCountTokens serves POST /v1/messages/count_tokens: Copilot has no
// such endpoint, so the count is a local estimate (see
// anthropic.CountTokens); nothing is sent upstream.
func handleCountTokens(bodies bodyReader) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, req, ok := readRequest(w, r, bodies, anthropic.ParseCountTokensRequest)
		if !ok {
			return
		}
		middleware.EntryFrom(r.Context()).SetModel(req.Model)
		middleware.WriteJSON(w, r, http.StatusOK, map[string]int{"input_tokens": anthropic.CountTokens(req)})
	}
}

// chatToMessages adapts anthropic.StreamFromChat: chat chunks from Copilot
// (or Responses events turned into chat chunks first, through via) become
// the Messages events Claude Code reads.
type chatToMessages struct {
	s    *anthropic.StreamFromChat
	via  *responses.StreamToChat // set when the upstream speaks Responses
	done bool
	u    api.Usage
	has  bool
}

func (t *chatToMessages) start() [][]byte { return encodeMessages(t.s.Start()) }

func (t *chatToMessages) event(typ string, data []byte) ([][]byte, error) {
	var chunks []openai.ChatChunk
	if t.via != nil {
		cs, err := t.via.Event(typ, data)
		if err != nil {
			return nil, err
		}
		chunks, t.done = cs, t.via.Done()
	} else {
		c, done, err := decodeChunk(data)
		if err != nil || done {
			t.done = t.done || done
			return nil, err
		}
		chunks = []openai.ChatChunk{c}
	}
	var out [][]byte
	for i := range chunks {
		if chunks[i].Usage != nil {
			t.u, t.has = chunks[i].Usage.API(), true
		}
		out = append(out, encodeMessages(t.s.Chunk(&chunks[i]))...)
	}
	return out, nil
}

func (t *chatToMessages) finish() ([][]byte, bool) {
	if !t.done {
		return nil, false
	}
	return encodeMessages(t.s.Finish()), true
}

func (t *chatToMessages) fail(e *api.Error) [][]byte {
	return encodeMessages(t.s.Fail(api.AnthropicType(e.HTTPStatus()), e.Message))
}

func (t *chatToMessages) usage() (api.Usage, bool) { return t.u, t.has }

func encodeMessages(evs []anthropic.Event) [][]byte {
	out := make([][]byte, len(evs))
	for i, ev := range evs {
		out[i] = ev.SSE()
	}
	return out
}
