package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// TestOffStack: the short-lived goroutine's results come back, and a panic
// in it is raised again on the caller's goroutine (where Recover and the
// access log see it), not on its own, where it would end the process.
func TestOffStack(t *testing.T) {
	t.Parallel()
	want := errors.New("write failed")
	if err := offStackErr(func() error { return want }); err != want {
		t.Fatalf("offStackErr error = %v, want %v", err, want)
	}
	if err := offStackErr(func() error { return nil }); err != nil {
		t.Fatalf("offStackErr error = %v, want nil", err)
	}
	if v, err := offStack(func() (int, error) { return 7, want }); v != 7 || err != want {
		t.Fatalf("offStack = %d, %v; want 7, %v", v, err, want)
	}
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler", v)
		}
	}()
	_ = offStackErr(func() error { panic(http.ErrAbortHandler) })
	t.Fatal("offStackErr returned after a panic")
}

// panicTransport panics in RoundTrip.
type panicTransport struct{}

func (panicTransport) RoundTrip(*http.Request) (*http.Response, error) { panic("transport bug") }

// answerTransport answers every request with 200 and body.
type answerTransport struct{ body string }

func (a answerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(a.body)), Request: r}, nil
}

// TestUpstreamStreamRoundTrip: a stream's round trip, run on its own
// goroutine, returns the answer as a non-stream call does, and a panic below
// the client reaches the handler's goroutine (Recover answers it, as for a
// non-stream call) instead of ending the process.
func TestUpstreamStreamRoundTrip(t *testing.T) {
	t.Parallel()
	for _, stream := range []bool{false, true} {
		u := newUpstream(answerTransport{body: "data: x\n\n"}, "http://copilot.test", time.Now)
		resp, err := u.do(context.Background(), call{method: http.MethodPost, path: "/chat/completions", body: []byte(`{}`), stream: stream})
		if err != nil {
			t.Fatalf("stream=%v: %v", stream, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "data: x\n\n" {
			t.Fatalf("stream=%v: body %q", stream, b)
		}
	}
	defer func() {
		v := recover()
		p, ok := v.(*raisedAgain)
		if !ok || p.v != "transport bug" || p.Error() != "transport bug" {
			t.Fatalf("recovered %#v, want the transport's panic", v)
		}
		if c, ok := v.(middleware.StackCarrier); !ok || !strings.Contains(string(c.PanicStack()), "panicTransport.RoundTrip") {
			t.Fatalf("the re-raised panic does not carry the transport's stack")
		}
	}()
	u := newUpstream(panicTransport{}, "http://copilot.test", time.Now)
	resp, err := u.do(context.Background(), call{method: http.MethodPost, path: "/chat/completions", body: []byte(`{}`), stream: true})
	t.Fatalf("do returned %v, %v after the transport panicked", resp, err)
}

// TestDetachableStreamRoundTripPanics: a stream that can be detached makes
// its round trip on the handler goroutine itself (no offStack), and a
// panic there is answered as any handler panic, with the 500 envelope.
func TestDetachableStreamRoundTripPanics(t *testing.T) {
	t.Parallel()
	u := newUpstream(panicTransport{}, "http://copilot.test", time.Now)
	d := middleware.NewDetacher(nil)
	t.Cleanup(d.Close)
	detachable := make(chan bool, 1)
	h := d.Middleware(middleware.Entries(middleware.Recover(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		detachable <- middleware.Detachable(r.Context())
		resp, err := u.do(r.Context(), call{method: http.MethodPost, path: "/chat/completions", body: []byte(`{}`), stream: true})
		t.Errorf("do returned %v, %v after the transport panicked", resp, err)
	}))))
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := srv.Client().Post(srv.URL, "application/json", strings.NewReader(`{"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !<-detachable {
		t.Error("the request was not detachable: offStack's path was tested instead")
	}
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(b), `"error"`) {
		t.Errorf("status %d body %s, want the 500 envelope", resp.StatusCode, b)
	}
}
