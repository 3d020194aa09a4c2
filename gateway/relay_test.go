package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/copilot-proxy/copilot-proxy/gateway"
)

// pipeUpstream answers every call with a stream whose bytes the test writes
// through pw, so the test controls timing. When the call's context ends it
// records the moment and closes the pipe, as a real transport would.
type pipeUpstream struct {
	pr        *io.PipeReader
	pw        *io.PipeWriter
	cancelled chan time.Time
	once      sync.Once
}

func newPipeUpstream() *pipeUpstream {
	pr, pw := io.Pipe()
	return &pipeUpstream{pr: pr, pw: pw, cancelled: make(chan time.Time, 1)}
}

func (p *pipeUpstream) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path == "/models" {
		return response(http.StatusNotFound, jsonHeader(), `{"error":{"message":"no model list here"}}`), nil
	}
	ctx := req.Context()
	p.once.Do(func() {
		go func() {
			<-ctx.Done()
			p.cancelled <- time.Now()
			_ = p.pw.CloseWithError(ctx.Err())
		}()
	})
	return &http.Response{
		StatusCode:    http.StatusOK,
		Header:        http.Header{"Content-Type": {"text/event-stream"}},
		Body:          p.pr,
		ContentLength: -1,
	}, nil
}

// write sends upstream bytes, failing the test if the relay stopped reading.
func (p *pipeUpstream) write(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(p.pw, s); err != nil {
		t.Fatalf("upstream write: %v", err)
	}
}

const streamBody = `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`

const streamWithUsageBody = `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`

// openStream starts a streaming chat request and returns the response with
// a reader over its body, and the cancel function of the client's request.
func openStream(t *testing.T, ts *httptest.Server) (*http.Response, *bufio.Reader, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLimit)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/v1/chat/completions", strings.NewReader(streamBody))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, bufio.NewReader(resp.Body), cancel
}

// readEventWithin reads one event or fails after waitLimit.
func readEventWithin(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	type res struct {
		ev  string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		ev, err := readEvent(br)
		ch <- res{ev, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("reading event: %v (got %q)", r.err, r.ev)
		}
		return r.ev
	case <-time.After(waitLimit):
		t.Fatal("no event within the wait limit")
		return ""
	}
}

func TestStreamHeadersAndFirstEventBeforeUpstreamContinues(t *testing.T) {
	t.Parallel()
	up := newPipeUpstream()
	ts := start(t, up)
	resp, br, _ := openStream(t, ts)

	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control = %q", cc)
	}
	if xa := resp.Header.Get("X-Accel-Buffering"); xa != "no" {
		t.Errorf("X-Accel-Buffering = %q", xa)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id")
	}

	ev1 := "data: {\"choices\":[],\"prompt_filter_results\":[]}\n\n"
	up.write(t, ev1)
	// The upstream now pauses: event 1 must already be at the client.
	if got := readEventWithin(t, br); got != ev1 {
		t.Fatalf("event 1 = %q", got)
	}
	ev2 := "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"
	up.write(t, ev2)
	if got := readEventWithin(t, br); got != ev2 {
		t.Fatalf("event 2 = %q", got)
	}
	up.write(t, "data: [DONE]\n\n")
	if got := readEventWithin(t, br); got != "data: [DONE]\n\n" {
		t.Fatalf("last event = %q", got)
	}
	_ = up.pw.Close()
	if rest, _ := io.ReadAll(br); len(rest) != 0 {
		t.Errorf("bytes after [DONE]: %q", rest)
	}
}

func TestStreamBytesUntouched(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 200<<10) // one line far over 64 KiB
	stream := ": comment from upstream\n\n" +
		"data: {\"choices\":[],\"prompt_filter_results\":[{\"content_filter_results\":{}}]}\n\n" +
		"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + long + "\"}}],\"copilot_references\":[]}\n\n" +
		"event: custom\nid: 7\nretry: 100\ndata: {\"x\":1}\n\n" +
		"data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"a\\\"\"}}]}}],\"content_filter_offsets\":{}}\r\n\r\n" +
		"data: line one\ndata: line two\n\n" +
		"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":9,\"total_tokens\":14}}\n\n" +
		"data: [DONE]\n\n"
	tests := []struct {
		name string
		body func() io.Reader
	}{
		{"whole", func() io.Reader { return strings.NewReader(stream) }},
		{"one byte per read", func() io.Reader { return iotest.OneByteReader(strings.NewReader(stream)) }},
		{"half reads", func() io.Reader { return iotest.HalfReader(strings.NewReader(stream)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := upstreamFunc(func(ctx context.Context, call *upCall) (*http.Response, error) {
				return &http.Response{
					StatusCode:    http.StatusOK,
					Header:        http.Header{"Content-Type": {"text/event-stream; charset=utf-8"}},
					Body:          io.NopCloser(tt.body()),
					ContentLength: -1,
				}, nil
			})
			ts := start(t, up)
			// The client asks for usage, so even the usage chunk is its own.
			resp, body := post(t, ts, "/v1/chat/completions", streamWithUsageBody)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if string(body) != stream {
				t.Errorf("relayed stream differs: got %d bytes, want %d", len(body), len(stream))
				for i := range min(len(body), len(stream)) {
					if body[i] != stream[i] {
						t.Errorf("first difference at byte %d: %q vs %q", i, body[max(0, i-20):min(len(body), i+20)], stream[max(0, i-20):min(len(stream), i+20)])
						break
					}
				}
			}
		})
	}
}

// An upstream that ends without the final blank line still gets its last
// event delivered, terminated.
func TestStreamUnterminatedLastEvent(t *testing.T) {
	t.Parallel()
	up := upstreamFunc(func(ctx context.Context, call *upCall) (*http.Response, error) {
		return &http.Response{
			StatusCode: http.StatusOK,
			Header:     http.Header{"Content-Type": {"text/event-stream"}},
			Body:       io.NopCloser(strings.NewReader("data: {\"a\":1}\n\ndata: [DONE]")),
		}, nil
	})
	ts := start(t, up)
	_, body := post(t, ts, "/v1/chat/completions", streamBody)
	if want := "data: {\"a\":1}\n\ndata: [DONE]\n\n"; string(body) != want {
		t.Errorf("body = %q, want %q", body, want)
	}
}

func TestStreamKeepalive(t *testing.T) {
	t.Parallel()
	up := newPipeUpstream()
	ts := start(t, up, withConfig(gateway.Config{Keepalive: 50 * time.Millisecond}))
	_, br, _ := openStream(t, ts)

	ev1 := "data: {\"n\":1}\n\n"
	up.write(t, ev1)
	if got := readEventWithin(t, br); got != ev1 {
		t.Fatalf("event 1 = %q", got)
	}
	// Silence: pings come, and keep coming while it lasts.
	for i := range 2 {
		if got := readEventWithin(t, br); got != ": ping\n\n" {
			t.Fatalf("during silence, event %d = %q, want a ping", i, got)
		}
	}
	ev2 := "data: {\"n\":2}\n\n"
	up.write(t, ev2)
	for {
		got := readEventWithin(t, br)
		if got == ": ping\n\n" {
			continue // one may have been in flight when event 2 was written
		}
		if got != ev2 {
			t.Fatalf("after the silence, event = %q", got)
		}
		break
	}
	up.write(t, "data: [DONE]\n\n")
	_ = up.pw.Close()
	rest, _ := io.ReadAll(br)
	if !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
		t.Errorf("tail = %q", rest)
	}
}

func TestStreamUpstreamErrorMidStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		err      error
		wantCode string
		wantMsg  string
	}{
		{"dropped connection", errBoom, "upstream_error", "upstream stream broke: connection reset by peer"},
		{"unexpected EOF", io.ErrUnexpectedEOF, "upstream_error", "upstream stream broke: unexpected EOF"},
		{"idle timeout", timeoutError{}, "upstream_timeout", "upstream stream idle timeout: read timeout after 5m0s of silence"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := newPipeUpstream()
			ts := start(t, up)
			_, br, _ := openStream(t, ts)
			ev1 := "data: {\"n\":1}\n\n"
			up.write(t, ev1)
			if got := readEventWithin(t, br); got != ev1 {
				t.Fatalf("event 1 = %q", got)
			}
			// Half an event, then the failure: the half is dropped.
			up.write(t, "data: {\"n\":")
			_ = up.pw.CloseWithError(tt.err)
			ev := readEventWithin(t, br)
			data, ok := strings.CutPrefix(ev, "data: ")
			if !ok || !strings.HasSuffix(ev, "\n\n") {
				t.Fatalf("final event = %q", ev)
			}
			var e envelope
			if err := json.Unmarshal([]byte(data), &e); err != nil || e.Error == nil {
				t.Fatalf("final event is not an error envelope: %q", ev)
			}
			if e.Error.Code != tt.wantCode || e.Error.Message != tt.wantMsg {
				t.Errorf("error = %q %q, want %q %q", e.Error.Code, e.Error.Message, tt.wantCode, tt.wantMsg)
			}
			if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
				t.Errorf("after the error event: %q, %v (want a clean end)", rest, err)
			}
		})
	}
}

func TestStreamClientDisconnectCancelsUpstream(t *testing.T) {
	t.Parallel()
	up := newPipeUpstream()
	ts := start(t, up)
	_, br, cancel := openStream(t, ts)
	up.write(t, "data: {\"n\":1}\n\n")
	readEventWithin(t, br)

	// The upstream is now silent, as during a long generation; the client
	// leaves.
	left := time.Now()
	cancel()
	select {
	case at := <-up.cancelled:
		// Event-driven (connection close -> context cancel), so the bound
		// holds even on a busy machine.
		if d := at.Sub(left); d > 100*time.Millisecond {
			t.Errorf("upstream cancelled %v after the client left, want < 100ms", d)
		}
	case <-time.After(waitLimit):
		t.Fatal("upstream context not cancelled after the client left")
	}
}

// A client that asked for a stream but got a JSON answer gets it copied.
func TestStreamRequestWithJSONAnswer(t *testing.T) {
	t.Parallel()
	up := upstreamFunc(func(ctx context.Context, call *upCall) (*http.Response, error) {
		return response(http.StatusOK, jsonHeader(), `{"id":"x"}`), nil
	})
	ts := start(t, up)
	resp, body := post(t, ts, "/v1/chat/completions", streamBody)
	if resp.StatusCode != 200 || string(body) != `{"id":"x"}` {
		t.Errorf("got %d %s", resp.StatusCode, body)
	}
}

// An upstream error before the stream starts is a normal error response.
func TestStreamUpstreamErrorBeforeStart(t *testing.T) {
	t.Parallel()
	up := upstreamFunc(func(ctx context.Context, call *upCall) (*http.Response, error) {
		return response(http.StatusTooManyRequests, http.Header{"Retry-After": {"3"}}, `{"error":{"message":"slow down"}}`), nil
	})
	ts := start(t, up)
	resp, body := post(t, ts, "/v1/chat/completions", streamBody)
	e := wantEnvelope(t, resp, body, 429, "rate_limit_exceeded")
	if e.Error.Message != "slow down" || resp.Header.Get("Retry-After") != "3" {
		t.Errorf("got %q, Retry-After %q", e.Error.Message, resp.Header.Get("Retry-After"))
	}
}

// A client that did not ask for usage does not see the usage chunk the
// gateway asked for on its behalf; everything else arrives untouched, and
// the upstream body is the client's with include_usage added.
func TestStreamUsageChunkHiddenUnlessAsked(t *testing.T) {
	t.Parallel()
	events := "data: {\"choices\":[],\"prompt_filter_results\":[]}\n\n" +
		"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n"
	usage := "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":9,\"total_tokens\":14}}\n\n"
	done := "data: [DONE]\n\n"
	var sent []byte
	up := upstreamFunc(func(ctx context.Context, call *upCall) (*http.Response, error) {
		sent = call.Body
		return &http.Response{
			StatusCode: http.StatusOK,
			Header:     http.Header{"Content-Type": {"text/event-stream"}},
			Body:       io.NopCloser(strings.NewReader(events + usage + done)),
		}, nil
	})
	ts := start(t, up)
	_, body := post(t, ts, "/v1/chat/completions", streamBody)
	if string(body) != events+done {
		t.Fatalf("client got %q", body)
	}
	if want := `{"stream_options":{"include_usage":true},` + streamBody[1:]; string(sent) != want {
		t.Fatalf("upstream body %s, want %s", sent, want)
	}
	_, body = post(t, ts, "/v1/chat/completions", streamWithUsageBody)
	if string(body) != events+usage+done {
		t.Fatalf("client that asked got %q", body)
	}
	if string(sent) != streamWithUsageBody {
		t.Fatalf("a body that asks for usage itself must go unchanged, got %s", sent)
	}
}
