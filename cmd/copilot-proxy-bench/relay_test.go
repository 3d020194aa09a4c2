//go:build linux

package main

import (
	"io"
	"net"
	"testing"
	"time"
)

// The relay passes bytes both ways and a half-close through, so a client
// that ends its request side still reads the whole answer.
func TestRelayConn(t *testing.T) {
	t.Parallel()
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer upLn.Close()
	go func() { // the upstream: reads to EOF, answers, closes
		c, err := upLn.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		_, _ = c.Write(append([]byte("got "), b...))
	}()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	relayed := make(chan struct{})
	go func() {
		defer close(relayed)
		c, err := ln.Accept()
		if err == nil {
			relayConn(c.(*net.TCPConn), upLn.Addr().String())
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second)) // a lost half-close fails, not hangs
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "got ping" {
		t.Fatalf("read %q, %v; want \"got ping\"", b, err)
	}
	<-relayed
}
