package middleware

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"
)

func TestRecoverServesEnvelopeAndKeepsServing(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	srv := newServer(t, newRouter(zerolog.New(&buf), func(r chi.Router) {
		r.Get("/panic", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Partial", "set-before-panic")
			panic(errors.New("kaboom"))
		})
		r.Get("/ok", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("fine")) })
	}))
	c := srv.Client()

	resp, err := c.Get(srv.URL + "/panic")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", resp.StatusCode)
	}
	panicID := resp.Header.Get("X-Request-Id")
	if !uuidV4.MatchString(panicID) {
		t.Fatalf("x-request-id = %q, want a generated id", resp.Header.Get("X-Request-Id"))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content-type = %q", ct)
	}
	code, typ, msg := decodeEnvelope(t, body)
	if code != "internal_error" || typ != "server_error" || msg != "internal error" {
		t.Fatalf("envelope = %s/%s/%s", code, typ, msg)
	}
	if strings.Contains(string(body), "kaboom") {
		t.Fatal("panic value leaked to the client")
	}

	// The server survives and serves the next request on the same client.
	resp, err = c.Get(srv.URL + "/ok")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "fine" {
		t.Fatalf("next request: %d %q", resp.StatusCode, body)
	}

	ls := buf.waitLines(t, 3)
	var panicLine map[string]any
	for _, l := range ls {
		if l["message"] == "handler panicked" {
			panicLine = l
		}
	}
	if panicLine == nil {
		t.Fatalf("no panic log line: %s", buf.String())
	}
	if panicLine["level"] != "error" || panicLine["panic"] != "kaboom" || panicLine["request_id"] != panicID {
		t.Errorf("panic line = %v", panicLine)
	}
	if s, _ := panicLine["stack"].(string); !strings.Contains(s, "recover_test.go") {
		t.Errorf("stack does not point at the panicking handler: %q", s)
	}
}

func TestRecoverAfterResponseStartedAborts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		flush bool
	}{
		{"flushed", true},
		{"buffered", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf syncBuffer
			srv := newServer(t, newRouter(zerolog.New(&buf), func(r chi.Router) {
				r.Get("/", func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "text/event-stream")
					_, _ = w.Write([]byte("data: 1\n\n"))
					if tt.flush {
						w.(http.Flusher).Flush()
					}
					panic("mid-stream")
				})
			}))
			resp, err := srv.Client().Get(srv.URL)
			if err != nil {
				if tt.flush {
					t.Fatalf("headers were flushed, the client should get them: %v", err)
				}
				return // buffered: the connection died before the headers, fine
			}
			body, readErr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want the 200 already sent", resp.StatusCode)
			}
			if readErr == nil {
				t.Fatalf("body read cleanly (%q), want a broken response", body)
			}
			if strings.Contains(string(body), "internal_error") {
				t.Fatalf("an error envelope was appended to a started response: %q", body)
			}
			ls := buf.waitLines(t, 2)
			var sawPanic, sawAborted bool
			for _, l := range ls {
				sawPanic = sawPanic || (l["message"] == "handler panicked" && l["response_started"] == true)
				sawAborted = sawAborted || l["aborted"] == true
			}
			if !sawPanic || !sawAborted {
				t.Fatalf("want a panic line and an aborted access line: %s", buf.String())
			}
		})
	}
}

func TestRecoverPassesAbortHandlerThrough(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		val  any
	}{
		{"ErrAbortHandler", http.ErrAbortHandler},
		{"wrapped", fmt.Errorf("relay: %w", http.ErrAbortHandler)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf syncBuffer
			rec := httptest.NewRecorder()
			req := newRequest(http.MethodGet, "/", nil)
			req = req.WithContext(WithLogger(req.Context(), zerolog.New(&buf)))
			func() {
				defer func() {
					if got := recover(); got != tt.val {
						t.Errorf("recovered %v, want the original panic value", got)
					}
				}()
				Recover(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(tt.val) })).ServeHTTP(rec, req)
			}()
			if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
				t.Fatalf("recorder got a response (%d %q), want none", rec.Code, rec.Body)
			}
			if buf.String() != "" {
				t.Fatalf("abort should not be logged as a panic: %s", buf.String())
			}
		})
	}
}

func TestRecoverStandalone(t *testing.T) {
	t.Parallel()
	// Without RequestID/AccessLog in front it still answers with an envelope.
	rec := httptest.NewRecorder()
	Recover(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		var m map[string]int
		m["x"] = 1 // runtime panic: assignment to nil map
	})).ServeHTTP(rec, newRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", rec.Code)
	}
	if code, _, _ := decodeEnvelope(t, rec.Body.Bytes()); code != "internal_error" {
		t.Fatalf("code = %q", code)
	}
}

// carried is a panic value with the stack it was first raised on.
type carried struct{ stack []byte }

func (c carried) PanicStack() []byte { return c.stack }

// TestRecoverLogsRedactedTextAndCarriedStack: the logged panic text goes
// through api.Redact (a panic message may quote a header or an upstream
// error), and a StackCarrier's stack is logged instead of the recovery's.
func TestRecoverLogsRedactedTextAndCarriedStack(t *testing.T) {
	t.Parallel()
	secret := "ghu_" + strings.Repeat("a", 36)
	tests := []struct {
		name      string
		value     any
		wantPanic string
		wantStack string
	}{
		{"redacted", errors.New("upstream said Bearer " + secret), "upstream said Bearer " + api.Redacted, "recover_test.go"},
		{"carried stack", carried{stack: []byte("goroutine 7 [running]:\nsomewhere/else.go:1")}, "middleware.carried: ", "somewhere/else.go:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf syncBuffer
			rec := httptest.NewRecorder()
			h := RequestID(AccessLog(zerolog.New(&buf), nil, nil)(Recover(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
				panic(tt.value)
			}))))
			Entries(h).ServeHTTP(rec, newRequest(http.MethodGet, "/", nil))
			if rec.Code != http.StatusInternalServerError {
				t.Fatalf("status = %d, want 500", rec.Code)
			}
			if strings.Contains(buf.String(), secret) {
				t.Fatalf("the secret reached the log: %s", buf.String())
			}
			var line map[string]any
			for _, l := range buf.waitLines(t, 2) {
				if l["message"] == "handler panicked" {
					line = l
				}
			}
			if p, _ := line["panic"].(string); !strings.HasPrefix(p, tt.wantPanic) {
				t.Errorf("panic = %q, want it to start with %q", p, tt.wantPanic)
			}
			if s, _ := line["stack"].(string); !strings.Contains(s, tt.wantStack) {
				t.Errorf("stack = %q, want it to contain %q", s, tt.wantStack)
			}
		})
	}
}
