package gateway

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// handleChat serves POST /v1/chat/completions: the body is read once,
// checked for the few fields the gateway needs and forwarded untouched; the
// answer is relayed event by event when it is a stream, copied otherwise.
// A model Copilot serves only at /responses is reached by translation
// (chatViaResponses), chosen from the model list or learned from an
// unsupported_api_for_model answer.
func handleChat(up *upstream, rt *router, bodies bodyReader, out *relayer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		resp, d, ok := sendChat(w, r, up, rt, bodies, out)
		if !ok {
			return
		}
		defer closeAnswer(resp)
		out.answer(w, r, resp, d)
	}
}

// sendChat reads, checks and sends a chat request, and returns Copilot's
// answer for the caller to relay. It reports false when the request has
// been answered already: refused, failed, or served through /responses.
// The parsed request lives in this frame only, not in the one that stays
// on the stack while a stream is relayed (see upstream.do).
func sendChat(w http.ResponseWriter, r *http.Request, up *upstream, rt *router, bodies bodyReader, out *relayer) (*http.Response, *dialect, bool) {
	body, req, ok := readRequest(w, r, bodies, api.ParseChatRequest)
	if ok {
		body, ok = admitRequest(w, r, rt.models, body, &req.Model, req.Stream, func() int64 {
			return middleware.OutputEstimate(req.OutputLimit)
		})
	}
	if !ok {
		return nil, nil, false
	}
	if rt.endpoint(req.Model, api.EndpointChat, api.EndpointResponses) != api.EndpointChat {
		chatViaResponses(w, r, up, rt.models, out, body, req)
		return nil, nil, false
	}

	// Ask for the usage chunk so every stream is accounted; the client
	// does not see it unless it asked for it itself.
	upBody, dropUsage := body, false
	if req.Stream && !req.IncludeUsage {
		if b, err := req.WithIncludeUsage(body); err == nil {
			upBody, dropUsage = b, true
		}
	}
	resp, ok := up.send(w, r, call{
		method: http.MethodPost, path: "/chat/completions", body: upBody,
		stream: req.Stream, initiator: req.Initiator(), vision: req.HasImage,
	})
	if !ok {
		return nil, nil, false
	}
	e, refused, answered := unsupportedAPI(w, r, resp)
	switch {
	case answered:
		resp.Body.Close()
		return nil, nil, false
	case refused:
		resp.Body.Close()
		rt.learn(req.Model, api.EndpointResponses)
		logFallback(r, req.Model, api.EndpointChat, api.EndpointResponses, e)
		chatViaResponses(w, r, up, rt.models, out, body, req)
		return nil, nil, false
	}
	d := chatDialect(dropUsage)
	return resp, &d, true
}

// readRequest reads the body and parses it with parse, the first step of
// every inference route. On failure it has answered the client.
func readRequest[R any](w http.ResponseWriter, r *http.Request, bodies bodyReader, parse func([]byte) (R, *api.Error)) (body []byte, req R, ok bool) {
	body, e := bodies.read(w, r)
	if e == nil {
		req, e = parse(body)
	}
	if e != nil {
		middleware.WriteError(w, r, e)
		return nil, req, false
	}
	return body, req, true
}

// bodyReader reads request bodies: JSON only, bounded in size and time.
type bodyReader struct {
	max     int64
	timeout time.Duration
}

// read checks the content type and reads the whole body, bounded by
// MaxBody (BodyLimit already wraps it; the second MaxBytesReader keeps the
// bound when the handler is mounted without it).
func (b bodyReader) read(w http.ResponseWriter, r *http.Request) ([]byte, *api.Error) {
	if e := checkJSONContentType(r.Header.Get("Content-Type")); e != nil {
		return nil, e
	}
	size := 512
	if n := r.ContentLength; n > 0 && n <= b.max {
		size = int(n) + 1 // +1 so ReadFrom sees EOF without growing
	}
	// Read into one exactly sized slice: bytes.Buffer.ReadFrom would want
	// 512 free bytes before each read and so double a Content-Length-sized
	// buffer on every request.
	buf := make([]byte, 0, size)
	rd := http.MaxBytesReader(w, r.Body, b.max)
	// The request already holds its rate-limit slots: a client trickling its
	// body must not keep them forever. The deadline covers the body only:
	// once the body hits EOF, net/http's background read (which watches for
	// the client leaving) clears it itself, so the (possibly long) answer is
	// not cut. On failure the deadline stays set: net/http then drops the
	// rest of the body at once instead of waiting for it after the handler
	// returns.
	// A socket deadline is wall-clock time, whatever clock the server runs
	// on: it is the one reading of the real clock.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(b.timeout))
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grow (no or a wrong Content-Length)
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			if middleware.IsBodyTooLarge(err) {
				return nil, middleware.BodyTooLargeError(b.max)
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, api.NewError(api.CodeInvalidRequest, "the request body did not arrive within "+b.timeout.String())
			}
			return nil, api.NewError(api.CodeInvalidRequest, "could not read the request body")
		}
	}
}

// checkJSONContentType accepts only JSON types (application/json and
// application/*+json); anything else, such as curl -d's form type or
// text/plain, is a 415 that says what to send. A missing content type is a
// 415 too: the SDKs always send one, and a body without one is what a
// cross-site "simple" request from a web page looks like.
func checkJSONContentType(ct string) *api.Error {
	if ct == "application/json" { // what every SDK sends: no parse, no map
		return nil
	}
	if strings.TrimSpace(ct) == "" {
		return api.NewError(api.CodeUnsupportedMediaType,
			"the request has no Content-Type; send the body as JSON with Content-Type: application/json")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return nil
	}
	ct = api.Clip(ct, 100)
	return api.NewError(api.CodeUnsupportedMediaType,
		"Content-Type "+strconv.Quote(ct)+" is not supported; send the body as JSON with Content-Type: application/json")
}

// isEventStream reports an SSE response.
func isEventStream(h http.Header) bool {
	ct := h.Get("Content-Type")
	switch ct { // the usual answers, without a parse
	case "text/event-stream":
		return true
	case "application/json":
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "text/event-stream"
}

// passHeaders are the only upstream headers a client gets on a non-stream
// answer: the ones that describe the body. Everything else (hop-by-hop,
// Set-Cookie, x-quota-snapshot-*, GitHub internals) stays inside.
var passHeaders = [...]string{"Content-Type", "Content-Encoding"}

// copy passes a non-stream 2xx answer through: status, the body's
// headers and the body bytes, copied as they arrive, never buffered whole.
func (rl *relayer) copy(w http.ResponseWriter, r *http.Request, resp *http.Response) {
	h := w.Header()
	copyHeaders(h, resp.Header, passHeaders[:]...)
	if resp.ContentLength >= 0 {
		h.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	w.WriteHeader(resp.StatusCode)
	tail := rl.tails.Get().(*tailReader)
	tail.reset(resp.Body)
	defer func() {
		tail.reset(nil)
		rl.tails.Put(tail)
	}()
	src := &errReader{r: tail}
	_, err := io.CopyBuffer(writerOnly{w}, src, tail.copyBuf[:])
	entry := middleware.EntryFrom(r.Context())
	if u, ok := api.TailUsage(tail.bytes()); ok {
		entry.SetUsage(u)
	}
	if n, ok := api.ReportedCost(tail.bytes()); ok {
		entry.SetReportedCost(n)
	}
	if err != nil {
		if src.err == nil || clientGone(r) {
			// The client stopped reading; nothing more to do.
			return
		}
		middleware.EntryFrom(r.Context()).SetErrorCode(string(api.CodeUpstreamError))
		middleware.LoggerFrom(r.Context()).Warn().Str("error", api.Redact(src.err.Error())).Msg("upstream body broke after the response started")
		// The status is sent: abort the connection so the client sees a
		// broken response instead of a truncated body that looks complete.
		panic(http.ErrAbortHandler)
	}
}

// errReader remembers a read error so a copy failure can be blamed on the
// right side.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		e.err = err
	}
	return n, err
}

// tailSize is how much of the end of a non-stream body is kept to read its
// usage object, which comes after the choices.
const tailSize = 4 << 10

// tailReader passes a body through while keeping its last tailSize bytes, so
// a response of any size is accounted without being buffered.
type tailReader struct {
	r   io.Reader
	buf [tailSize]byte
	n   int
	// copyBuf is the pooled buffer the body is copied through: without
	// it, net/http's ReadFrom falls back to io.Copy, which allocates 32 KiB
	// per answer (a body reader is neither a file nor a socket, so there is
	// no sendfile or splice to lose).
	copyBuf [copyBufferSize]byte
}

// copyBufferSize is the chunk a non-stream body is copied in; answers are
// mostly a few KiB.
const copyBufferSize = 8 << 10

// writerOnly hides a writer's ReadFrom so io.CopyBuffer uses the buffer.
type writerOnly struct{ io.Writer }

func (t *tailReader) reset(r io.Reader) { t.r, t.n = r, 0 }

func (t *tailReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.keep(p[:n])
	}
	return n, err
}

func (t *tailReader) keep(b []byte) {
	if len(b) >= tailSize {
		t.n = copy(t.buf[:], b[len(b)-tailSize:])
		return
	}
	if over := t.n + len(b) - tailSize; over > 0 {
		copy(t.buf[:], t.buf[over:t.n])
		t.n -= over
	}
	t.n += copy(t.buf[t.n:], b)
}

func (t *tailReader) bytes() []byte { return t.buf[:t.n] }

// deref is *p, 0 for nil.
func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
