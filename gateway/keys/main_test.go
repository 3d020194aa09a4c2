package keys

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/internal/pgtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Wrap stops the PostgreSQL test server (if a test started one) before
	// goleak looks for leftover goroutines.
	goleak.VerifyTestMain(pgtest.Wrap(m))
}

// waitLimit bounds every "eventually" in these tests: generous for a busy
// machine, finite so a bug cannot hang the suite.
const waitLimit = 5 * time.Second

// testPoll is the PollInterval in tests, so cross-store changes show quickly.
const testPoll = 50 * time.Millisecond

// clock is an injectable, settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// tempDB is the path of a fresh SQLite key store in the test's temp dir.
func tempDB(tb testing.TB) string { return filepath.Join(tb.TempDir(), "keys.db") }

// openURL opens the store at loc (OpenURL: a URL or a plain SQLite path)
// and closes it at the end of the test.
func openURL(tb testing.TB, loc string, opts Options) *Store {
	tb.Helper()
	if opts.PollInterval == 0 {
		opts.PollInterval = testPoll
	}
	s, err := OpenURL(context.Background(), loc, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

// mustCreate creates a key or fails the test.
func mustCreate(tb testing.TB, s *Store, p CreateParams) CreatedKey {
	tb.Helper()
	ck, err := s.Create(context.Background(), p)
	if err != nil {
		tb.Fatalf("Create(%q): %v", p.Name, err)
	}
	return ck
}

func ptr[T any](v T) *T { return &v }

// eventually polls cond until it holds or waitLimit passes.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %v", what, waitLimit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
