// Package redistest runs a real redis-server for tests: one per Start, on a
// free loopback port in a temporary directory, stopped when the test ends.
//
//	srv := redistest.Start(t)
//	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
//	srv.Stop()    // Redis gone mid-run: connections are refused
//	srv.Restart() // back on the same port, empty
//
// It needs the redis-server binary (Debian's redis-server package), found
// on PATH or at /usr/bin/redis-server. Without it Start skips the test,
// saying so, except when the CI environment variable is set: CI must never
// skip, so the test fails instead. The server keeps nothing on disk (no RDB
// snapshots, no AOF), so a restart starts empty, as after a crash.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// startTimeout bounds how long a server may take to answer PING.
const startTimeout = 10 * time.Second

// Server is one redis-server process. Its methods are safe for concurrent
// use.
type Server struct {
	tb   testing.TB
	bin  string
	dir  string
	port int

	mu     sync.Mutex
	proc   *os.Process // nil while stopped
	exited chan error  // gets the process's exit, once
}

// Start starts a server for tb and stops it when tb ends. Without
// redis-server it skips tb, or fails it when CI is set.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := findBinary()
	if err != nil {
		unavailable(tb, os.Getenv("CI"), err)
	}
	s := &Server{tb: tb, bin: bin, dir: tb.TempDir()}
	// A port found free may be taken before the server binds it: retry
	// with another.
	for attempt := 0; ; attempt++ {
		if s.port, err = freePort(); err == nil {
			err = s.start()
		}
		if err == nil {
			break
		}
		if attempt == 4 {
			tb.Fatalf("redistest: %v", err)
		}
	}
	tb.Cleanup(s.Stop)
	return s
}

// unavailable skips tb for want of redis-server, or fails it in CI.
func unavailable(tb testing.TB, ci string, err error) {
	tb.Helper()
	msg := "redistest: Redis tests need redis-server (Debian: apt-get install redis-server, or make test-deps): " + err.Error()
	if ci != "" {
		tb.Fatal(msg + "; CI is set, so this fails instead of skipping")
	} else {
		tb.Skip(msg)
	}
}

// findBinary locates redis-server.
func findBinary() (string, error) {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	const deb = "/usr/bin/redis-server"
	if _, err := os.Stat(deb); err == nil {
		return deb, nil
	}
	return "", errors.New("redis-server is not on PATH nor at " + deb)
}

// freePort returns a loopback port nothing listens on right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is the server's redis:// URL (database 0).
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Stop kills the server (as a crash would: nothing is saved) and waits for
// it to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	_ = s.proc.Kill()
	<-s.exited
	s.proc, s.exited = nil, nil
}

// Restart starts the server again on the same port, empty, after Stop (it
// stops a running one first), and waits until it answers.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	// The port was just released; the kernel may hold it briefly.
	deadline := time.Now().Add(startTimeout)
	for {
		err := s.start()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("redistest: restart on port %d: %v", s.port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// start runs redis-server on s.port and waits for PING to answer.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	logPath := filepath.Join(s.dir, "redis.log")
	cmd := exec.Command(s.bin,
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--logfile", logPath, "--daemonize", "no")
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if err := waitPing(s.Addr(), exited); err != nil {
		_ = cmd.Process.Kill()
		<-exited
		log, _ := os.ReadFile(logPath)
		return fmt.Errorf("redis-server on port %d: %w; log:\n%s", s.port, err, log)
	}
	s.proc, s.exited = cmd.Process, exited
	return nil
}

// waitPing waits until the server at addr answers PING, or exits.
func waitPing(addr string, exited <-chan error) error {
	deadline := time.Now().Add(startTimeout)
	for {
		if ping(addr) == nil {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("exited before answering: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer to PING within %v", startTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ping sends one inline PING and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}
