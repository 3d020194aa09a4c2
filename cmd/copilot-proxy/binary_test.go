package main

import (
	"io"
	"maps"
	"net"
	"net/http"
	"os/exec"
	"testing"
	"time"
)

// startServeBinary runs the built binary's serve with args and env (on top
// of a fresh HOME, a free loopback address and JSON logs; an empty value
// leaves a variable out), and waits until /readyz answers 200. The binary
// is killed when the test ends. The crash and scale-out tests share it; the
// 15 s wait covers a cold start on a busy machine with PostgreSQL.
func startServeBinary(t *testing.T, bin string, env map[string]string, args ...string) (string, *exec.Cmd) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	home := t.TempDir()
	all := map[string]string{"HOME": home, "XDG_CONFIG_HOME": home + "/config",
		"COPILOT_PROXY_ADDR": addr, "COPILOT_PROXY_LOG_FORMAT": "json"}
	maps.Copy(all, env)
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	for k, v := range all {
		if v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = io.Discard, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := "http://" + addr
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := c.Get(url + "/readyz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url, cmd
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("binary not ready after 15 s; logs:\n%s", logs.String())
		}
	}
}
