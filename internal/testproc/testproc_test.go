package testproc

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// recorder captures Skip and Fatal instead of ending the real test.
type recorder struct {
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper() {}
func (r *recorder) Skip(args ...any) {
	r.skipped, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *recorder) Fatal(args ...any) {
	r.failed, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

// TestUnavailable: a missing server skips locally and fails in CI.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ci                 string
		wantSkip, wantFail bool
	}{{"", true, false}, {"1", false, true}, {"true", false, true}} {
		rec := &recorder{}
		done := make(chan struct{})
		go func() { // Skip and Fatal end the goroutine, as in a test
			defer close(done)
			Unavailable(rec, tc.ci, "needs the thing")
		}()
		<-done
		if rec.skipped != tc.wantSkip || rec.failed != tc.wantFail || !strings.HasPrefix(rec.msg, "needs the thing") {
			t.Errorf("CI=%q: skipped %v failed %v (%q), want %v %v", tc.ci, rec.skipped, rec.failed, rec.msg, tc.wantSkip, tc.wantFail)
		}
		if tc.wantFail && !strings.Contains(rec.msg, "CI is set") {
			t.Errorf("CI=%q: message %q does not say why it fails", tc.ci, rec.msg)
		}
	}
}

// TestFindBinary: PATH first, then the newest of the fallback folders, and
// only an executable file.
func TestFindBinary(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"path", "v14/bin", "v16/bin"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(root, p), []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("v14/bin/srv", 0o755)
	write("v16/bin/srv", 0o644) // not executable: skipped
	t.Setenv("PATH", filepath.Join(root, "path"))
	glob := filepath.Join(root, "v*", "bin")
	if p, err := FindBinary("srv", glob); err != nil || p != filepath.Join(root, "v14/bin/srv") {
		t.Errorf("fallback: %q, %v", p, err)
	}
	if err := os.Chmod(filepath.Join(root, "v16/bin/srv"), 0o755); err != nil {
		t.Fatal(err)
	}
	if p, _ := FindBinary("srv", glob); p != filepath.Join(root, "v16/bin/srv") {
		t.Errorf("newest fallback: %q", p)
	}
	write("path/srv", 0o755)
	if p, _ := FindBinary("srv", glob); p != filepath.Join(root, "path/srv") {
		t.Errorf("PATH first: %q", p)
	}
	if _, err := FindBinary("nothere", glob); err == nil || !strings.Contains(err.Error(), "nothere") {
		t.Errorf("missing: %v", err)
	}
}

func TestFreePort(t *testing.T) {
	t.Parallel()
	port, err := FreePort()
	if err != nil || port <= 0 {
		t.Fatalf("FreePort = %d, %v", port, err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("the free port cannot be bound: %v", err)
	}
	_ = l.Close()
}
