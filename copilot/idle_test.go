package copilot_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot"
)

// The tests here run in a synctest bubble: the idle timer runs on the
// bubble's fake clock, so the silences are measured exactly and a slow
// machine cannot make a stream look idle.

// step is one write of a scripted upstream body, after a silence.
type step struct {
	after time.Duration
	data  string
}

// scriptedUpstream is a base RoundTripper whose response bodies are written
// by a script, and which, like net/http, ends the body when the request's
// context ends.
type scriptedUpstream struct {
	steps    []step
	ctx      chan context.Context // the context of each request
	canceled chan error           // the cause, when a request ended before its script
}

func newScriptedUpstream(steps ...step) *scriptedUpstream {
	return &scriptedUpstream{steps: steps, ctx: make(chan context.Context, 4), canceled: make(chan error, 4)}
}

func (u *scriptedUpstream) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	ctx := req.Context()
	u.ctx <- ctx
	pr, pw := io.Pipe()
	stop := context.AfterFunc(ctx, func() { pw.CloseWithError(ctx.Err()) })
	go func() {
		defer stop()
		for _, s := range u.steps {
			select {
			case <-time.After(s.after):
			case <-ctx.Done():
				u.canceled <- context.Cause(ctx)
				return
			}
			if _, err := io.WriteString(pw, s.data); err != nil {
				u.canceled <- context.Cause(ctx)
				return
			}
		}
		pw.Close()
	}()
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"text/event-stream"}},
		Body: pr, Request: req}, nil
}

func idleTransport(u *scriptedUpstream, idle time.Duration) *http.Client {
	return copilot.NewClient(&copilot.Transport{Base: u, IdleTimeout: idle,
		Source: staticToken(&copilot.Token{Value: "tid=v", ExpiresAt: time.Now().Add(time.Hour)})})
}

func TestIdleTimeoutExact(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const idle = 200 * time.Millisecond
		u := newScriptedUpstream(step{0, "data: 1\n\n"}, step{10 * time.Millisecond, "data: 2\n\n"}, step{time.Minute, "data: 3\n\n"})
		resp, err := idleTransport(u, idle).Do(chatReq(t, t.Context(), streamBody))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		var events int
		var lastData time.Time
		for {
			line, err := br.ReadString('\n')
			if strings.HasPrefix(line, "data: ") {
				events++
				lastData = time.Now()
			}
			if err != nil {
				var ite *copilot.IdleTimeoutError
				var ne net.Error
				if !errors.As(err, &ite) || ite.After != idle || !errors.As(err, &ne) || !ne.Timeout() || ne.Temporary() {
					t.Fatalf("read error %v (%T), want a timeout *IdleTimeoutError", err, err)
				}
				break
			}
		}
		if waited := time.Since(lastData); events != 2 || waited != idle {
			t.Fatalf("%d events, then the error after %v of silence; want 2, then exactly %v", events, waited, idle)
		}
		if cause := <-u.canceled; !errors.As(cause, new(*copilot.IdleTimeoutError)) {
			t.Fatalf("the upstream request ended with %v, want the idle timeout as its cause", cause)
		}
		// The error sticks.
		if _, err := resp.Body.Read(make([]byte, 1)); !errors.As(err, new(*copilot.IdleTimeoutError)) {
			t.Fatalf("second Read error %v", err)
		}
	})
}

// Nobody reading after the headers is silence too: the timer runs from the
// headers, not from the first Read.
func TestIdleTimeoutBeforeFirstRead(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const idle = time.Second
		u := newScriptedUpstream(step{time.Hour, "data: never\n\n"})
		start := time.Now()
		resp, err := idleTransport(u, idle).Do(chatReq(t, t.Context(), streamBody))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		cause := <-u.canceled
		if !errors.As(cause, new(*copilot.IdleTimeoutError)) || time.Since(start) != idle {
			t.Fatalf("upstream ended with %v after %v; want the idle timeout after %v", cause, time.Since(start), idle)
		}
		if _, err := resp.Body.Read(make([]byte, 16)); !errors.As(err, new(*copilot.IdleTimeoutError)) {
			t.Fatalf("Read error %v, want *IdleTimeoutError", err)
		}
	})
}

// The default applies when IdleTimeout is zero.
func TestIdleTimeoutDefault(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		u := newScriptedUpstream(step{0, "data: 1\n\n"}, step{time.Hour, "data: 2\n\n"})
		resp, err := idleTransport(u, 0).Do(chatReq(t, t.Context(), streamBody))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		start := time.Now()
		_, err = io.ReadAll(resp.Body)
		var ite *copilot.IdleTimeoutError
		if !errors.As(err, &ite) || ite.After != copilot.DefaultStreamIdleTimeout || time.Since(start) != copilot.DefaultStreamIdleTimeout {
			t.Fatalf("ReadAll error %v after %v; want the idle timeout after %v", err, time.Since(start), copilot.DefaultStreamIdleTimeout)
		}
		if err.Error() != "upstream sent nothing for 5m0s (stream idle timeout)" {
			t.Fatalf("error text %q", err)
		}
		<-u.canceled
	})
}

// A stream whose events keep coming is never cut, however long it lasts,
// and the caller's own pace between reads is not upstream silence.
func TestIdleTimeoutIgnoresFlowingStreamAndSlowReader(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const idle = 250 * time.Millisecond
		var steps []step
		for range 20 { // 20 × 100 ms: the stream lasts 8 idle timeouts
			steps = append(steps, step{100 * time.Millisecond, "data: x\n\n"})
		}
		steps = append(steps, step{100 * time.Millisecond, "data: [DONE]\n\n"})
		u := newScriptedUpstream(steps...)
		resp, err := idleTransport(u, idle).Do(chatReq(t, t.Context(), streamBody))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		ctx := <-u.ctx
		buf := make([]byte, 1)
		if _, err := resp.Body.Read(buf); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * idle) // the caller is busy
		rest, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("stream cut: %v", err)
		}
		if !strings.HasSuffix(string(rest), "data: [DONE]\n\n") || strings.Count(string(rest), "data: ") != 20 { // the first "d" was read before
			t.Fatalf("incomplete stream: %q", rest)
		}
		select {
		case cause := <-u.canceled:
			t.Fatalf("upstream request cancelled: %v", cause)
		default:
		}
		// Reading to the end released the request's context.
		if ctx.Err() == nil {
			t.Fatal("the request context is still live after EOF")
		}
		if cause := context.Cause(ctx); errors.As(cause, new(*copilot.IdleTimeoutError)) {
			t.Fatalf("released with %v", cause)
		}
	})
}

// Close ends the upstream request at once, and no timer fires afterwards.
func TestIdleBodyCloseReleases(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const idle = time.Second
		u := newScriptedUpstream(step{0, "data: 1\n\n"}, step{time.Hour, "data: 2\n\n"})
		resp, err := idleTransport(u, idle).Do(chatReq(t, t.Context(), streamBody))
		if err != nil {
			t.Fatal(err)
		}
		ctx := <-u.ctx
		if _, err := resp.Body.Read(make([]byte, 4)); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := resp.Body.Close(); err != nil {
			t.Fatal(err)
		}
		cause := <-u.canceled
		if time.Since(start) != 0 || !errors.Is(cause, context.Canceled) || errors.As(cause, new(*copilot.IdleTimeoutError)) {
			t.Fatalf("after Close the upstream ended with %v after %v; want context.Canceled at once", cause, time.Since(start))
		}
		time.Sleep(10 * idle)
		if cause := context.Cause(ctx); errors.As(cause, new(*copilot.IdleTimeoutError)) {
			t.Fatalf("the idle timer fired after Close: %v", cause)
		}
		if _, err := resp.Body.Read(make([]byte, 4)); err == nil || errors.As(err, new(*copilot.IdleTimeoutError)) {
			t.Fatalf("Read after Close = %v", err)
		}
	})
}

// The caller's cancellation is not reported as an idle timeout.
func TestIdleTimeoutParentCancel(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const idle = time.Second
		u := newScriptedUpstream(step{0, "data: 1\n\n"}, step{time.Hour, "data: 2\n\n"})
		ctx, cancel := context.WithCancel(t.Context())
		resp, err := idleTransport(u, idle).Do(chatReq(t, ctx, streamBody))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(idle/2, cancel)
		start := time.Now()
		_, err = io.ReadAll(br)
		if !errors.Is(err, context.Canceled) || errors.As(err, new(*copilot.IdleTimeoutError)) || time.Since(start) != idle/2 {
			t.Fatalf("after the caller cancelled: %v after %v; want context.Canceled after %v", err, time.Since(start), idle/2)
		}
		if cause := <-u.canceled; !errors.Is(cause, context.Canceled) {
			t.Fatalf("upstream ended with %v", cause)
		}
	})
}
