package gateway_test

import (
	"strings"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/gateway"
)

// TestStreamTrickleTimesOutBetweenEvents: through the server, an upstream
// that keeps sending bytes but never ends another event is cut after
// Config.StreamIdleTimeout with the upstream_timeout error event, and the
// upstream request is cancelled.
func TestStreamTrickleTimesOutBetweenEvents(t *testing.T) {
	t.Parallel()
	up := newPipeUpstream()
	ts := start(t, up, withConfig(gateway.Config{Keepalive: -1, StreamIdleTimeout: 300 * time.Millisecond}))
	_, br, _ := openStream(t, ts)
	up.write(t, "data: {\"a\":1}\n\n")
	if ev := readEventWithin(t, br); !strings.Contains(ev, `"a":1`) {
		t.Fatalf("first event %q", ev)
	}
	started := time.Now()
	stop := make(chan struct{})
	defer close(stop)
	go func() { // a byte every 20 ms, never a blank line
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := up.pw.Write([]byte("x")); err != nil {
				return
			}
		}
	}()
	ev := readEventWithin(t, br)
	if !strings.Contains(ev, `"code":"upstream_timeout"`) || !strings.Contains(ev, "stream idle timeout") {
		t.Fatalf("final event %q", ev)
	}
	if d := time.Since(started); d < 250*time.Millisecond {
		t.Fatalf("cut after %v, before the idle timeout", d)
	}
	select {
	case <-up.cancelled:
	case <-time.After(waitLimit):
		t.Fatal("upstream request not cancelled")
	}
}
