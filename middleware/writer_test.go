package middleware

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"
)

// newRecorderRequest runs h on a recorder with an optional body.
func newRecorderRequest(h http.Handler, method, body string) *httptest.ResponseRecorder {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, newRequest(method, "/", r))
	return rec
}

// plainWriter is a ResponseWriter with no optional interfaces.
type plainWriter struct {
	h      http.Header
	status int
	body   strings.Builder
}

func (p *plainWriter) Header() http.Header {
	if p.h == nil {
		p.h = http.Header{}
	}
	return p.h
}
func (p *plainWriter) Write(b []byte) (int, error) { return p.body.Write(b) }
func (p *plainWriter) WriteHeader(code int)        { p.status = code }

// readerFromWriter records whether ReadFrom was used.
type readerFromWriter struct {
	plainWriter
	used bool
}

func (r *readerFromWriter) ReadFrom(src io.Reader) (int64, error) {
	r.used = true
	return io.Copy(&r.body, src)
}

func TestStatusWriterRecords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		do      func(w http.ResponseWriter)
		status  int
		bytes   int64
		started bool
	}{
		{"nothing", func(http.ResponseWriter) {}, 0, 0, false},
		{"write only", func(w http.ResponseWriter) { _, _ = w.Write([]byte("abc")) }, 200, 3, true},
		{"header then writes", func(w http.ResponseWriter) {
			w.WriteHeader(201)
			_, _ = w.Write([]byte("ab"))
			_, _ = w.Write([]byte("cd"))
		}, 201, 4, true},
		{"first WriteHeader wins", func(w http.ResponseWriter) {
			w.WriteHeader(502)
			w.WriteHeader(200)
		}, 502, 0, true},
		{"1xx is not the response", func(w http.ResponseWriter) { w.WriteHeader(http.StatusEarlyHints) }, 0, 0, false},
		{"1xx then final", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(204)
		}, 204, 0, true},
		{"flush starts", func(w http.ResponseWriter) { w.(http.Flusher).Flush() }, 200, 0, true},
		{"ReadFrom", func(w http.ResponseWriter) {
			_, _ = w.(io.ReaderFrom).ReadFrom(strings.NewReader("hello"))
		}, 200, 5, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sw := Wrap(httptest.NewRecorder())
			tt.do(sw)
			if sw.Status() != tt.status || sw.(*statusWriter).BytesWritten() != tt.bytes || sw.Started() != tt.started {
				t.Fatalf("status=%d bytes=%d started=%v, want %d %d %v",
					sw.Status(), sw.(*statusWriter).BytesWritten(), sw.Started(), tt.status, tt.bytes, tt.started)
			}
		})
	}
}

func TestWrapIsIdempotent(t *testing.T) {
	t.Parallel()
	sw := Wrap(httptest.NewRecorder())
	if Wrap(sw) != sw {
		t.Fatal("Wrap of a StatusWriter must return it unchanged")
	}
}

func TestStatusWriterReadFrom(t *testing.T) {
	t.Parallel()
	t.Run("passthrough", func(t *testing.T) {
		t.Parallel()
		inner := &readerFromWriter{}
		sw := Wrap(inner)
		n, err := sw.(io.ReaderFrom).ReadFrom(strings.NewReader("12345"))
		if err != nil || n != 5 || !inner.used || inner.body.String() != "12345" || sw.(*statusWriter).BytesWritten() != 5 {
			t.Fatalf("n=%d err=%v used=%v body=%q", n, err, inner.used, inner.body.String())
		}
	})
	t.Run("fallback", func(t *testing.T) {
		t.Parallel()
		inner := &plainWriter{}
		sw := Wrap(inner)
		n, err := sw.(io.ReaderFrom).ReadFrom(strings.NewReader("123"))
		if err != nil || n != 3 || inner.body.String() != "123" || sw.(*statusWriter).BytesWritten() != 3 {
			t.Fatalf("n=%d err=%v body=%q", n, err, inner.body.String())
		}
	})
}

func TestStatusWriterFlushUnsupported(t *testing.T) {
	t.Parallel()
	sw := Wrap(&plainWriter{})
	sw.(http.Flusher).Flush() // must not panic
	if sw.Started() {
		t.Fatal("a flush that could not happen must not mark the response started")
	}
	err := http.NewResponseController(sw).Flush()
	if !errors.Is(err, http.ErrNotSupported) {
		t.Fatalf("Flush error = %v, want ErrNotSupported", err)
	}
}

func TestFlushThroughChainStreams(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	handlerDone := make(chan struct{})
	srv := newServer(t, newRouter(zerolog.Nop(), func(r chi.Router) {
		r.Get("/stream", func(w http.ResponseWriter, r *http.Request) {
			defer close(handlerDone)
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = w.Write([]byte("data: first\n\n"))
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
			_, _ = w.Write([]byte("data: second\n\n"))
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("ResponseController.Flush through the wrapper: %v", err)
			}
		})
	}))
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})

	resp, err := srv.Client().Get(srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()

	// The first event must arrive while the handler is still blocked.
	first := make([]byte, len("data: first\n\n"))
	got := make(chan error, 1)
	go func() {
		_, err := io.ReadFull(resp.Body, first)
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("first chunk not delivered before the handler finished: Flush is lost in the wrapper")
	}
	select {
	case <-handlerDone:
		t.Fatal("handler finished before release")
	default:
	}
	if string(first) != "data: first\n\n" {
		t.Fatalf("first chunk = %q", first)
	}
	close(release)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "data: second\n\n" {
		t.Fatalf("rest = %q, %v", rest, err)
	}
}

func TestResponseControllerThroughWrapper(t *testing.T) {
	t.Parallel()
	srv := newServer(t, newRouter(zerolog.Nop(), func(r chi.Router) {
		r.Get("/deadline", func(w http.ResponseWriter, r *http.Request) {
			if _, ok := w.(StatusWriter); !ok {
				t.Error("handler did not get the wrapper; the test would prove nothing")
			}
			rc := http.NewResponseController(w)
			if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
				api500(w, "SetWriteDeadline: "+err.Error())
				return
			}
			if err := rc.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
				api500(w, "SetReadDeadline: "+err.Error())
				return
			}
			_, _ = w.Write([]byte("ok"))
		})
		r.Get("/hijack", func(w http.ResponseWriter, r *http.Request) {
			conn, bw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				api500(w, "Hijack: "+err.Error())
				return
			}
			defer conn.Close()
			_, _ = bw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
			_ = bw.Flush()
		})
	}))
	for _, path := range []string{"/deadline", "/hijack"} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
}

func api500(w http.ResponseWriter, msg string) { http.Error(w, msg, http.StatusInternalServerError) }
