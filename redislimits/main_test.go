package redislimits

import (
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/copilot-proxy/copilot-proxy/internal/redistest"
)

func TestMain(m *testing.M) {
	SetDriverLogger(zerolog.Nop()) // dial failures are expected here
	goleak.VerifyTestMain(m)
}

// testWindow is the rate window of the Redis tests: short, so windows
// slide within a test.
const testWindow = 2 * time.Second

// testLeaseTTL is the lease TTL of the Redis tests.
const testLeaseTTL = 1500 * time.Millisecond

// newTestClient returns a Client on srv with a short window, lease TTL and
// probe interval, closed with the test; mods adjust its Config.
func newTestClient(t testing.TB, srv *redistest.Server, mods ...func(*Config)) *Client {
	t.Helper()
	// A generous call timeout: -race on a loaded machine must not read
	// as an outage. The failure tests see refused connections at once.
	cfg := Config{URL: srv.URL(), LeaseTTL: testLeaseTTL, ProbeInterval: 100 * time.Millisecond,
		Timeout: 2 * time.Second, window: testWindow}
	for _, m := range mods {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
