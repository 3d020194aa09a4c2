// Package testproc is what the harnesses that run a real server for tests
// (internal/pgtest, internal/redistest) share: the rule for a server that
// is not installed (skip, but fail in CI), the lookup of its binary, a free
// loopback port and the parent-death signal that stops a server whose test
// binary died. It does not import testing, so a command (the bench) can
// start servers through the harnesses too.
package testproc

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
)

// TB is the part of testing.TB that Unavailable needs.
type TB interface {
	Helper()
	Skip(args ...any)
	Fatal(args ...any)
}

// CI is the CI environment variable: when set, a test whose server is not
// installed fails instead of skipping (CI must never skip).
func CI() string { return os.Getenv("CI") }

// Unavailable skips tb for want of a server, saying msg (what is missing
// and how to install it), or fails it when ci (CI's value) is set.
func Unavailable(tb TB, ci, msg string) {
	tb.Helper()
	if ci != "" {
		tb.Fatal(msg + "; CI is set, so this fails instead of skipping")
		return // a recorder's Fatal may return
	}
	tb.Skip(msg)
}

// FindBinary finds the executable name on PATH or, failing that, in the
// folders matching the glob dirs (the last in lexical order first: with
// Debian's /usr/lib/postgresql/*/bin, the newest version).
func FindBinary(name, dirs string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	found, _ := filepath.Glob(dirs)
	for i := len(found) - 1; i >= 0; i-- {
		if p := filepath.Join(found[i], name); isExecutable(p) {
			return p, nil
		}
	}
	return "", errors.New(name + " is not on PATH nor in " + dirs)
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// FreePort returns a loopback TCP port nothing listens on right now (a
// server started on it may still find it taken: callers retry).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
