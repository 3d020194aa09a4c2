package middleware

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"
)

// detachWait bounds the waits of these tests: generous for a busy machine,
// finite so a bug cannot hang the suite.
const detachWait = 10 * time.Second

// ender records, in order, the ends it is told of.
type ender struct {
	mu    sync.Mutex
	names []string
}

func (e *ender) add(name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.names = append(e.names, name)
}

func (e *ender) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.names...)
}

type namedEnd struct {
	e    *ender
	name string
}

func (n namedEnd) End() { n.e.add(n.name) }

// endsWith is middleware queuing an end named name (see AtEnd).
func endsWith(e *ender, name string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer AtEnd(r.Context(), namedEnd{e, name})
			next.ServeHTTP(w, r)
		})
	}
}

// detachRouter is the production order of middlewares under a Detacher,
// with two ends queued around the handler, served over loopback.
func detachRouter(t *testing.T, d *Detacher, logs io.Writer, e *ender, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	r := chi.NewRouter()
	r.Use(RequestID, accessLog(zerolog.New(logs)), Recover, endsWith(e, "outer"), endsWith(e, "inner"))
	r.With(BodyLimit(1<<10)).Post("/stream", h)
	t.Cleanup(d.Close)
	return newServer(t, d.Middleware(r))
}

// streamEvents writes n events, flushing each, as the relay does.
func streamEvents(w http.ResponseWriter, n int) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Test", "kept")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for i := range n {
		fmt.Fprintf(w, "data: %d\n\n", i)
		_ = rc.Flush()
	}
}

func TestDetachedStreamReachesTheClient(t *testing.T) {
	t.Parallel()
	d := NewDetacher(nil)
	var logs syncBuffer
	e := new(ender)
	var bodyRead bool
	detached := make(chan bool, 1)
	srv := detachRouter(t, d, &logs, e, func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		bodyRead = err == nil && string(b) == "hello" // before Detach: the run reads it after
		detached <- Detach(r, func() {
			if r.Context().Err() != nil {
				t.Error("the detached run's context is cancelled when the handler returns")
			}
			e.add("run")
			streamEvents(w, 3)
		})
	})
	resp, err := srv.Client().Post(srv.URL+"/stream", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the detached body: %v", err)
	}
	if ok := <-detached; !ok || !bodyRead {
		t.Fatalf("Detach reported %v; body read %v", ok, bodyRead)
	}
	if want := "data: 0\n\ndata: 1\n\ndata: 2\n\n"; string(body) != want {
		t.Errorf("body %q, want %q", body, want)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Test") != "kept" || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("status %d, headers %v", resp.StatusCode, resp.Header)
	}
	if resp.Header.Get("Date") == "" || resp.Header.Get("X-Request-Id") == "" || !resp.Close || len(resp.TransferEncoding) != 1 {
		t.Errorf("want Date, X-Request-Id, chunked and the connection's close: %v close=%v te=%v", resp.Header, resp.Close, resp.TransferEncoding)
	}
	line := accessLines(logs.waitLines(t, 1))[0]
	if line["status"] != float64(200) || line["bytes"] != float64(len(body)) || line["route"] != "/stream" || line["aborted"] != nil {
		t.Errorf("access line %v", line)
	}
	if got := strings.Join(e.list(), ","); got != "run,inner,outer" {
		t.Errorf("ends %s, want the run then the queued ends, innermost first", got)
	}
	resp.Body.Close()
	waitFor(t, func() bool { return d.InFlight() == 0 }, "the detached response to leave the count")
}

func TestDetachWhenItCannot(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		tls  bool // over TLS with HTTP/2
		h    func(w http.ResponseWriter, r *http.Request) bool
	}{
		{"response started", false, func(w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(http.StatusOK)
			return Detach(r, func() { t.Error("run called") })
		}},
		{"twice", false, func(w http.ResponseWriter, r *http.Request) bool {
			if !Detach(r, func() { streamEvents(w, 1) }) {
				t.Error("first Detach refused")
			}
			return Detach(r, func() { t.Error("second run called") })
		}},
		{"HTTP/2", true, func(w http.ResponseWriter, r *http.Request) bool {
			return Detach(r, func() { t.Error("run called") })
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if askDetacher(t, tc.tls, http.MethodPost, tc.h) {
				t.Error("Detach accepted")
			}
		})
	}
}

// askDetacher sends one request (over TLS with HTTP/2 if tls) to h under a
// Detacher and returns what h returned.
func askDetacher(t *testing.T, tls bool, method string, h func(w http.ResponseWriter, r *http.Request) bool) bool {
	t.Helper()
	d := NewDetacher(nil)
	t.Cleanup(d.Close)
	got := make(chan bool, 1)
	srv := httptest.NewUnstartedServer(d.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- h(w, r) })))
	srv.EnableHTTP2 = tls
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	defer srv.Close()
	req, err := http.NewRequest(method, srv.URL, strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return <-got
}

// TestDetachable checks that Detachable foretells Detach: true exactly
// when a Detach now would be accepted.
func TestDetachable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tls    bool // over TLS with HTTP/2
		method string
		h      func(w http.ResponseWriter, r *http.Request) bool
		want   bool
	}{
		{"fresh POST", false, http.MethodPost, func(w http.ResponseWriter, r *http.Request) bool {
			ok := Detachable(r.Context())
			if Detach(r, func() { streamEvents(w, 1) }) != ok {
				t.Error("Detach disagrees with Detachable")
			}
			return ok
		}, true},
		{"response started", false, http.MethodPost, func(w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(http.StatusOK)
			return Detachable(r.Context())
		}, false},
		{"detached already", false, http.MethodPost, func(w http.ResponseWriter, r *http.Request) bool {
			if !Detach(r, func() { streamEvents(w, 1) }) {
				t.Error("Detach refused")
			}
			return Detachable(r.Context())
		}, false},
		{"GET", false, http.MethodGet, func(w http.ResponseWriter, r *http.Request) bool {
			return Detachable(r.Context())
		}, false},
		{"HTTP/2", true, http.MethodPost, func(w http.ResponseWriter, r *http.Request) bool {
			return Detachable(r.Context())
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := askDetacher(t, tc.tls, tc.method, tc.h); got != tc.want {
				t.Errorf("Detachable = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDetachOnlyPOST(t *testing.T) {
	t.Parallel()
	d := NewDetacher(nil)
	t.Cleanup(d.Close)
	srv := newServer(t, d.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if Detach(r, func() {}) {
			t.Error("a GET was detached")
		}
		w.WriteHeader(http.StatusNoContent)
	})))
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("status %d", resp.StatusCode)
	}
}

// TestDetachedStreamOverTLS checks a detached stream on an HTTP/1.1
// connection over TLS (the gateway serving TLS itself to an HTTP/1.1
// client), and that the client leaving is noticed through the TLS layer.
func TestDetachedStreamOverTLS(t *testing.T) {
	t.Parallel()
	d := NewDetacher(nil)
	t.Cleanup(d.Close)
	gone := make(chan struct{})
	srv := httptest.NewUnstartedServer(d.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !Detach(r, func() {
			streamEvents(w, 2)
			<-r.Context().Done()
			close(gone)
		}) {
			t.Error("Detach refused on HTTP/1.1 over TLS")
		}
	})))
	srv.StartTLS()
	defer srv.Close()
	conn, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	for _, want := range []string{"data: 0\n", "\n", "data: 1\n", "\n"} {
		if line, err := br.ReadString('\n'); err != nil || line != want {
			t.Fatalf("read %q, %v; want %q", line, err, want)
		}
	}
	conn.Close()
	select {
	case <-gone:
	case <-time.After(detachWait):
		t.Fatal("the client closing its TLS connection did not cancel the detached run")
	}
}

func TestDetachedClientHangupCancels(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"shared watch", "reading goroutine"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := NewDetacher(nil)
			if name == "reading goroutine" {
				d.Close() // a closed shared watch falls back to reading
			}
			t.Cleanup(d.Close)
			e := new(ender)
			gone := make(chan struct{})
			srv := detachRouter(t, d, io.Discard, e, func(w http.ResponseWriter, r *http.Request) {
				Detach(r, func() {
					streamEvents(w, 1)
					<-r.Context().Done()
					close(gone)
				})
			})
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "POST /stream HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
			if _, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil {
				t.Fatal(err)
			}
			conn.Close()
			select {
			case <-gone:
			case <-time.After(detachWait):
				t.Fatal("the client leaving did not cancel the detached run's context")
			}
			waitFor(t, func() bool { return len(e.list()) == 2 && d.InFlight() == 0 }, "the queued ends to run")
		})
	}
}

func TestDetachedRunPanics(t *testing.T) {
	t.Parallel()
	d := NewDetacher(nil)
	var logs syncBuffer
	e := new(ender)
	srv := detachRouter(t, d, &logs, e, func(w http.ResponseWriter, r *http.Request) {
		Detach(r, func() {
			streamEvents(w, 1)
			panic("boom Bearer tid=secret123;exp=1")
		})
	})
	resp, err := srv.Client().Post(srv.URL+"/stream", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("reading a body cut by a panic: %v, want an unexpected EOF", err)
	}
	ls := logs.waitLines(t, 2)
	var panicked, access map[string]any
	for _, l := range ls {
		switch {
		case l["message"] == "handler panicked":
			panicked = l
		case l["method"] != nil:
			access = l
		}
	}
	if panicked == nil || strings.Contains(fmt.Sprint(panicked["panic"]), "secret123") || panicked["response_started"] != true {
		t.Errorf("panic line %v", panicked)
	}
	if access == nil || access["aborted"] != true || access["error_code"] != "internal_error" || access["level"] != "warn" {
		t.Errorf("access line %v, want an aborted request with internal_error", access)
	}
	waitFor(t, func() bool { return len(e.list()) == 2 }, "the queued ends to run after the panic")
}

func TestDetacherWaitAndCancel(t *testing.T) {
	t.Parallel()
	d := NewDetacher(nil)
	started := make(chan struct{})
	cancelled := make(chan struct{})
	srv := detachRouter(t, d, io.Discard, new(ender), func(w http.ResponseWriter, r *http.Request) {
		Detach(r, func() {
			streamEvents(w, 1)
			close(started)
			<-r.Context().Done()
			close(cancelled)
		})
	})
	go func() {
		resp, err := srv.Client().Post(srv.URL+"/stream", "text/plain", nil)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := d.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) || d.InFlight() != 1 {
		t.Fatalf("Wait with a stream in flight: %v (%d in flight)", err, d.InFlight())
	}
	d.Cancel()
	<-cancelled
	wctx, wcancel := context.WithTimeout(context.Background(), detachWait)
	defer wcancel()
	if err := d.Wait(wctx); err != nil {
		t.Fatalf("Wait after Cancel: %v", err)
	}
}

func TestBodyLimitUnderDetacher(t *testing.T) {
	t.Parallel()
	d := NewDetacher(nil)
	srv := detachRouter(t, d, io.Discard, new(ender), func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); IsBodyTooLarge(err) {
			WriteError(w, r, BodyTooLargeError(1<<10))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	// Chunked, so only the read can find it too large.
	body := io.MultiReader(strings.NewReader(strings.Repeat("x", 2<<10)))
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/stream", body)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !resp.Close {
		t.Errorf("status %d close %v, want 413 and the connection closed", resp.StatusCode, resp.Close)
	}
}

// waitFor polls cond until it holds or detachWait passes.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(detachWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDetacherCancelUnblocksAWrite: a client that stops reading blocks the
// run's write once the socket buffers are full; a drain's Cancel must still
// end it.
func TestDetacherCancelUnblocksAWrite(t *testing.T) {
	t.Parallel()
	d := NewDetacher(nil)
	writing := make(chan struct{})
	srv := detachRouter(t, d, io.Discard, new(ender), func(w http.ResponseWriter, r *http.Request) {
		Detach(r, func() {
			w.WriteHeader(http.StatusOK)
			chunk := []byte(strings.Repeat("x", 64<<10))
			// 64 MiB: far more than socket buffers hold, so the writes
			// block once they are full.
			for i := range 1024 {
				if i == 1 {
					close(writing)
				}
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			t.Error("64 MiB written to a client that reads nothing")
		})
	})
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /stream HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
	<-writing
	time.Sleep(200 * time.Millisecond) // let the buffers fill
	d.Cancel()
	ctx, cancel := context.WithTimeout(context.Background(), detachWait)
	defer cancel()
	if err := d.Wait(ctx); err != nil {
		t.Fatalf("the cancelled stream did not end: %v", err)
	}
}

// TestDetachedRunPanicsBeforeWriting: nothing sent yet, so the client gets
// the error envelope, as Recover would give it.
func TestDetachedRunPanicsBeforeWriting(t *testing.T) {
	t.Parallel()
	d := NewDetacher(nil)
	srv := detachRouter(t, d, io.Discard, new(ender), func(w http.ResponseWriter, r *http.Request) {
		Detach(r, func() {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			panic("before the first byte")
		})
	})
	resp, err := srv.Client().Post(srv.URL+"/stream", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d, %v: %s", resp.StatusCode, err, body)
	}
	if code, _, _ := decodeEnvelope(t, body); code != "internal_error" {
		t.Errorf("code %q", code)
	}
}

// TestPanicAfterDetach: a panic on the handler's way out, once the response
// is detached, is logged and leaves the stream alone (no error envelope
// written into it).
func TestPanicAfterDetach(t *testing.T) {
	t.Parallel()
	d := NewDetacher(nil)
	var logs syncBuffer
	release := make(chan struct{})
	srv := detachRouter(t, d, &logs, new(ender), func(w http.ResponseWriter, r *http.Request) {
		Detach(r, func() {
			<-release
			// The run owns the Entry now: the handler's panic must not
			// write it (the race detector would see both).
			EntryFrom(r.Context()).SetErrorCode("set_by_the_run")
			streamEvents(w, 2)
		})
		defer close(release)
		panic("on the way out")
	})
	resp, err := srv.Client().Post(srv.URL+"/stream", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || string(body) != "data: 0\n\ndata: 1\n\n" {
		t.Fatalf("status %d, %v: %q", resp.StatusCode, err, body)
	}
	waitFor(t, func() bool { return strings.Contains(logs.String(), "on the way out") }, "the panic's log line")
}

// TestDetachedEndSurvivesUnreadInput: bytes the client sent after its
// request must not turn the close into a reset that destroys the
// response's end.
func TestDetachedEndSurvivesUnreadInput(t *testing.T) {
	t.Parallel()
	d := NewDetacher(nil)
	stray := make(chan struct{})
	srv := detachRouter(t, d, io.Discard, new(ender), func(w http.ResponseWriter, r *http.Request) {
		Detach(r, func() {
			w.WriteHeader(http.StatusOK)
			_ = http.NewResponseController(w).Flush()
			<-stray
			_, _ = w.Write([]byte(strings.Repeat("y", 256<<10)))
		})
	})
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /stream HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Bytes after the request was read: they stay unread in the server's
	// socket.
	fmt.Fprintf(conn, "stray bytes")
	time.Sleep(50 * time.Millisecond)
	close(stray)
	time.Sleep(100 * time.Millisecond) // let the server finish and close first
	body, err := io.ReadAll(resp.Body)
	if err != nil || len(body) != 256<<10 {
		t.Fatalf("read %d bytes, %v", len(body), err)
	}
}

// TestDetachedConnectionRejoins: with SetRejoin, a detached stream's
// connection serves the client's next requests (keep-alive), over plain
// TCP and over TLS; a client asking Connection: close gets it.
func TestDetachedConnectionRejoins(t *testing.T) {
	t.Parallel()
	for _, overTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", overTLS), func(t *testing.T) {
			t.Parallel()
			d := NewDetacher(nil)
			t.Cleanup(d.Close)
			var mu sync.Mutex
			conns := 0
			srv := httptest.NewUnstartedServer(d.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if overTLS && r.TLS == nil {
					t.Error("a request over TLS served on the given-back connection has no Request.TLS")
				}
				if !Detach(r, func() { streamEvents(w, 2) }) {
					t.Error("Detach refused")
				}
			})))
			srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
				if st == http.StateNew {
					mu.Lock()
					conns++
					mu.Unlock()
				}
			}
			d.SetRejoin(Rejoin(srv.Config), time.Minute)
			if overTLS {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			client := srv.Client()
			tr := client.Transport.(*http.Transport)
			dials := 0
			tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials++
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}
			for i := range 3 {
				resp, err := client.Post(srv.URL, "text/plain", nil)
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(body) != "data: 0\n\ndata: 1\n\n" || resp.Close {
					t.Fatalf("request %d: %q, %v, close=%v", i, body, err, resp.Close)
				}
			}
			req, _ := http.NewRequest(http.MethodPost, srv.URL, nil)
			req.Close = true
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if !resp.Close {
				t.Error("a request asking Connection: close did not get it")
			}
			mu.Lock()
			// One accepted connection, then each stream's end gives it back
			// as a new one for net/http: 1 + 3, all on the client's one
			// connection (the last stream closed it).
			got := conns
			mu.Unlock()
			if got != 4 || dials != 1 {
				t.Errorf("%d dials, %d connections began at the server; want 1 and 4 (one dialled, given back after each stream)", dials, got)
			}
		})
	}
}

// keepAliveServer serves h (nil: one-event streams) under d with
// keep-alive (idle wait idle, header timeout 200 ms) and returns it with a
// client counting its dials.
func keepAliveServer(t *testing.T, d *Detacher, idle time.Duration, wrap func(net.Listener) net.Listener, h http.HandlerFunc) (*httptest.Server, *http.Client, *int) {
	t.Helper()
	return keepAliveServerWith(t, d, idle, wrap, h, func(srv *http.Server) { srv.ReadHeaderTimeout = 200 * time.Millisecond })
}

// keepAliveServerWith is keepAliveServer with the server's timeouts set by
// config. Once the server has closed, no connection may be left waiting
// in d.
func keepAliveServerWith(t *testing.T, d *Detacher, idle time.Duration, wrap func(net.Listener) net.Listener, h http.HandlerFunc, config func(*http.Server)) (*httptest.Server, *http.Client, *int) {
	t.Helper()
	t.Cleanup(d.Close)
	t.Cleanup(func() {
		waitFor(t, func() bool { d.mu.Lock(); defer d.mu.Unlock(); return len(d.waiting) == 0 }, "no connection left waiting once the server closed")
	})
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			Detach(r, func() { streamEvents(w, 1) })
		}
	}
	srv := httptest.NewUnstartedServer(d.Middleware(h))
	config(srv.Config)
	if wrap != nil {
		srv.Listener = wrap(srv.Listener)
	}
	d.SetRejoin(Rejoin(srv.Config), idle)
	srv.Start()
	t.Cleanup(srv.Close)
	client := srv.Client()
	dials := new(int)
	client.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		*dials++
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	return srv, client, dials
}

// stream posts one stream and reports whether the response said it closes
// the connection.
func stream(t *testing.T, c *http.Client, url string) (closes bool) {
	t.Helper()
	resp, err := c.Post(url, "text/plain", strings.NewReader("body"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "data: 0\n\n" {
		t.Fatalf("body %q, %v", b, err)
	}
	return resp.Close
}

// TestKeptConnectionWaits: the idle wait for the next request is the idle
// timeout, not the header timeout (as for net/http's own keep-alive); past
// the idle timeout the connection closes.
func TestKeptConnectionWaits(t *testing.T) {
	t.Parallel()
	// Wide margins between the waits and the timeouts: a busy machine may
	// oversleep.
	srv, c, dials := keepAliveServer(t, NewDetacher(nil), 2*time.Second, nil, nil)
	stream(t, c, srv.URL)
	time.Sleep(600 * time.Millisecond) // well past the 200 ms header timeout
	stream(t, c, srv.URL)
	if *dials != 1 {
		t.Errorf("%d dials, want 1: the idle connection was cut by the header timeout", *dials)
	}
	time.Sleep(4 * time.Second) // well past the 2 s idle timeout
	stream(t, c, srv.URL)
	if *dials != 2 {
		t.Errorf("%d dials, want 2: the idle connection outlived the idle timeout", *dials)
	}
}

// TestHeaderTimeoutAfterTheIdleWait: the next request's first byte ends
// the idle wait, and the header timeout applies from then on: a client that
// sends one byte and stalls is cut long before the idle timeout.
func TestHeaderTimeoutAfterTheIdleWait(t *testing.T) {
	t.Parallel()
	srv, _, _ := keepAliveServer(t, NewDetacher(nil), time.Hour, nil, nil)
	conn, br := rawStream(t, srv)
	time.Sleep(400 * time.Millisecond) // past the 200 ms header timeout: still open
	fmt.Fprint(conn, "P")
	_ = conn.SetReadDeadline(time.Now().Add(detachWait))
	// net/http answers 400 (the request line ends at the timeout) and
	// closes; the idle wait would have kept it for an hour.
	if b, err := io.ReadAll(br); err != nil || !bytes.Contains(b, []byte("400 Bad Request")) {
		t.Fatalf("a stalled request read %q, then %v; want net/http's 400 at the header timeout, then the connection closed", b, err)
	}
}

// TestRequestTimeoutAfterTheIdleWait: with a request timeout (ReadTimeout),
// a request that comes after an idle wait longer than it still gets the
// whole timeout, counted from its first byte (net/http counts it from the
// start of its wait).
func TestRequestTimeoutAfterTheIdleWait(t *testing.T) {
	t.Parallel()
	srv, _, _ := keepAliveServerWith(t, NewDetacher(nil), time.Minute, nil, func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		Detach(r, func() { streamEvents(w, 1) })
	}, func(srv *http.Server) {
		srv.ReadHeaderTimeout = 500 * time.Millisecond
		srv.ReadTimeout = time.Second
	})
	conn, br := rawStream(t, srv)
	time.Sleep(1500 * time.Millisecond) // past the request timeout
	fmt.Fprint(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n")
	time.Sleep(100 * time.Millisecond) // the body comes in a read of its own
	fmt.Fprint(conn, "body")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || string(b) != "data: 0\n\n" {
		t.Fatalf("%d %q, %v; want the stream: the request timeout starts with the request", resp.StatusCode, b, err)
	}
}

// TestIdleWaitWithoutHeaderTimeout: a server with no header or request
// timeout still closes a connection that waited the idle timeout.
func TestIdleWaitWithoutHeaderTimeout(t *testing.T) {
	t.Parallel()
	srv, _, _ := keepAliveServerWith(t, NewDetacher(nil), 300*time.Millisecond, nil, nil, func(*http.Server) {})
	conn, br := rawStream(t, srv)
	_ = conn.SetReadDeadline(time.Now().Add(detachWait))
	if n, err := br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("an idle connection read %d, %v; want it closed at the idle timeout", n, err)
	}
}

// rawStream sends one stream request on a new connection to srv and reads
// the answer, which must keep the connection alive.
func rawStream(t *testing.T, srv *httptest.Server) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.Close {
		t.Fatalf("%v, close=%v", err, resp != nil && resp.Close)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return conn, br
}

// TestDrainClosesWaitingConnections: a drain closes the connections waiting
// for a next request at once, and a stream after it says Connection: close.
func TestDrainClosesWaitingConnections(t *testing.T) {
	t.Parallel()
	for _, k := range watchKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			d := NewDetacher(nil)
			srv, c, _ := keepAliveServer(t, d, time.Minute, k.wrap, nil)
			conn, br := rawStream(t, srv)
			waitFor(t, func() bool { d.mu.Lock(); defer d.mu.Unlock(); return len(d.waiting) == 1 }, "the connection to wait for a next request")
			d.Drain()
			_ = conn.SetReadDeadline(time.Now().Add(detachWait))
			if n, err := br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Fatalf("after Drain the waiting connection read %d, %v; want it closed", n, err)
			}
			if !stream(t, c, srv.URL) {
				t.Error("a stream during a drain did not say Connection: close")
			}
		})
	}
}

// hiddenConn hides the connection's file descriptor (SyscallConn), as a
// listener wrapper may: the hang-up watch must then read ahead (and give
// what it read back to the connection's next reader).
type hiddenConn struct{ net.Conn }

type hidingListener struct{ net.Listener }

func (l hidingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return hiddenConn{c}, nil
}

func hiding(l net.Listener) net.Listener { return hidingListener{l} }

// watchKinds are the two hang-up watches: the shared epoll set, and
// reading ahead (other systems, or a connection without a descriptor).
var watchKinds = []struct {
	name string
	wrap func(net.Listener) net.Listener
}{{"epoll", nil}, {"reading", hiding}}

func TestKeepAliveWithEitherWatch(t *testing.T) {
	t.Parallel()
	for _, k := range watchKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			srv, c, dials := keepAliveServer(t, NewDetacher(nil), time.Minute, k.wrap, nil)
			for i := range 3 {
				if stream(t, c, srv.URL) {
					t.Errorf("stream %d said Connection: close", i)
				}
			}
			if *dials != 1 {
				t.Errorf("%d dials, want 1", *dials)
			}
		})
	}
}

// TestKeepAliveForAWrappedTLSConnection: a TLS connection watched by
// reading ahead is kept too, and the requests served on it after its stream
// still carry Request.TLS (net/http learns it from the wrapper).
func TestKeepAliveForAWrappedTLSConnection(t *testing.T) {
	t.Parallel()
	d := NewDetacher(nil)
	t.Cleanup(d.Close)
	srv := httptest.NewUnstartedServer(d.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			t.Error("a request over TLS has no Request.TLS")
		}
		_, _ = io.Copy(io.Discard, r.Body)
		Detach(r, func() { streamEvents(w, 1) })
	})))
	srv.Listener = hiding(srv.Listener)
	d.SetRejoin(Rejoin(srv.Config), time.Minute)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := srv.Client()
	dials := 0
	c.Transport.(*http.Transport).DialTLSContext = nil
	base := c.Transport.(*http.Transport).DialContext
	c.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials++
		if base != nil {
			return base(ctx, network, addr)
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	for i := range 3 {
		if stream(t, c, srv.URL) {
			t.Errorf("TLS stream %d, watched by reading ahead, said Connection: close", i)
		}
	}
	if dials != 1 {
		t.Errorf("%d dials, want 1", dials)
	}
}

// TestPipelinedRequestAfterAStream: a request the client sent before a
// stream ended (HTTP/1.1 pipelining) is served after it on the same
// connection, whether net/http had read it already or the hang-up watch
// read its first byte.
func TestPipelinedRequestAfterAStream(t *testing.T) {
	t.Parallel()
	for _, k := range watchKinds {
		for _, together := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/together=%v", k.name, together), func(t *testing.T) {
				t.Parallel()
				d := NewDetacher(nil)
				release := make(chan struct{})
				srv, _, _ := keepAliveServer(t, d, time.Minute, k.wrap, func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.Copy(io.Discard, r.Body)
					n := r.URL.Query().Get("n")
					Detach(r, func() {
						w.Header().Set("Content-Type", "text/event-stream")
						fmt.Fprintf(w, "data: %s\n\n", n)
						_ = http.NewResponseController(w).Flush()
						if n == "1" {
							<-release
						}
					})
				})
				conn, err := net.Dial("tcp", srv.Listener.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				req := func(n int) string {
					return fmt.Sprintf("POST /?n=%d HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody", n)
				}
				br := bufio.NewReader(conn)
				if together {
					fmt.Fprint(conn, req(1)+req(2))
				} else {
					fmt.Fprint(conn, req(1))
				}
				resp1, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !together {
					fmt.Fprint(conn, req(2)) // while the first stream is held open
					time.Sleep(50 * time.Millisecond)
				}
				close(release)
				for i, resp := range []*http.Response{resp1, nil} {
					if resp == nil {
						if resp, err = http.ReadResponse(br, nil); err != nil {
							t.Fatalf("second response: %v", err)
						}
					}
					b, err := io.ReadAll(resp.Body)
					if want := fmt.Sprintf("data: %d\n\n", i+1); err != nil || string(b) != want || resp.Close {
						t.Fatalf("response %d: %q, %v, close=%v; want %q, kept alive", i+1, b, err, resp.Close, want)
					}
				}
			})
		}
	}
}

func TestReadAhead(t *testing.T) {
	t.Parallel()
	client, server := net.Pipe()
	defer client.Close()
	_, ra := wrapClient(server)
	ra.give([]byte("ab"))
	told := make(chan bool, 1)
	tell := func(readable bool) { told <- readable }
	wait := func(want bool, what string) {
		t.Helper()
		select {
		case got := <-told:
			if got != want {
				t.Fatalf("%s: told readable=%v, want %v", what, got, want)
			}
		case <-time.After(detachWait):
			t.Fatalf("%s: not told", what)
		}
	}
	ra.watch(tell)
	wait(true, "bytes given at the start")
	read := func(want string) {
		t.Helper()
		b := make([]byte, 8)
		n, err := ra.Read(b)
		if err != nil || string(b[:n]) != want {
			t.Fatalf("Read: %q, %v; want %q", b[:n], err, want)
		}
	}
	read("ab")
	ra.watch(tell)
	go fmt.Fprint(client, "c")
	wait(true, "a byte from the client")
	read("c")
	go fmt.Fprint(client, "de")
	read("de")
	stop := ra.watch(func(bool) { t.Error("a stopped watch was told") })
	stop()
	go fmt.Fprint(client, "f")
	read("f") // the read-ahead's byte, not lost
	stale := ra.watch(func(bool) { t.Error("a replaced watch was told") })
	ra.watch(tell)
	stale() // the stream's stop, after the keep-alive wait took over
	client.Close()
	wait(false, "the client hanging up")
	if n, err := ra.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("Read after the hang-up: %d, %v; want EOF", n, err)
	}
}
