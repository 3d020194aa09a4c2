package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/gateway"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// A client that trickles its body is cut after BodyReadTimeout, and the
// rate-limit slot it held is free again for the next request.
func TestSlowBodyIsCutAndFreesItsSlot(t *testing.T) {
	t.Parallel()
	lim := middleware.NewLimiter(middleware.LimitConfig{GlobalConcurrency: 1})
	t.Cleanup(lim.Close)
	up := upstreamFunc(func(ctx context.Context, call *upCall) (*http.Response, error) {
		return response(200, jsonHeader(), `{"choices":[]}`), nil
	})
	ts := start(t, up, func(d *gateway.Deps) {
		d.Limiter = lim
		d.Config.BodyReadTimeout = 200 * time.Millisecond
	})

	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write([]byte("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"model\":"))
	_ = conn.SetReadDeadline(time.Now().Add(waitLimit))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the slow request got no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("slow body: status %d, want 400", resp.StatusCode)
	}

	// The one global slot is free again.
	r, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/chat/completions", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"x"}]}`))
	r.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("next request: %d, want 200 (slot still held?)", resp.StatusCode)
	}
}

// slowEvents is an upstream stream body that sends one event per read, each
// after a pause.
type slowEvents struct {
	events []string
	pause  time.Duration
}

func (s *slowEvents) Read(p []byte) (int, error) {
	if len(s.events) == 0 {
		return 0, io.EOF
	}
	time.Sleep(s.pause)
	n := copy(p, s.events[0])
	s.events[0] = s.events[0][n:]
	if s.events[0] == "" {
		s.events = s.events[1:]
	}
	return n, nil
}

func (s *slowEvents) Close() error { return nil }

// The body read deadline covers the body only: a stream answer lasting far
// longer than BodyReadTimeout is relayed to its end.
func TestStreamOutlivesBodyReadTimeout(t *testing.T) {
	t.Parallel()
	var events []string
	for i := range 7 {
		events = append(events, fmt.Sprintf("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%d\"}}]}\n\n", i))
	}
	events = append(events, "data: [DONE]\n\n")
	up := upstreamFunc(func(ctx context.Context, call *upCall) (*http.Response, error) {
		return &http.Response{
			StatusCode: http.StatusOK,
			Header:     http.Header{"Content-Type": {"text/event-stream"}},
			Body:       &slowEvents{events: slices.Clone(events), pause: 100 * time.Millisecond}, // 800ms in all
		}, nil
	})
	ts := start(t, up, func(d *gateway.Deps) { d.Config.BodyReadTimeout = 200 * time.Millisecond })

	begin := time.Now()
	resp, body := do(t, ts, http.MethodPost, "/v1/chat/completions", "application/json",
		`{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if took := time.Since(begin); took < 700*time.Millisecond {
		t.Fatalf("the stream took %v, not longer than the body timeout", took)
	}
	if want := strings.Join(events, ""); string(body) != want {
		t.Fatalf("stream cut or altered:\ngot  %q\nwant %q", body, want)
	}
}
