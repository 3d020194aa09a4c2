package redislimits

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// leaseSet is what this instance holds in lease sets: concurrency slots
// and budget reservations of requests in flight, by set key.
type leaseSet struct {
	mu sync.Mutex
	m  map[string]map[string]struct{}
}

func (s *leaseSet) add(key, member string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := s.m[key]
	if ms == nil {
		ms = map[string]struct{}{}
		s.m[key] = ms
	}
	ms[member] = struct{}{}
}

func (s *leaseSet) remove(key, member string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ms := s.m[key]; ms != nil {
		delete(ms, member)
		if len(ms) == 0 {
			delete(s.m, key)
		}
	}
}

// snapshot lists the members held, by set key.
func (s *leaseSet) snapshot() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]string, len(s.m))
	for k, ms := range s.m {
		for m := range ms {
			out[k] = append(out[k], m)
		}
	}
	return out
}

// loop is the instance's one background goroutine: it renews every lease
// it holds each LeaseTTL/3, and while Redis is unreachable probes it each
// ProbeInterval so the recovery shows without traffic.
func (c *Client) loop() {
	defer close(c.done)
	renew := time.NewTicker(c.cfg.LeaseTTL / 3)
	defer renew.Stop()
	probe := time.NewTicker(c.cfg.ProbeInterval)
	defer probe.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-renew.C:
			c.renew()
		case <-probe.C:
			c.probe()
		}
	}
}

// probe pings Redis while the breaker is open and due for a probe, so the
// recovery shows without traffic.
func (c *Client) probe() {
	if !c.br.isDown() {
		return
	}
	gen, ok := c.br.allow()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	c.br.done(gen, c.rdb.Ping(ctx).Err())
}

// renew extends every lease this instance holds, in one pipeline.
func (c *Client) renew() {
	held := c.leases.snapshot()
	if len(held) == 0 {
		return
	}
	gen, ok := c.br.allow()
	if !ok {
		return
	}
	err := c.renewAll(held)
	if redis.HasErrorPrefix(err, "NOSCRIPT") {
		// Redis restarted: load the script and try once more.
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
		err = renewScript.Load(ctx, c.rdb).Err()
		cancel()
		if err == nil {
			err = c.renewAll(held)
		}
	}
	c.br.done(gen, err)
	if err != nil {
		c.cfg.Logger.Debug().Str("error", err.Error()).Msg("redis: lease renewal failed")
	}
}

// renewAll runs renewScript for each set, pipelined.
func (c *Client) renewAll(held map[string][]string) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	ttl := micros(c.cfg.LeaseTTL)
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for key, members := range held {
			args := make([]any, 0, len(members)+1)
			args = append(args, ttl)
			for _, m := range members {
				args = append(args, m)
			}
			renewScript.EvalSha(ctx, p, []string{key}, args...)
		}
		return nil
	})
	return err
}
