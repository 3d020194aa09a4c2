package gateway

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/api/openai"
	"github.com/copilot-proxy/copilot-proxy/api/responses"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// maxTranslatedBody bounds a non-stream answer the gateway must decode to
// translate: far above any real completion.
const maxTranslatedBody = 64 << 20

var doneData = []byte("[DONE]")

// chatToResponses adapts responses.StreamFromChat: chat chunks from Copilot
// become the Responses events a Responses client (Codex) reads.
type chatToResponses struct {
	s    *responses.StreamFromChat
	done bool
	u    api.Usage
	has  bool
}

func (t *chatToResponses) start() [][]byte { return encodeResponses(t.s.Start()) }

func (t *chatToResponses) event(_ string, data []byte) ([][]byte, error) {
	c, done, err := decodeChunk(data)
	if err != nil || done {
		t.done = t.done || done
		return nil, err
	}
	if c.Usage != nil {
		t.u, t.has = c.Usage.API(), true
	}
	return encodeResponses(t.s.Chunk(&c)), nil
}

func (t *chatToResponses) finish() ([][]byte, bool) {
	if !t.done {
		return nil, false
	}
	return encodeResponses(t.s.Finish()), true
}

func (t *chatToResponses) fail(e *api.Error) [][]byte {
	return encodeResponses(t.s.Fail(e.Message, string(e.Code)))
}

func (t *chatToResponses) usage() (api.Usage, bool) { return t.u, t.has }

func encodeResponses(evs []responses.Event) [][]byte {
	out := make([][]byte, len(evs))
	for i, ev := range evs {
		out[i] = sseEvent(ev.Type, ev.Data)
	}
	return out
}

// responsesToChat adapts responses.StreamToChat: Responses events from
// Copilot become the chat chunks a chat client reads. The usage chunk is
// withheld unless the client asked for it (stream_options.include_usage),
// as on the native chat path.
type responsesToChat struct {
	s            *responses.StreamToChat
	includeUsage bool
	u            api.Usage
	has          bool
}

func (t *responsesToChat) start() [][]byte { return nil }

func (t *responsesToChat) event(typ string, data []byte) ([][]byte, error) {
	chunks, err := t.s.Event(typ, data)
	out := make([][]byte, 0, len(chunks))
	for i := range chunks {
		c := &chunks[i]
		if c.Usage != nil {
			t.u, t.has = c.Usage.API(), true
			if !t.includeUsage && len(c.Choices) == 0 {
				continue
			}
		}
		b, merr := json.Marshal(c)
		if merr != nil {
			return out, merr
		}
		out = append(out, sseEvent("", b))
	}
	return out, err
}

func (t *responsesToChat) finish() ([][]byte, bool) {
	if !t.s.Done() {
		return nil, false
	}
	return [][]byte{sseEvent("", doneData)}, true
}

func (t *responsesToChat) fail(e *api.Error) [][]byte { return [][]byte{api.ErrorEvent(e)} }

func (t *responsesToChat) usage() (api.Usage, bool) { return t.u, t.has }

// chunkError is the message of an error object inside a chat stream
// (`data: {"error":{...}}`), "" for an ordinary chunk.
func chunkError(data []byte) string {
	if !bytes.Contains(data, []byte(`"error"`)) {
		return ""
	}
	var e struct {
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &e) != nil || e.Error == nil {
		return ""
	}
	return "the upstream reported: " + e.Error.Message
}

// readTranslated reads and decodes a non-stream answer to translate. On
// failure it has answered the client (502: Copilot's answer is unusable).
func readTranslated(w http.ResponseWriter, r *http.Request, resp *http.Response, v any) bool {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTranslatedBody+1))
	switch {
	case err != nil:
		fail(w, r, err)
		return false
	case len(body) > maxTranslatedBody:
		middleware.WriteError(w, r, api.NewError(api.CodeUpstreamError, "Copilot returned an answer over "+strconv.Itoa(maxTranslatedBody>>20)+" MiB"))
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		middleware.WriteError(w, r, api.NewError(api.CodeUpstreamError, "Copilot returned an answer that cannot be translated: "+api.Clip(err.Error(), 200)))
		return false
	}
	if n, ok := api.ReportedCost(body); ok {
		middleware.EntryFrom(r.Context()).SetReportedCost(n)
	}
	return true
}

// noteUsage records a translated answer's usage on the Entry.
func noteUsage(r *http.Request, u *openai.Usage) {
	if u != nil {
		middleware.EntryFrom(r.Context()).SetUsage(u.API())
	}
}

// unsupportedAPI reads a 400 answer: refused reports Copilot's
// unsupported_api_for_model (the model is served at another endpoint); any
// other 400 has been answered. Other statuses are left to the caller.
func unsupportedAPI(w http.ResponseWriter, r *http.Request, resp *http.Response) (e *api.Error, refused, answered bool) {
	if resp.StatusCode != http.StatusBadRequest {
		return nil, false, false
	}
	e, err := readUpstreamError(resp)
	if err != nil {
		fail(w, r, err)
		return nil, false, true
	}
	if e.Code == codeUnsupportedAPI {
		return e, true, false
	}
	middleware.WriteError(w, r, e)
	return e, false, true
}

// logFallback says in the log that a request went another way than asked.
func logFallback(r *http.Request, model, from, to string, e *api.Error) {
	ev := middleware.LoggerFrom(r.Context()).Info().Str("model", model).Str("from", from).Str("to", to)
	if e != nil {
		ev = ev.Str("upstream_error", api.Clip(e.Message, 300))
	}
	ev.Msg("model not served at the client's endpoint; translating")
}

// newResponseID is a fresh Responses id for a translated answer.
func newResponseID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "resp_" + hex.EncodeToString(b[:])
}

// decodeChunk reads one event of an upstream chat stream: done at [DONE],
// an error for an error object or a chunk that is not JSON.
func decodeChunk(data []byte) (openai.ChatChunk, bool, error) {
	var c openai.ChatChunk
	if bytes.Equal(bytes.TrimSpace(data), doneData) {
		return c, true, nil
	}
	if msg := chunkError(data); msg != "" {
		return c, false, errors.New(msg)
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, false, errors.New("the upstream sent a chunk that is not JSON")
	}
	return c, false, nil
}
