package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/copilot-proxy/copilot-proxy/copilot"
	"github.com/copilot-proxy/copilot-proxy/gateway"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitLimit bounds every wait in these tests: generous, so a busy machine
// never fails them, and still finite, so a bug cannot hang the suite.
const waitLimit = 15 * time.Second

// start serves a gateway over loopback with up as the transport of its
// upstream client.
func start(t *testing.T, up http.RoundTripper, mods ...func(*gateway.Deps)) *httptest.Server {
	t.Helper()
	d := gateway.Deps{Logger: zerolog.New(io.Discard), Upstream: up}
	for _, m := range mods {
		m(&d)
	}
	return serve(t, gateway.NewServer(d))
}

// serve serves srv over loopback.
func serve(t *testing.T, srv *gateway.Server) *httptest.Server {
	t.Helper()
	t.Cleanup(srv.Close) // after ts.Close: cleanups run last in, first out
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts
}

func withConfig(c gateway.Config) func(*gateway.Deps) {
	return func(d *gateway.Deps) { d.Config = c }
}

// response builds an upstream answer.
func response(status int, header http.Header, body string) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	return &http.Response{
		StatusCode:    status,
		Header:        header,
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
	}
}

func jsonHeader() http.Header {
	return http.Header{"Content-Type": {"application/json"}}
}

// upCall is one upstream request as these tests look at it.
type upCall struct {
	Method, Path string // e.g. POST "/chat/completions"
	Body         []byte
	Initiator    string // X-Initiator
	Vision       bool   // Copilot-Vision-Request: true
	RequestID    string // X-Request-Id
	Stream       bool   // Accept: text/event-stream
	Header       http.Header
}

// readCall reads req into an upCall.
func readCall(req *http.Request) (*upCall, error) {
	c := &upCall{
		Method:    req.Method,
		Path:      req.URL.Path,
		Initiator: req.Header.Get("X-Initiator"),
		Vision:    req.Header.Get("Copilot-Vision-Request") == "true",
		RequestID: req.Header.Get("X-Request-Id"),
		Stream:    req.Header.Get("Accept") == "text/event-stream",
		Header:    req.Header.Clone(),
	}
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body.Close()
		c.Body = b
	}
	return c, nil
}

// upstreamFunc is an upstream transport answering with a function.
type upstreamFunc func(ctx context.Context, call *upCall) (*http.Response, error)

func (f upstreamFunc) RoundTrip(req *http.Request) (*http.Response, error) {
	c, err := readCall(req)
	if err != nil {
		return nil, err
	}
	return f(req.Context(), c)
}

// recorder is an upstream transport that records its calls and answers
// with fn.
type recorder struct {
	mu    sync.Mutex
	calls []upCall
	fn    func(ctx context.Context, call *upCall) (*http.Response, error)
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	c, err := readCall(req)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.calls = append(r.calls, *c)
	r.mu.Unlock()
	return r.fn(req.Context(), c)
}

func (r *recorder) Calls() []upCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]upCall(nil), r.calls...)
}

// post sends a JSON body and returns the response with its body read.
func post(t *testing.T, ts *httptest.Server, path, body string) (*http.Response, []byte) {
	t.Helper()
	return do(t, ts, http.MethodPost, path, "application/json", body)
}

func do(t *testing.T, ts *httptest.Server, method, path, contentType, body string) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// envelope is the OpenAI error body as a client decodes it.
type envelope struct {
	Error *struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    string  `json:"code"`
	} `json:"error"`
}

// wantEnvelope checks an error response: status, the envelope with all four
// keys, the request id header.
func wantEnvelope(t *testing.T, resp *http.Response, body []byte, status int, code string) envelope {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status = %d, want %d (body %s)", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id on the error response")
	}
	var raw map[string]map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("body is not an envelope: %s", body)
	}
	for _, k := range []string{"message", "type", "param", "code"} {
		if _, ok := raw["error"][k]; !ok {
			t.Errorf("envelope lacks error.%s: %s", k, body)
		}
	}
	var e envelope
	_ = json.Unmarshal(body, &e)
	if e.Error == nil {
		t.Fatalf("no error in %s", body)
	}
	if code != "" && e.Error.Code != code {
		t.Errorf("code = %q, want %q (message %q)", e.Error.Code, code, e.Error.Message)
	}
	return e
}

// timeoutError is a net.Error-like timeout, as the copilot client returns.
type timeoutError struct{}

func (timeoutError) Error() string   { return "read timeout after 5m0s of silence" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

var errBoom = errors.New("connection reset by peer")

// readEvent reads one SSE event (through its blank line) from br.
func readEvent(br *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), err
		}
		if line == "\n" || line == "\r\n" {
			return b.String(), nil
		}
	}
}

// unavailable is the transport's error when no Copilot token can be had.
func unavailable(cause error) error { return &copilot.UnavailableError{Cause: cause} }
