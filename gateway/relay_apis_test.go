package gateway_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/gateway"
)

// streamAPI is one client API whose streams the relay passes through.
type streamAPI struct {
	name, path, body string
	events           []string // upstream events, relayed as they are
	last             string   // the event that ends a complete stream
	ping             string   // the keep-alive in the API's form
	failPrefix       string   // how the final event of a cut stream starts
}

var streamAPIs = []streamAPI{
	{
		name: "responses", path: "/v1/responses", body: `{"model":"gpt-5-codex","stream":true,"input":"hi"}`,
		events: []string{
			"event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"r\"}}\n\n",
			"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"delta\":\"Hel\"}\n\n",
		},
		last:       "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":2,\"response\":{\"id\":\"r\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1,\"total_tokens\":2}}}\n\n",
		ping:       ": ping\n\n",
		failPrefix: "event: response.failed\ndata: {",
	},
	{
		name: "messages", path: "/v1/messages?beta=true", body: `{"model":"claude-sonnet-4.5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
		events: []string{
			"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n",
			"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n",
		},
		last:       "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
		ping:       "event: ping\ndata: {\"type\": \"ping\"}\n\n",
		failPrefix: "event: error\ndata: {\"type\":\"error\"",
	},
}

func openAPIStream(t *testing.T, ts *httptest.Server, api streamAPI) (*bufio.Reader, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLimit)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+api.path, strings.NewReader(api.body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return bufio.NewReader(resp.Body), cancel
}

// TestStreamGuaranteesPerAPI: every API's passthrough stream has chat's
// guarantees: each event reaches the client before the upstream sends the
// next, keep-alives fill silences, a client that leaves cancels the
// upstream, and a stream cut before its last event ends with the API's own
// failure event.
func TestStreamGuaranteesPerAPI(t *testing.T) {
	t.Parallel()
	for _, api := range streamAPIs {
		t.Run(api.name+"/per event and keep-alive", func(t *testing.T) {
			t.Parallel()
			up := newPipeUpstream()
			ts := start(t, up, withConfig(gateway.Config{Keepalive: 30 * time.Millisecond}))
			br, _ := openAPIStream(t, ts, api)
			for _, ev := range api.events {
				up.write(t, ev)
				got := readEventWithin(t, br)
				for got == api.ping {
					got = readEventWithin(t, br)
				}
				if got != ev {
					t.Fatalf("event %q, want %q", got, ev)
				}
			}
			if got := readEventWithin(t, br); got != api.ping {
				t.Fatalf("during silence %q, want %q", got, api.ping)
			}
			up.write(t, api.last)
			_ = up.pw.Close()
			rest, _ := io.ReadAll(br)
			if !strings.HasSuffix(string(rest), api.last) || strings.Contains(string(rest), api.failPrefix) {
				t.Fatalf("tail %q, want the last event and no failure", rest)
			}
		})
		t.Run(api.name+"/disconnect", func(t *testing.T) {
			t.Parallel()
			up := newPipeUpstream()
			ts := start(t, up)
			br, cancel := openAPIStream(t, ts, api)
			up.write(t, api.events[0])
			readEventWithin(t, br)
			cancel()
			select {
			case <-up.cancelled:
			case <-time.After(waitLimit):
				t.Fatal("upstream not cancelled after the client left")
			}
		})
		t.Run(api.name+"/cut", func(t *testing.T) {
			t.Parallel()
			up := newPipeUpstream()
			ts := start(t, up)
			br, _ := openAPIStream(t, ts, api)
			up.write(t, api.events[0])
			readEventWithin(t, br)
			_ = up.pw.Close() // a clean end, but before the last event
			ev := readEventWithin(t, br)
			if !strings.HasPrefix(ev, api.failPrefix) {
				t.Fatalf("final event %q, want one starting %q", ev, api.failPrefix)
			}
		})
	}
}
