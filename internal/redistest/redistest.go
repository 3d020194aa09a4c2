// Package redistest runs a real redis-server for tests: one per Start, on a
// free loopback port in a temporary directory, stopped when the test ends.
//
//	srv := redistest.Start(t)
//	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
//	srv.Stop()    // Redis gone mid-run: connections are refused
//	srv.Restart() // back on the same port, empty
//
// It needs the redis-server binary (Debian's redis-server package), found
// on PATH or in /usr/bin. Without it Start skips the test, saying so,
// except when the CI environment variable is set: CI must never skip, so
// the test fails instead. The server keeps nothing on disk (no RDB
// snapshots, no AOF), so a restart starts empty, as after a crash.
//
// Find, Run and Call do the same without a test (the bench uses them); the
// package imports testing only in its tests.
package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/copilot-proxy/copilot-proxy/internal/testproc"
)

// startTimeout bounds how long a server may take to answer PING.
const startTimeout = 10 * time.Second

// portAttempts: a port found free may be taken before the server binds
// it; Run tries another.
const portAttempts = 5

// TB is the part of testing.TB that Start needs.
type TB interface {
	testproc.TB
	Fatalf(format string, args ...any)
	TempDir() string
	Cleanup(func())
}

// Server is a Proc stopped when its test ends. Its methods are safe for
// concurrent use.
type Server struct {
	*Proc
	tb TB
}

// Start starts a server for tb and stops it when tb ends. Without
// redis-server it skips tb, or fails it when CI is set.
func Start(tb TB) *Server {
	tb.Helper()
	bin, err := Find("")
	if err != nil {
		unavailable(tb, testproc.CI(), err)
	}
	p, err := Run(bin, tb.TempDir())
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(p.Stop)
	return &Server{Proc: p, tb: tb}
}

// unavailable skips tb for want of redis-server, or fails it in CI.
func unavailable(tb testproc.TB, ci string, err error) {
	tb.Helper()
	testproc.Unavailable(tb, ci, "redistest: Redis tests need redis-server (Debian: apt-get install redis-server, or make test-deps): "+err.Error())
}

// Restart starts the server again on the same port, empty, after Stop (it
// stops a running one first), and waits until it answers; it fails the
// test if it cannot.
func (s *Server) Restart() {
	s.tb.Helper()
	if err := s.Proc.Restart(); err != nil {
		s.tb.Fatalf("redistest: %v", err)
	}
}

// Find returns the redis-server binary: bin if given (it must exist), else
// the one on PATH, else Debian's /usr/bin/redis-server.
func Find(bin string) (string, error) {
	if bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", err
		}
		return bin, nil
	}
	return testproc.FindBinary("redis-server", "/usr/bin")
}

// Proc is one redis-server process. Its methods are safe for concurrent
// use.
type Proc struct {
	bin  string
	dir  string
	port int

	mu     sync.Mutex
	proc   *os.Process // nil while stopped
	exited chan error  // gets the process's exit, once
}

// Run starts redis-server bin on a free loopback port, with its log in dir
// (it saves nothing there), and waits until it answers PING. The kernel
// kills it if this process dies without stopping it (Linux).
func Run(bin, dir string) (*Proc, error) {
	p := &Proc{bin: bin, dir: dir}
	var err error
	for range portAttempts {
		if p.port, err = testproc.FreePort(); err == nil {
			if err = p.start(); err == nil {
				return p, nil
			}
		}
	}
	return nil, err
}

// Addr is the server's host:port.
func (p *Proc) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

// URL is the server's redis:// URL (database 0).
func (p *Proc) URL() string { return "redis://" + p.Addr() + "/0" }

// Pid is the server's process id (0 while stopped), e.g. to read its CPU
// time.
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return 0
	}
	return p.proc.Pid
}

// Stop kills the server (as a crash would: nothing is saved) and waits for
// it to exit. Stopping a stopped server does nothing.
func (p *Proc) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return
	}
	_ = p.proc.Kill()
	<-p.exited
	p.proc, p.exited = nil, nil
}

// Restart starts the server again on the same port, empty, after Stop (it
// stops a running one first), and waits until it answers.
func (p *Proc) Restart() error {
	p.Stop()
	// The port was just released; the kernel may hold it briefly.
	deadline := time.Now().Add(startTimeout)
	for {
		err := p.start()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("restart on port %d: %w", p.port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// start runs redis-server on p.port and waits for PING to answer.
func (p *Proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	logPath := filepath.Join(p.dir, "redis.log")
	cmd := exec.Command(p.bin,
		"--port", strconv.Itoa(p.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", p.dir,
		"--logfile", logPath, "--daemonize", "no")
	cmd.SysProcAttr = testproc.ParentDeath(nil, syscall.SIGKILL)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if err := waitPing(p.Addr(), exited); err != nil {
		_ = cmd.Process.Kill()
		<-exited
		log, _ := os.ReadFile(logPath)
		return fmt.Errorf("redis-server on port %d: %w; log:\n%s", p.port, err, log)
	}
	p.proc, p.exited = cmd.Process, exited
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
	line, _, err := Call(addr, "PING")
	if err != nil {
		return err
	}
	if line != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// Call sends one inline command (no client library) to the server at addr
// and returns the first line of the answer without its CRLF and, when that
// is a bulk string, its body.
func Call(addr, command string) (line, body string, err error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, command+"\r\n"); err != nil {
		return "", "", err
	}
	r := bufio.NewReader(c)
	if line, err = r.ReadString('\n'); err != nil {
		return "", "", err
	}
	line = strings.TrimRight(line, "\r\n")
	n, err := strconv.Atoi(strings.TrimPrefix(line, "$"))
	if !strings.HasPrefix(line, "$") || err != nil || n < 0 {
		return line, "", nil // not a bulk string, or a nil one
	}
	b := make([]byte, n+2) // the body and its CRLF
	if _, err := io.ReadFull(r, b); err != nil {
		return line, "", err
	}
	return line, string(b[:n]), nil
}
