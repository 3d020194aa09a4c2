package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/redislimits"
)

// TestCheckRedisFollowsServeContext: start-up's Redis ping waits on serve's
// context, so a signal during start-up cuts it at once (and logs nothing),
// while a Redis that refuses connections is still a warning.
func TestCheckRedisFollowsServeContext(t *testing.T) {
	t.Parallel()
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return // closed at the end of the test
			}
			defer c.Close()
		}
	}()
	refused := strings.TrimPrefix(closedURL(t), "http://")
	for _, tt := range []struct {
		name, addr string
		cancel     bool
		warn       bool
	}{
		{"signal during start-up", silent.Addr().String(), true, false},
		{"Redis refuses", refused, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			a := &app{cfg: serveConfig{RedisFailure: "closed"}, log: zerolog.New(&logs)}
			// A call timeout past checkRedis's own 2 s bound, so only the
			// context can end the wait early.
			rl, err := redislimits.New(redislimits.Config{URL: "redis://" + tt.addr, Timeout: 5 * time.Second, Logger: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			defer rl.Close()
			ctx, cancel := context.WithCancel(t.Context())
			if tt.cancel {
				cancel()
			}
			defer cancel()
			start := time.Now()
			a.checkRedis(ctx, rl)
			if d := time.Since(start); tt.cancel && d > time.Second {
				t.Errorf("checkRedis on a cancelled context took %v", d)
			}
			if got := strings.Contains(logs.String(), "Redis is unreachable"); got != tt.warn {
				t.Errorf("warning logged = %v, want %v: %s", got, tt.warn, logs.String())
			}
		})
	}
}
