// Package pgtest runs a real PostgreSQL server for tests: one per test
// binary, started on first use on a free loopback port in a temporary
// directory, with a fresh database per test.
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Wrap(m)) }
//	// or: func TestMain(m *testing.M) { os.Exit(pgtest.Wrap(m).Run()) }
//
//	func TestSomething(t *testing.T) {
//		url := pgtest.New(t) // postgres://postgres@127.0.0.1:PORT/pgtest_N?sslmode=disable
//		...
//	}
//
// The server needs the postgres and initdb binaries, found on PATH or under
// /usr/lib/postgresql/*/bin (Debian's postgresql package). Without them New
// skips the test, saying so, except when the CI environment variable is set:
// CI must never skip, so the test fails instead. As root (PostgreSQL refuses
// to run as root) the server runs as the postgres system user.
//
// The server is tuned for speed, not durability (fsync, synchronous_commit
// and full_page_writes off) and trusts every local connection.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/copilot-proxy/copilot-proxy/internal/testproc"
)

var (
	mu      sync.Mutex
	running *server
	// startErr is why the server could not start; every New reports it.
	startErr error
	// missing names what is not installed; New skips (or fails in CI).
	missing string
	started bool
	dbSeq   atomic.Int64
)

// Wrap returns m with a Run that stops the server (if a test started one)
// after the tests, before Run returns: pass it to goleak.VerifyTestMain, or
// call os.Exit(Wrap(m).Run()).
func Wrap(m interface{ Run() int }) interface{ Run() int } { return wrapped{m} }

type wrapped struct{ m interface{ Run() int } }

func (w wrapped) Run() int {
	code := w.m.Run()
	if err := Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// New returns the URL of a new, empty database on the test server (started
// on first use), dropped when t ends. Without PostgreSQL installed it skips
// t, or fails it when the CI environment variable is set.
func New(t testing.TB) string {
	t.Helper()
	srv := server1(t)
	name := fmt.Sprintf("pgtest_%d", dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// FORCE ends connections a failed test left open.
		if err := srv.exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return srv.url(name)
}

// server1 starts the server once and returns it, or ends t.
func server1(t testing.TB) *server {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if !started {
		started = true
		running, missing, startErr = start()
	}
	switch {
	case missing != "":
		unavailable(t, testproc.CI(), missing)
	case startErr != nil:
		t.Fatalf("pgtest: %v", startErr)
	}
	return running
}

// unavailable skips t for want of PostgreSQL, or fails it in CI.
func unavailable(t testing.TB, ci, what string) {
	t.Helper()
	testproc.Unavailable(t, ci, "pgtest: PostgreSQL tests need "+what+
		" (Debian: apt-get install postgresql; found on PATH or under /usr/lib/postgresql/*/bin)")
}

// Stop stops the server if one was started and removes its directory; New
// starts a new one afterwards. Wrap calls it.
func Stop() error {
	mu.Lock()
	defer mu.Unlock()
	srv := running
	running, started, startErr, missing = nil, false, nil, ""
	if srv == nil {
		return nil
	}
	return srv.stop()
}

// exec runs one statement on the server's postgres database.
func (s *server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.url("postgres"))
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, sql)
	return errors.Join(err, conn.Close(ctx))
}

// url is the connection URL of database name.
func (s *server) url(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, name)
}
