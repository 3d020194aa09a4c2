package main

// Fault-matrix rows that need finer control than `run serve` gives: the
// gateway built with gateway.NewServer on a loopback http.Server.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/gateway"
)

// loopbackGateway serves h on 127.0.0.1 with the timeouts serve uses and
// returns its URL and server.
func loopbackGateway(t *testing.T, h http.Handler) (string, *http.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
		if c, ok := h.(interface{ Close() }); ok {
			c.Close() // the gateway's background work (its hang-up watch)
		}
	})
	return "http://" + ln.Addr().String(), srv
}

// Row: a panic inside a handler.
func TestFaultHandlerPanic(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	var calls atomic.Int32
	up := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		ctx := req.Context()
		_ = ctx
		if calls.Add(1) == 1 {
			var m map[string]int
			m["boom"]++ // a nil-map write: a real runtime panic
		}
		return &http.Response{StatusCode: 200, ContentLength: -1, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(`{"id":"x","object":"chat.completion","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`))}, nil
	})
	srv := gateway.NewServer(gateway.Deps{Logger: zerolog.New(logs), Upstream: up})
	url, _ := loopbackGateway(t, srv)
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()

	post := func() (*http.Response, []byte) {
		resp, err := c.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(chatBody))
		if err != nil {
			t.Fatalf("%v; logs:\n%s", err, logs.String())
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, b
	}
	resp, b := post()
	msg := wantError(t, resp, b, 500, "internal_error")
	if strings.Contains(msg, "nil map") || strings.Contains(string(b), "goroutine") {
		t.Fatalf("the panic's details reached the client: %s", b)
	}
	if !strings.Contains(logs.String(), `"message":"handler panicked"`) || !strings.Contains(logs.String(), "assignment to entry in nil map") {
		t.Fatalf("no log line with the panic: %s", logs.String())
	}
	// The process keeps serving, on the same and on new connections.
	for range 3 {
		if resp, b := post(); resp.StatusCode != 200 {
			t.Fatalf("after the panic: %d %s", resp.StatusCode, b)
		}
	}
}

// Row: 50 streams open, SIGTERM — the readiness part. serve's shutdown is
// SetDraining, then http.Server.Shutdown; between the two, and for every
// request already being read, /readyz answers 503 while the streams go on.
// Here the streams are held open by the test so the order is exact.
func TestFaultDrainingReadiness(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	up := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		ctx := req.Context()
		_ = ctx
		pr, pw := io.Pipe()
		go func() {
			_, _ = io.WriteString(pw, "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n")
			select {
			case <-release:
				_, _ = io.WriteString(pw, "data: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\n\ndata: [DONE]\n\n")
				_ = pw.Close()
			case <-ctx.Done():
				_ = pw.CloseWithError(ctx.Err())
			}
		}()
		return &http.Response{StatusCode: 200, ContentLength: -1, Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: pr}, nil
	})
	srv := gateway.NewServer(gateway.Deps{Logger: zerolog.Nop(), Upstream: up})
	url, hs := loopbackGateway(t, srv)
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()

	// A keep-alive connection for the probe.
	probe := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer probe.CloseIdleConnections()
	getReady := func() (int, string) {
		resp, err := probe.Get(url + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	if s, b := getReady(); s != 200 {
		t.Fatalf("ready before: %d %s", s, b)
	}

	const n = 50
	results := make(chan error, n)
	opened := make(chan struct{}, n)
	for range n {
		go func() {
			resp, err := c.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(streamBody))
			if err != nil {
				opened <- struct{}{}
				results <- err
				return
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			_, err = br.ReadString('\n')
			opened <- struct{}{}
			if err != nil {
				results <- err
				return
			}
			rest, err := io.ReadAll(br)
			if err == nil && !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
				err = errors.New("stream cut: " + string(rest))
			}
			results <- err
		}()
	}
	for range n {
		<-opened
	}

	srv.SetDraining()
	s, b := getReady()
	var body struct{ Status, Reason string }
	_ = json.Unmarshal([]byte(b), &body)
	if s != 503 || body.Status != "unavailable" || body.Reason != "shutting down" {
		t.Fatalf("readiness while draining with %d streams open: %d %s", n, s, b)
	}

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- hs.Shutdown(ctx)
	}()
	waitFor(t, 5*time.Second, "the listener is closed", func() bool {
		conn, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "http://"), time.Second)
		if err == nil {
			conn.Close()
		}
		return err != nil
	})
	close(release)
	for range n {
		if err := <-results; err != nil {
			t.Fatalf("a stream failed during the drain: %v", err)
		}
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// roundTripFunc is an upstream transport answering with a function.
type roundTripFunc func(req *http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
