package redistest

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/copilot-proxy/copilot-proxy/internal/testproc"
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

// TestRunWithoutATest: Find, Run and Call serve a command (the bench): the
// process answers, Call reads a bulk answer, Stop ends it.
func TestRunWithoutATest(t *testing.T) {
	bin, err := Find("")
	if err != nil {
		unavailable(t, testproc.CI(), err)
	}
	if _, err := Find(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("Find accepted a binary that does not exist")
	}
	p, err := Run(bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if p.Pid() <= 0 {
		t.Errorf("Pid %d while running", p.Pid())
	}
	line, body, err := Call(p.Addr(), "INFO server")
	if err != nil || !strings.HasPrefix(line, "$") || !strings.Contains(body, "redis_version:") {
		t.Fatalf("INFO: %q %q %v", line, body, err)
	}
	if line, body, err := Call(p.Addr(), "GET missing"); err != nil || line != "$-1" || body != "" {
		t.Errorf("a nil bulk: %q %q %v", line, body, err)
	}
	p.Stop()
	if p.Pid() != 0 || ping(p.Addr()) == nil {
		t.Error("still running after Stop")
	}
}
