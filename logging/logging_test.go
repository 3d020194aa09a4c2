package logging

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestValidFormat(t *testing.T) {
	t.Parallel()
	for format, want := range map[string]bool{"": true, "json": true, "console": true, "JSON": false, "xml": false, " json": false} {
		if got := ValidFormat(format); got != want {
			t.Errorf("ValidFormat(%q) = %v, want %v", format, got, want)
		}
	}
}

func TestParseLevel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want zerolog.Level
		ok   bool
	}{
		{"debug", zerolog.DebugLevel, true},
		{"info", zerolog.InfoLevel, true},
		{"warn", zerolog.WarnLevel, true},
		{"error", zerolog.ErrorLevel, true},
		{"WARN", zerolog.WarnLevel, true},
		{" Info ", zerolog.InfoLevel, true},
		{"", 0, false},
		{"loud", 0, false},
		{"3", 0, false},
		{"disabled", 0, false},
		{"warning", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseLevel(tt.in)
		if tt.ok && (err != nil || got != tt.want) {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if !tt.ok && (err == nil || !strings.Contains(err.Error(), "want debug, info, warn or error")) {
			t.Errorf("ParseLevel(%q) = %v, %v; want an error", tt.in, got, err)
		}
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, format, level string
		wantJSON            bool
		wantDebug           bool
	}{
		{"json", "json", "info", true, false},
		{"auto on a non-terminal is json", "", "info", true, false},
		{"console", "console", "info", false, false},
		{"debug level", "json", "DEBUG", true, true},
		{"an invalid level is info, not silence", "json", "loud", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out strings.Builder
			l := New(tt.format, tt.level, &out)
			l.Debug().Msg("detail")
			l.Info().Str("k", "v").Msg("hello")
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if got := strings.Contains(out.String(), "detail"); got != tt.wantDebug {
				t.Fatalf("debug line written = %v, want %v:\n%s", got, tt.wantDebug, out.String())
			}
			last := lines[len(lines)-1]
			var m map[string]any
			isJSON := json.Unmarshal([]byte(last), &m) == nil
			if isJSON != tt.wantJSON {
				t.Fatalf("JSON = %v, want %v: %q", isJSON, tt.wantJSON, last)
			}
			if isJSON {
				if m["message"] != "hello" || m["k"] != "v" || m["level"] != "info" {
					t.Fatalf("line %q", last)
				}
				if _, err := time.Parse(time.RFC3339, m["time"].(string)); err != nil {
					t.Fatalf("timestamp: %v", err)
				}
				return
			}
			if !strings.Contains(last, "hello") || !strings.Contains(last, "k=v") || strings.Contains(last, "\x1b[") {
				t.Fatalf("console line %q (colours only on a terminal)", last)
			}
		})
	}
}

func TestHTTPErrorLog(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	l := HTTPErrorLog(zerolog.New(&out).With().Str("server", "api").Logger())
	l.Printf("http: TLS handshake error from %s: EOF\n", "192.0.2.1:5000")
	var m map[string]any
	if err := json.Unmarshal([]byte(out.String()), &m); err != nil {
		t.Fatalf("not one JSON line: %q", out.String())
	}
	want := map[string]any{"level": "warn", "component": "http", "server": "api", "message": "http: TLS handshake error from 192.0.2.1:5000: EOF"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v (line %q)", k, m[k], v, out.String())
		}
	}
}

// A real server's internal errors arrive through the adapter.
func TestHTTPErrorLogWithServer(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200); w.WriteHeader(500) }),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          HTTPErrorLog(zerolog.New(&out)),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	defer func() { _ = srv.Close(); <-done }()
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("http://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "superfluous response.WriteHeader") {
		if time.Now().After(deadline) {
			t.Fatalf("no error line: %q", out.String())
		}
		time.Sleep(time.Millisecond)
	}
	if !strings.Contains(out.String(), `"component":"http"`) {
		t.Fatalf("line %q", out.String())
	}
}
