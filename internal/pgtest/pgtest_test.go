package pgtest

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(checkStopped{m})
}

// checkStopped runs the tests through Wrap, then checks that the server
// process and its directory are gone.
type checkStopped struct{ m *testing.M }

func (c checkStopped) Run() int {
	var pid int
	var dir string
	code := Wrap(runHook{c.m, func() {
		mu.Lock()
		defer mu.Unlock()
		if running != nil {
			pid, dir = running.cmd.Process.Pid, running.dir
		}
	}}).Run()
	if pid == 0 {
		return code
	}
	if alive, err := processExists(pid); alive {
		fmt.Fprintf(os.Stderr, "pgtest: server process %d still exists after Stop (%v)\n", pid, err)
		code = 1
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		fmt.Fprintf(os.Stderr, "pgtest: %s still exists after Stop (%v)\n", dir, err)
		code = 1
	}
	return code
}

// runHook runs m, then after (before Wrap stops the server).
type runHook struct {
	m     *testing.M
	after func()
}

func (r runHook) Run() int {
	code := r.m.Run()
	r.after()
	return code
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// TestNewDatabases: each test gets its own empty database on a loopback
// server that does not run as root; a database is gone after its test.
func TestNewDatabases(t *testing.T) {
	ctx := context.Background()
	var first string
	t.Run("first", func(t *testing.T) {
		url := New(t)
		if !strings.HasPrefix(url, "postgres://postgres@127.0.0.1:") {
			t.Errorf("url %q is not loopback", url)
		}
		c := connect(t, url)
		if err := c.QueryRow(ctx, "SELECT current_database()").Scan(&first); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Exec(ctx, "CREATE TABLE only_here (n int)"); err != nil {
			t.Fatal(err)
		}
		// The connection stays open: the drop must end it.
	})
	url := New(t)
	c := connect(t, url)
	var name string
	var tables, same int
	if err := c.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", first).Scan(&same); err != nil {
		t.Fatal(err)
	}
	if name == first || tables != 0 {
		t.Errorf("second database %s (first %s) has %d tables", name, first, tables)
	}
	if same != 0 {
		t.Errorf("database %s not dropped after its test", first)
	}
	if os.Geteuid() == 0 {
		uid, err := processOwner(running.cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		if uid == 0 {
			t.Error("postgres runs as root")
		}
	}
}

// TestParallelDatabases: parallel tests each get a working database.
func TestParallelDatabases(t *testing.T) {
	for i := range 4 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			c := connect(t, New(t))
			var one int
			if err := c.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil || one != 1 {
				t.Errorf("SELECT 1 = %d, %v", one, err)
			}
		})
	}
}

// TestUnavailable: without PostgreSQL a test skips, with CI set it fails.
func TestUnavailable(t *testing.T) {
	for _, tc := range []struct {
		ci                 string
		wantSkip, wantFail bool
	}{{"", true, false}, {"1", false, true}, {"true", false, true}} {
		rec := &recorder{TB: t}
		done := make(chan struct{})
		go func() { // Skip and Fatal end the goroutine, as in a test
			defer close(done)
			unavailable(rec, tc.ci, "the postgres binary")
		}()
		<-done
		if rec.skipped != tc.wantSkip || rec.failed != tc.wantFail {
			t.Errorf("CI=%q: skipped %v failed %v, want %v %v", tc.ci, rec.skipped, rec.failed, tc.wantSkip, tc.wantFail)
		}
		if !strings.Contains(rec.msg, "the postgres binary") {
			t.Errorf("CI=%q: message %q does not name what is missing", tc.ci, rec.msg)
		}
	}
}

// recorder captures Skip and Fatal instead of ending the real test.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper() {}
func (r *recorder) Skip(args ...any) {
	r.skipped, r.msg = true, fmt.Sprint(args...)
	runtimeGoexit()
}
func (r *recorder) Fatal(args ...any) {
	r.failed, r.msg = true, fmt.Sprint(args...)
	runtimeGoexit()
}

func TestFindBinaries(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, _, missing := findBinaries()
	// Debian's layout may still provide them.
	if missing != "" && !strings.Contains(missing, "initdb and postgres") {
		t.Errorf("missing = %q", missing)
	}
}

var runtimeGoexit = runtime.Goexit
