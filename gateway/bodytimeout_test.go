package gateway_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
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
	up := gateway.UpstreamFunc(func(ctx context.Context, call *gateway.Call) (*http.Response, error) {
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
