//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// relayTarget names the TCP relay in the results: the floor of any proxy.
const relayTarget = "tcp relay"

// runTCPRelay is the -tcp-relay mode: it copies bytes between each client
// connection on addr and a connection of its own to the upstream's host,
// nothing else (TLS, when the upstream speaks it, goes end to end). Put
// between the load client and the fake, it measures what one more process
// and one more loopback hop cost on this machine, which every proxy pays
// before it does any work. It serves until SIGTERM or until stdin closes
// (the bench ended, however it ended).
func runTCPRelay(upstream, addr string, stdin io.Reader) error {
	u, err := url.Parse(upstream)
	if err != nil || u.Host == "" {
		return fmt.Errorf("bad -upstream %q", upstream)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
		<-sig
		_ = ln.Close()
	}()
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		_ = ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		go relayConn(c.(*net.TCPConn), u.Host)
	}
}

// relayConn copies c to a new connection to host and back (io.Copy between
// two TCP connections splices in the kernel), then closes both.
func relayConn(c *net.TCPConn, host string) {
	defer c.Close()
	d, err := net.Dial("tcp", host)
	if err != nil {
		return
	}
	up := d.(*net.TCPConn)
	defer up.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(up, c)
		_ = up.CloseWrite()
	}()
	_, _ = io.Copy(c, up)
	_ = c.CloseWrite()
	<-done
}

// startRelay runs this binary with -tcp-relay in front of up's fake and
// returns it as a target that speaks what the fake speaks, with the direct
// target's Authorization.
func (e *env) startRelay(up *upstream, direct *target) (*target, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := dieWithBench(exec.Command(e.self, "-tcp-relay", "-upstream", up.fake.URL(), "-addr", addr))
	logf, err := os.Create(filepath.Join(e.dir, up.name+"-relay.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its stdin is a pipe the bench holds open until it exits: the relay
	// ends with the bench even if the bench is killed.
	if _, err := cmd.StdinPipe(); err != nil {
		logf.Close()
		return nil, err
	}
	p := &process{cmd: cmd, log: logf, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	p.pid = cmd.Process.Pid
	go func() { _ = cmd.Wait(); close(p.done) }()
	u, _ := url.Parse(up.fake.URL())
	t := &target{name: relayTarget, url: u.Scheme + "://" + addr, auth: direct.auth, proc: p}
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return t, nil
		}
		select {
		case <-p.done:
			b, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("tcp relay exited before listening: %s", lastLines(b, 5))
		case <-time.After(10 * time.Millisecond):
		}
		if i == 200 {
			p.stop()
			return nil, fmt.Errorf("tcp relay: not listening on %s after 2 s", addr)
		}
	}
}
