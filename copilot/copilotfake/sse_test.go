package copilotfake

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// sse is one parsed event of a named-event stream.
type sse struct {
	event string
	data  map[string]any
}

// parseSSE parses a stream of "event: X\ndata: {...}" frames and checks
// that each data's type matches its event name.
func parseSSE(t *testing.T, body string) []sse {
	t.Helper()
	var out []sse
	for _, frame := range readEvents(t, body) {
		var ev sse
		for line := range strings.SplitSeq(frame, "\n") {
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.data); err != nil {
					t.Fatalf("frame %q: %v", frame, err)
				}
			default:
				t.Fatalf("unexpected line %q in frame %q", line, frame)
			}
		}
		if ev.event == "" || ev.data == nil || ev.data["type"] != ev.event {
			t.Fatalf("frame %q: event name and data type differ", frame)
		}
		out = append(out, ev)
	}
	return out
}

// names is the event names of evs.
func names(evs []sse) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.event
	}
	return out
}

// repeat is n copies of s.
func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// cat concatenates string lists.
func cat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// path walks a decoded JSON value by object keys and array indices.
func path(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// decode parses a JSON object body.
func decode(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	return m
}

// post sends a POST with extra headers (name, value pairs).
func post(t *testing.T, s *Server, p, auth, body string, headers ...string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL()+p, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", p, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: reading body: %v", p, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
