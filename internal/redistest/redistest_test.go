package redistest

import (
	"errors"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStartStopRestart(t *testing.T) {
	srv := Start(t)
	if err := ping(srv.Addr()); err != nil {
		t.Fatalf("ping after Start: %v", err)
	}
	if !strings.HasPrefix(srv.URL(), "redis://127.0.0.1:") {
		t.Errorf("URL %q", srv.URL())
	}
	srv.Stop()
	if ping(srv.Addr()) == nil {
		t.Fatal("server still answers after Stop")
	}
	srv.Stop() // idempotent
	srv.Restart()
	if err := ping(srv.Addr()); err != nil {
		t.Fatalf("ping after Restart on the same port: %v", err)
	}
}

// skipRecorder records what unavailable does instead of ending the test.
type skipRecorder struct {
	testing.TB
	skipped, failed string
}

func (r *skipRecorder) Helper()               {}
func (r *skipRecorder) Skip(args ...any)      { r.skipped = args[0].(string) }
func (r *skipRecorder) Fatal(args ...any)     { r.failed = args[0].(string) }
func (r *skipRecorder) Name() string          { return "rec" }
func (r *skipRecorder) Logf(string, ...any)   {}
func (r *skipRecorder) Errorf(string, ...any) {}

func TestUnavailableSkipsLocallyFailsInCI(t *testing.T) {
	err := errors.New("redis-server is not on PATH")
	local := &skipRecorder{}
	unavailable(local, "", err)
	if local.failed != "" || !strings.Contains(local.skipped, "apt-get install redis-server") {
		t.Errorf("locally: skipped %q, failed %q", local.skipped, local.failed)
	}
	ci := &skipRecorder{}
	unavailable(ci, "true", err)
	if ci.skipped != "" || !strings.Contains(ci.failed, "CI is set") {
		t.Errorf("in CI: skipped %q, failed %q", ci.skipped, ci.failed)
	}
}
