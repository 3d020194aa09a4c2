//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/copilot-proxy/copilot-proxy/internal/redistest"
)

// redisResult is copilot-proxy's non-stream chat with its limits and
// budgets in Redis (--redis-url) against in memory, in alternating rounds
// (issue 16).
type redisResult struct {
	Skipped  string `json:"skipped,omitempty"`
	Upstream string `json:"upstream,omitempty"`
	Server   string `json:"redis_server,omitempty"`
	Setup    string `json:"setup,omitempty"`
	// InMemory and Redis are copilot-proxy without and with --redis-url.
	InMemory *redisSide `json:"in_memory,omitempty"`
	Redis    *redisSide `json:"redis,omitempty"`
	// ScriptsPerRequest is the Lua scripts (EVAL, EVALSHA: round trips)
	// the gateway ran per request it served, CommandsPerRequest every
	// command Redis executed, those the scripts call included (INFO
	// commandstats): proof that every request was admitted in Redis.
	ScriptsPerRequest  float64 `json:"redis_scripts_per_request,omitempty"`
	CommandsPerRequest float64 `json:"redis_commands_per_request,omitempty"`
}

type redisSide struct {
	C1  *nonStreamResult `json:"nonstream_c1,omitempty"`
	C64 *nonStreamResult `json:"nonstream_c64,omitempty"`
}

// redisPhase measures copilot-proxy with --redis-url against in-memory
// limits, both with a key carrying rpm and concurrency limits and a credit
// budget, and the global limits, so every request is admitted (and its
// budget checked and settled) in Redis. Against the HTTP/2 upstream when it
// was measured.
func (e *env) redisPhase() (*redisResult, error) {
	up := e.ups[0]
	for _, u := range e.ups {
		if u.name == "h2" {
			up = u
		}
	}
	rr := &redisResult{Upstream: up.name,
		Setup: "non-stream chat; key with --rpm, --concurrency and --budget, --global-rpm and --global-concurrency; the same flags on both but --redis-url"}
	bin, err := redistest.Find(e.o.redisBin)
	if err != nil {
		rr.Skipped = "skipped: no redis-server"
		fmt.Fprintln(e.log, "redis: skipped: no redis-server (Debian: apt-get install redis-server, or make test-deps)")
		return rr, nil
	}
	if v, err := exec.Command(bin, "--version").Output(); err == nil {
		rr.Server = strings.TrimSpace(string(v))
	}
	rs, err := e.startRedis(bin)
	if err != nil {
		return nil, err
	}
	defer rs.Stop()
	addr := rs.Addr()
	dbMem, dbRedis := filepath.Join(e.dir, "budget-memory.db"), filepath.Join(e.dir, "budget-redis.db")
	keyMem, err := e.createKey(dbMem, "--budget", "1000000")
	if err != nil {
		return nil, err
	}
	keyRedis, err := e.createKey(dbRedis, "--budget", "1000000")
	if err != nil {
		return nil, err
	}
	mem, _, err := e.start(procSpec{name: "in-memory limits", up: up, db: dbMem, key: keyMem})
	if err != nil {
		return nil, err
	}
	defer mem.proc.stop()
	red, _, err := e.start(procSpec{name: "redis limits", up: up, db: dbRedis, key: keyRedis,
		extra: []string{"--redis-url", "redis://" + addr + "/0"}})
	if err != nil {
		return nil, err
	}
	defer red.proc.stop()
	red.aux = &process{pid: rs.Pid()} // for its CPU time
	scripts0, cmds0, err := redisCommands(addr)
	if err != nil {
		return nil, err
	}
	reqs0 := red.ok.Load()
	cells := []cell{{e.chat(), mem}, {e.chat(), red}}
	c1 := e.nonStream(up, cells, 1)
	c64 := e.nonStream(up, cells, 64)
	rr.InMemory = &redisSide{C1: c1[0], C64: c64[0]}
	rr.Redis = &redisSide{C1: c1[1], C64: c64[1]}
	if scripts1, cmds1, err := redisCommands(addr); err == nil && red.ok.Load() > reqs0 {
		n := float64(red.ok.Load() - reqs0)
		rr.ScriptsPerRequest = round3(float64(scripts1-scripts0) / n)
		rr.CommandsPerRequest = round3(float64(cmds1-cmds0) / n)
	}
	return rr, nil
}

// startRedis starts a redis-server on a free loopback port in a folder of
// its own, keeping nothing on disk, and waits until it answers PING: the
// tests' redistest.Run, so both run it the same way.
func (e *env) startRedis(bin string) (*redistest.Proc, error) {
	dir := filepath.Join(e.dir, "redis")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return redistest.Run(bin, dir)
}

// redisCommands is the count of scripts run (EVAL, EVALSHA and their
// read-only forms) and of every command executed, from INFO commandstats.
func redisCommands(addr string) (scripts, all int64, err error) {
	_, body, err := redistest.Call(addr, "INFO commandstats")
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(body, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(l), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		v, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			continue
		}
		all += n
		switch strings.TrimPrefix(name, "cmdstat_") {
		case "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro":
			scripts += n
		}
	}
	return scripts, all, nil
}

// printRedis prints the Redis section: in-memory against Redis limits.
func printRedis(w io.Writer, rr *redisResult) {
	if rr == nil {
		return
	}
	fmt.Fprintf(w, "\nLimits in Redis (issue 16), copilot-proxy against the %s upstream: ", rr.Upstream)
	if rr.Skipped != "" {
		fmt.Fprintln(w, rr.Skipped)
		return
	}
	fmt.Fprintf(w, "%s (%s)\n\n", rr.Setup, rr.Server)
	fmt.Fprintln(w, "| metric                                   |  in-memory |      Redis | Redis/in-memory |")
	fmt.Fprintln(w, "|------------------------------------------|------------|------------|-----------------|")
	line := func(name string, get func(*redisSide) float64) {
		a, b := get(rr.InMemory), get(rr.Redis)
		ratio := "—"
		if a != 0 {
			ratio = fmt.Sprintf("%.2f×", b/a)
		}
		fa := "—"
		if a != 0 {
			fa = fmtNum(a)
		}
		fmt.Fprintf(w, "| %-40s | %10s | %10s | %15s |\n", name, fa, fmtNum(b), ratio)
	}
	f := func(c1 bool, g func(*nonStreamResult) float64) func(*redisSide) float64 {
		return func(s *redisSide) float64 {
			n := s.C64
			if c1 {
				n = s.C1
			}
			if n == nil {
				return 0
			}
			return g(n)
		}
	}
	line("c=1 throughput (req/s)", f(true, func(n *nonStreamResult) float64 { return n.RPS }))
	line("c=1 latency p50 (µs)", f(true, func(n *nonStreamResult) float64 { return n.P50Us }))
	line("c=1 latency p99 (µs)", f(true, func(n *nonStreamResult) float64 { return n.P99Us }))
	line("c=1 CPU per request, gateway (µs)", f(true, func(n *nonStreamResult) float64 { return n.CPUUsPerReq }))
	line("c=1 CPU per request, redis-server (µs)", f(true, func(n *nonStreamResult) float64 { return n.AuxCPUUsPerReq }))
	line("c=64 throughput (req/s)", f(false, func(n *nonStreamResult) float64 { return n.RPS }))
	line("c=64 latency p50 (µs)", f(false, func(n *nonStreamResult) float64 { return n.P50Us }))
	line("c=64 latency p99 (µs)", f(false, func(n *nonStreamResult) float64 { return n.P99Us }))
	line("c=64 CPU per request, gateway (µs)", f(false, func(n *nonStreamResult) float64 { return n.CPUUsPerReq }))
	line("c=64 CPU per request, redis-server (µs)", f(false, func(n *nonStreamResult) float64 { return n.AuxCPUUsPerReq }))
	errs := 0
	for _, s := range []*redisSide{rr.InMemory, rr.Redis} {
		for _, n := range []*nonStreamResult{s.C1, s.C64} {
			if n != nil {
				errs += n.Errors
			}
		}
	}
	fmt.Fprintf(w, "\nPer request served with --redis-url: %.2f Redis scripts (round trips: admission, budget check and settle, release),\n"+
		"%.1f commands executed in Redis counting those inside the scripts; failed requests: %d.\n", rr.ScriptsPerRequest, rr.CommandsPerRequest, errs)
}
