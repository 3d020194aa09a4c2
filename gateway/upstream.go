package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/copilot"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// upstream is the Copilot API as the handlers see it: plain HTTP requests to
// a base URL, sent through a transport that adds the token and the editor
// identity (copilot.Transport). A new endpoint needs nothing here but its
// path.
type upstream struct {
	rt   http.RoundTripper
	base string // no trailing slash
	now  func() time.Time
}

func newUpstream(rt http.RoundTripper, base string, now func() time.Time) *upstream {
	if base = strings.TrimRight(base, "/"); base == "" {
		base = copilot.DefaultBaseURL
	}
	return &upstream{rt: rt, base: base, now: now}
}

// call is one upstream request of a handler.
type call struct {
	method, path string
	body         []byte      // sent as is; nil for a GET
	stream       bool        // the answer will be an SSE stream
	initiator    string      // X-Initiator: "user", "agent" or "" (left out)
	vision       bool        // a message has an image part
	header       http.Header // more request headers (anthropic-version, anthropic-beta)
}

// request builds the HTTP request of c under ctx, with the request id of
// ctx as X-Request-Id so the upstream call and the access log line match.
//
// The body is read from a reader that lets go of the bytes once they are
// sent, and GetBody (the transport's replay for the retry after a 401, only
// ever called before Do returns) lets go of them when release is called:
// the response keeps the request for the whole stream, and would otherwise
// keep the body alive with it.
func (u *upstream) request(ctx context.Context, c call) (req *http.Request, release func()) {
	req, err := http.NewRequestWithContext(ctx, c.method, u.base+c.path, nil)
	if err != nil {
		panic("gateway: bad upstream URL " + u.base + c.path) // base is validated by the cmd
	}
	release = func() {}
	if c.body != nil {
		body := c.body
		req.ContentLength = int64(len(body))
		req.Body = &onceBody{b: body}
		req.GetBody = func() (io.ReadCloser, error) {
			if body == nil {
				return nil, errors.New("gateway: request body already released")
			}
			return &onceBody{b: body}, nil
		}
		release = func() { body = nil }
		req.Header.Set("Content-Type", "application/json")
	}
	h := req.Header
	if c.stream {
		h.Set("Accept", "text/event-stream")
	} else {
		h.Set("Accept", "application/json")
	}
	if id := middleware.RequestIDFrom(ctx); id != "" {
		h.Set(copilot.HeaderRequestID, id)
	}
	if c.initiator != "" {
		h.Set(copilot.HeaderInitiator, c.initiator)
	}
	if c.vision {
		h.Set(copilot.HeaderVision, "true")
	}
	for k, v := range c.header {
		h[k] = v
	}
	return req, release
}

// do sends c; the caller closes the response body. A stream's round trip
// runs off the handler's stack (see offStack) when that goroutine may stay
// for the stream's whole life. It runs in place when the stream can be
// detached: its handler goroutine then ends as the stream starts (see
// middleware.Detach), and one goroutine handoff fewer brings the first
// event sooner.
func (u *upstream) do(ctx context.Context, c call) (*http.Response, error) {
	req, release := u.request(ctx, c)
	defer release()
	if !c.stream || middleware.Detachable(ctx) {
		return u.rt.RoundTrip(req)
	}
	return offStack(func() (*http.Response, error) { return u.rt.RoundTrip(req) })
}

// send sends c with the client's context, so a client that leaves cancels
// the call, and notes the upstream status and time to headers on the
// request's Entry. On failure it has answered the client and returns false.
func (u *upstream) send(w http.ResponseWriter, r *http.Request, c call) (*http.Response, bool) {
	start := u.now()
	resp, err := u.do(r.Context(), c)
	if err != nil {
		fail(w, r, err)
		return nil, false
	}
	entry := middleware.EntryFrom(r.Context())
	entry.SetUpstream(resp.StatusCode, u.now().Sub(start))
	if v := resp.Header.Get(api.HeaderCost); v != "" {
		if n, ok := api.ParseNano([]byte(v)); ok {
			entry.SetReportedCost(n)
		}
	}
	return resp, true
}

// onceBody is a request body read once from a byte slice, dropping its
// reference to the slice when the whole of it has been read.
type onceBody struct {
	b []byte
}

func (o *onceBody) Read(p []byte) (int, error) {
	if len(o.b) == 0 {
		o.b = nil
		return 0, io.EOF
	}
	n := copy(p, o.b)
	o.b = o.b[n:]
	if len(o.b) == 0 {
		o.b = nil
	}
	return n, nil
}

func (o *onceBody) Close() error { return nil }

// upstreamError maps an error from the upstream client (see copilot.Transport)
// to the client's error: no Copilot token or no allowed endpoint is 503
// copilot_unavailable with the reason; a timeout is 504; anything else, a
// redirect included, is 502.
func upstreamError(err error) *api.Error {
	if ue, ok := errors.AsType[*copilot.UnavailableError](err); ok {
		return api.NewError(api.CodeCopilotUnavailable, "Copilot is unavailable: "+api.Redact(ue.Error()))
	}
	if isTimeout(err) {
		return api.NewError(api.CodeUpstreamTimeout, "Copilot did not answer within the upstream timeout")
	}
	return api.NewError(api.CodeUpstreamError, "could not reach Copilot: "+shortReason(err))
}
