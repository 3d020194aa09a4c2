package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
)

// target is one thing the load is sent to.
type target struct {
	name  string
	url   string // base URL, no trailing slash
	path  string // chat path: /v1/chat/completions, or Copilot's own for direct
	auth  string // Authorization header value
	proc  *process
	conns int    // upstream connections opened while it was measured
	reqs  int    // requests it served while measured
	pprof string // copilot-proxy's --pprof-addr, when -mem-pprof asked for one
}

// process is a child process under measurement.
type process struct {
	cmd  *exec.Cmd
	log  *os.File
	pid  int
	done chan struct{}
}

type env struct {
	o       options
	fake    *copilottest.Server
	dir     string
	key     string
	self    string
	bin     string
	metrics bool
	body    []byte
	sbody   []byte
	log     io.Writer
	extra   []string // more copilot-proxy serve flags
}

// hasMetricsFlag reports whether the binary has --metrics (so the bench
// turns it on, as every feature is).
func hasMetricsFlag(bin string) bool {
	help, _ := exec.Command(bin, "serve", "--help").CombinedOutput()
	return bytes.Contains(help, []byte("-metrics"))
}

// runBench runs the whole bench: cold starts and memory on fresh processes,
// then latency, throughput and streams on one process of each proxy, and
// prints (and writes) the results.
func runBench(o options, stdout, stderr io.Writer) error {
	start := time.Now()
	raiseFileLimit()
	e, err := newBenchEnv(o, stderr)
	if err != nil {
		return err
	}
	defer e.close()
	res := e.newResults()
	for _, name := range []string{"baseline", "copilot-proxy"} {
		if err := e.coldStart(name, res.Targets[name]); err != nil {
			return err
		}
	}
	if o.only == "memory" {
		return nil
	}
	targets, stop, err := e.startTargets()
	if err != nil {
		return err
	}
	defer stop()
	if err := e.measureLoad(targets, res); err != nil {
		return err
	}
	res.ElapsedSeconds = time.Since(start).Seconds()
	res.ratios()
	printTable(stdout, res)
	return writeResults(o.out, res, stdout)
}

// newBenchEnv prepares what every phase shares: the scratch folder, the fake
// upstream, the chat bodies and a client key. Call close when done.
func newBenchEnv(o options, stderr io.Writer) (*env, error) {
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s not found: run make build first", o.bin)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "copilot-proxy-bench-")
	if err != nil {
		return nil, err
	}
	fake := copilottest.NewServer(copilottest.WithoutRecording())
	e := &env{o: o, fake: fake, dir: dir, self: self, bin: bin, log: stderr}
	e.body, e.sbody = chatBodies(o.bodyKiB)
	if e.key, err = e.createKey(); err != nil {
		e.close()
		return nil, err
	}
	e.metrics = hasMetricsFlag(bin)
	return e, nil
}

// close stops the fake upstream and removes the scratch folder.
func (e *env) close() {
	e.fake.Close()
	_ = os.RemoveAll(e.dir)
}

// newResults starts the results with what describes the run and an empty
// entry per target.
func (e *env) newResults() *results {
	o := e.o
	res := &results{
		When: time.Now().UTC().Format(time.RFC3339), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(),
		Rounds: o.rounds, Round: o.roundDur.String(), BodyBytes: len(e.body), Metrics: e.metrics,
		TunedBaseline: o.tunedBase, Targets: map[string]*targetResult{},
	}
	if v, err := exec.Command(e.bin, "version").Output(); err == nil {
		res.Version = strings.TrimSpace(string(v))
	}
	for _, n := range targetOrder {
		res.Targets[n] = &targetResult{}
	}
	return res
}

// coldStart measures name's cold start on e.o.coldRuns fresh processes (the
// median goes into tr) and, on the last one, its memory.
func (e *env) coldStart(name string, tr *targetResult) error {
	var colds []time.Duration
	for i := range e.o.coldRuns {
		t, cold, err := e.start(name)
		if err != nil {
			return err
		}
		colds = append(colds, cold)
		if i == e.o.coldRuns-1 && e.o.streams > 0 {
			if err := e.memory(t, tr); err != nil {
				t.proc.stop()
				return err
			}
		}
		t.proc.stop()
	}
	slices.Sort(colds)
	tr.ColdStartMs = ms(colds[len(colds)/2])
	fmt.Fprintf(e.log, "%-14s cold start %.1f ms (median of %d)\n", name, tr.ColdStartMs, len(colds))
	return nil
}

// startTargets returns the targets of the load phases: the upstream called
// directly, and a running baseline and copilot-proxy, which stop ends.
func (e *env) startTargets() (targets []*target, stop func(), err error) {
	tok, err := exchange(e.fake.Client(), e.fake.URL(), copilottest.GitHubToken)
	if err != nil {
		return nil, nil, err
	}
	direct := &target{name: "direct", url: e.fake.URL(), path: "/chat/completions", auth: "Bearer " + tok}
	base, _, err := e.start("baseline")
	if err != nil {
		return nil, nil, err
	}
	proxy, _, err := e.start("copilot-proxy")
	if err != nil {
		base.proc.stop()
		return nil, nil, err
	}
	stop = func() {
		proxy.proc.stop()
		base.proc.stop()
	}
	return []*target{direct, base, proxy}, stop, nil
}

// measureLoad runs the non-stream phases (c=1, c=64) and the streaming
// phase over targets into res.
func (e *env) measureLoad(targets []*target, res *results) error {
	for _, c := range []int{1, 64} {
		if err := e.nonStream(targets, c, res); err != nil {
			return err
		}
	}
	for _, t := range targets {
		res.Targets[t.name].UpstreamConnsPer1000 = 1000 * float64(t.conns) / float64(max(t.reqs, 1))
	}
	return e.streaming(targets, res)
}

// writeResults writes res as indented JSON to path ("" = nowhere).
func writeResults(path string, res *results, stdout io.Writer) error {
	if path == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nwrote %s (%.0f s)\n", path, res.ElapsedSeconds)
	return nil
}

// chatBodies returns a non-stream and a stream chat body of about kib KiB.
// The stream body asks for the usage chunk so every target relays the same
// events (copilot-proxy asks for it anyway, for accounting).
func chatBodies(kib int) (plain, stream []byte) {
	var msgs []string
	msgs = append(msgs, `{"role":"system","content":"You are a helpful coding assistant."}`)
	filler := strings.Repeat("lorem ipsum dolor sit amet ", 8)
	for i := 0; len(strings.Join(msgs, ",")) < kib<<10; i++ {
		role := "user"
		if i%2 == 1 {
			role = "assistant"
		}
		msgs = append(msgs, `{"role":"`+role+`","content":"`+filler+strconv.Itoa(i)+`"}`)
	}
	if len(msgs)%2 == 1 { // end on a user message
		msgs = append(msgs, `{"role":"user","content":"and now?"}`)
	}
	m := strings.Join(msgs, ",")
	plain = []byte(`{"model":"gpt-4o","temperature":0.2,"messages":[` + m + `]}`)
	stream = []byte(`{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"temperature":0.2,"messages":[` + m + `]}`)
	return plain, stream
}

func (e *env) createKey() (string, error) {
	cmd := exec.Command(e.bin, "keys", "create", "--json", "--db", filepath.Join(e.dir, "bench.db"),
		"--name", "bench", "--rpm", "1000000000", "--concurrency", "1000000")
	cmd.Env = e.childEnv()
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("keys create: %v", err)
	}
	var k struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(out, &k); err != nil || k.Key == "" {
		return "", fmt.Errorf("keys create: unexpected output")
	}
	return k.Key, nil
}

// childEnv is a clean environment: no stray COPILOT_PROXY_* of the caller,
// HOME and XDG dirs in the scratch folder.
func (e *env) childEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "COPILOT_PROXY_"), strings.HasPrefix(k, "XDG_"), k == "HOME",
			k == "GH_COPILOT_TOKEN", k == "GITHUB_COPILOT_TOKEN", strings.HasSuffix(k, "_proxy"), strings.HasSuffix(k, "_PROXY"):
		default:
			out = append(out, kv)
		}
	}
	return append(out, "HOME="+e.dir, "XDG_CONFIG_HOME="+filepath.Join(e.dir, "config"),
		"XDG_DATA_HOME="+filepath.Join(e.dir, "data"), "COPILOT_PROXY_GITHUB_TOKEN="+copilottest.GitHubToken,
		"BENCH_GITHUB_TOKEN="+copilottest.GitHubToken)
}

// start runs a proxy process and waits for its first successful chat
// request; the time from exec to that answer is the cold start.
func (e *env) start(name string) (*target, time.Duration, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, 0, err
	}
	var cmd *exec.Cmd
	t := &target{name: name, url: "http://" + addr, path: "/v1/chat/completions"}
	switch name {
	case "baseline":
		args := []string{"-baseline-proxy", "-upstream", e.fake.URL(), "-addr", addr}
		if e.o.tunedBase {
			args = append(args, "-tuned-baseline")
		}
		cmd = exec.Command(e.self, args...)
		t.auth = "Bearer unused"
	default:
		args := []string{"serve", "--addr", addr, "--db", filepath.Join(e.dir, "bench.db"),
			"--github-api-url", e.fake.URL(), "--copilot-api-url", e.fake.URL(), "--log-format", "json",
			"--global-rpm", "1000000000", "--global-concurrency", "1000000", "--shutdown-timeout", "2s"}
		if e.metrics {
			args = append(args, "--metrics")
		}
		args = append(args, e.extra...)
		if e.o.memPprof != "" && len(e.extra) == 0 {
			if t.pprof, err = freeAddr(); err != nil {
				return nil, 0, err
			}
			args = append(args, "--pprof-addr", t.pprof)
		}
		cmd = exec.Command(e.bin, args...)
		t.auth = "Bearer " + e.key
	}
	cmd.Env = e.childEnv()
	logf, err := os.Create(filepath.Join(e.dir, name+".log"))
	if err != nil {
		return nil, 0, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf // the access log is written, as in production
	p := &process{cmd: cmd, log: logf, done: make(chan struct{})}
	t.proc = p
	c := newClient(4)
	defer c.CloseIdleConnections()
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	p.pid = cmd.Process.Pid
	go func() { _ = cmd.Wait(); close(p.done) }()
	var lastCode int
	var lastErr error
	for {
		code, err := e.once(c, t, false)
		if err == nil && code == http.StatusOK {
			return t, time.Since(t0), nil
		}
		lastCode, lastErr = code, err
		select {
		case <-p.done:
			b, _ := os.ReadFile(logf.Name())
			return nil, 0, fmt.Errorf("%s exited before serving: %s", name, lastLines(b, 5))
		case <-time.After(500 * time.Microsecond):
		}
		if time.Since(t0) > 20*time.Second {
			p.stop()
			return nil, 0, fmt.Errorf("%s did not serve within 20s (last status %d, error %v)", name, lastCode, lastErr)
		}
	}
}

func (p *process) stop() {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	_ = p.log.Close()
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func newClient(idle int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns: 0, MaxIdleConnsPerHost: idle, DisableCompression: true,
		IdleConnTimeout: time.Minute,
	}}
}

// once sends one chat request and reads the whole answer.
func (e *env) once(c *http.Client, t *target, stream bool) (int, error) {
	body := e.body
	if stream {
		body = e.sbody
	}
	req, err := http.NewRequest(http.MethodPost, t.url+t.path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", t.auth)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}

// ---- non-stream ----

func (e *env) nonStream(targets []*target, conc int, res *results) error {
	c := newClient(conc * 2)
	defer c.CloseIdleConnections()
	type acc struct {
		lat  []time.Duration
		n    int
		errs int
		wall time.Duration
		cpu  time.Duration
	}
	accs := make([]acc, len(targets))
	// Warm up every target's connections once.
	for _, t := range targets {
		e.load(c, t, conc, 200*time.Millisecond)
	}
	for r := range e.o.rounds {
		for i := range targets {
			k := (i + r) % len(targets)
			t := targets[k]
			cpu0 := t.proc.cpu()
			conns0 := e.fake.Connections()
			t0 := time.Now()
			lat, errs := e.load(c, t, conc, e.o.roundDur)
			accs[k].wall += time.Since(t0)
			accs[k].cpu += t.proc.cpu() - cpu0
			t.conns += e.fake.Connections() - conns0
			t.reqs += len(lat)
			accs[k].lat = append(accs[k].lat, lat...)
			accs[k].n += len(lat)
			accs[k].errs += errs
		}
	}
	for k, t := range targets {
		a := accs[k]
		slices.Sort(a.lat)
		nr := &nonStreamResult{
			Requests: a.n, Errors: a.errs,
			RPS:   float64(a.n) / a.wall.Seconds(),
			P50Us: us(pct(a.lat, 0.50)), P99Us: us(pct(a.lat, 0.99)),
		}
		if t.proc != nil && a.n > 0 {
			nr.CPUUsPerReq = us(a.cpu) / float64(a.n)
		}
		tr := res.Targets[t.name]
		if conc == 1 {
			tr.C1 = nr
		} else {
			tr.C64 = nr
		}
		fmt.Fprintf(e.log, "%-14s c=%-3d %8.0f req/s  p50 %7.0f µs  p99 %7.0f µs  cpu %6.0f µs/req  errors %d\n",
			t.name, conc, nr.RPS, nr.P50Us, nr.P99Us, nr.CPUUsPerReq, nr.Errors)
	}
	return nil
}

// load runs conc workers against t for d and returns the latencies of the
// successful requests and the count of failures.
func (e *env) load(c *http.Client, t *target, conc int, d time.Duration) ([]time.Duration, int) {
	deadline := time.Now().Add(d)
	var mu sync.Mutex
	var all []time.Duration
	errs := 0
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			bad := 0
			for time.Now().Before(deadline) {
				t0 := time.Now()
				code, err := e.once(c, t, false)
				if err != nil || code != http.StatusOK {
					bad++
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all, errs
}

// ---- streams ----

// streamObs is what one stream's client saw.
type streamObs struct {
	ttfb, first time.Duration
	gaps        []time.Duration
	events      int
	coalesced   int
	err         error
}

const streamEvents = 20 // content chunks per stream in the latency phase

func (e *env) streaming(targets []*target, res *results) error {
	e.fake.SetStream(streamEvents, 5*time.Millisecond)
	defer e.fake.SetStream(copilottest.DefaultChunks, 0)
	c := newClient(e.o.streamConc * 2)
	defer c.CloseIdleConnections()
	obs := make([][]streamObs, len(targets))
	for _, t := range targets { // warm up
		e.streamLoad(c, t, e.o.streamConc, 200*time.Millisecond)
	}
	for r := range e.o.rounds {
		for i := range targets {
			k := (i + r) % len(targets)
			obs[k] = append(obs[k], e.streamLoad(c, targets[k], e.o.streamConc, e.o.roundDur)...)
		}
	}
	for k, t := range targets {
		var ttfb, first, gaps []time.Duration
		sr := &streamResult{}
		for _, o := range obs[k] {
			if o.err != nil {
				sr.Errors++
				continue
			}
			sr.Streams++
			ttfb = append(ttfb, o.ttfb)
			first = append(first, o.first)
			gaps = append(gaps, o.gaps...)
			sr.Events += o.events
			sr.Coalesced += o.coalesced
		}
		slices.Sort(ttfb)
		slices.Sort(first)
		slices.Sort(gaps)
		sr.TTFBP50Us, sr.TTFBP99Us = us(pct(ttfb, .5)), us(pct(ttfb, .99))
		sr.FirstEventP50Us, sr.FirstEventP99Us = us(pct(first, .5)), us(pct(first, .99))
		sr.GapP50Us, sr.GapP99Us = us(pct(gaps, .5)), us(pct(gaps, .99))
		res.Targets[t.name].Streams = sr
		fmt.Fprintf(e.log, "%-14s streams %d  first event p50 %6.0f µs p99 %6.0f µs  gap p99 %6.0f µs  coalesced %d  errors %d\n",
			t.name, sr.Streams, sr.FirstEventP50Us, sr.FirstEventP99Us, sr.GapP99Us, sr.Coalesced, sr.Errors)
	}
	return nil
}

func (e *env) streamLoad(c *http.Client, t *target, conc int, d time.Duration) []streamObs {
	deadline := time.Now().Add(d)
	var mu sync.Mutex
	var all []streamObs
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []streamObs
			buf := make([]byte, 64<<10)
			for time.Now().Before(deadline) {
				mine = append(mine, e.oneStream(context.Background(), c, t, buf, nil))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all
}

// oneStream reads one stream, timing each event as the read that completes
// it returns. Two events completed by one read were coalesced somewhere on
// the way. When firstEvent is set, it is called after the first event and
// the stream is then held until ctx ends.
func (e *env) oneStream(ctx context.Context, c *http.Client, t *target, buf []byte, firstEvent func()) streamObs {
	var o streamObs
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url+t.path, bytes.NewReader(e.sbody))
	if err != nil {
		o.err = err
		return o
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", t.auth)
	t0 := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		o.err = err
		return o
	}
	defer resp.Body.Close()
	o.ttfb = time.Since(t0)
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		o.err = fmt.Errorf("status %d", resp.StatusCode)
		return o
	}
	var last time.Duration
	var tail []byte // bytes of an event not yet complete
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			now := time.Since(t0)
			data := append(tail, buf[:n]...)
			k := bytes.Count(data, []byte("\n\n"))
			if i := bytes.LastIndex(data, []byte("\n\n")); i >= 0 {
				tail = append(tail[:0], data[i+2:]...)
			} else {
				tail = data
			}
			if k > 0 {
				if o.events == 0 {
					o.first = now
					if firstEvent != nil {
						o.events = k
						firstEvent()
						<-ctx.Done()
						return o
					}
				} else {
					o.gaps = append(o.gaps, now-last)
				}
				last = now
				o.events += k
				o.coalesced += k - 1
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				o.err = err
			}
			return o
		}
	}
}

// ---- memory ----

// memory records idle RSS, RSS while holding e.o.streams slow streams, and
// RSS some seconds after they close.
func (e *env) memory(t *target, tr *targetResult) error {
	time.Sleep(500 * time.Millisecond)
	idle := t.proc.rss()
	tr.IdleRSSKiB = idle
	e.fake.SetStream(1000, time.Second)
	defer e.fake.SetStream(copilottest.DefaultChunks, 0)

	n := e.o.streams
	c := newClient(n)
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	var started, finished sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	sem := make(chan struct{}, 64) // open them at a steady pace
	for range n {
		started.Add(1)
		finished.Add(1)
		sem <- struct{}{}
		go func() {
			defer finished.Done()
			o := e.oneStream(ctx, c, t, make([]byte, 4<<10), func() { <-sem; started.Done() })
			if o.events == 0 {
				mu.Lock()
				failed++
				mu.Unlock()
				<-sem
				started.Done()
			}
		}()
	}
	started.Wait()
	time.Sleep(time.Second)
	held := t.proc.rss()
	if t.pprof != "" && e.o.memPprof != "" {
		if err := saveMemProfiles(t.pprof, e.o.memPprof); err != nil {
			fmt.Fprintf(e.log, "mem-pprof: %v\n", err)
		}
	}
	if e.o.hold > 0 {
		fmt.Fprintf(e.log, "%-14s pid %d: holding %d streams for %s\n", t.name, t.proc.pid, n-failed, e.o.hold)
		time.Sleep(e.o.hold)
	}
	cancel()
	finished.Wait()
	c.CloseIdleConnections()
	for i := 0; i < 100 && e.fake.InFlight() > 0; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(3 * time.Second)
	after := t.proc.rss()
	if failed > 0 {
		fmt.Fprintf(e.log, "%-14s %d of %d slow streams failed\n", t.name, failed, n)
	}
	tr.HeldStreams = n - failed
	tr.HeldRSSKiB = held
	tr.RSSPerStreamKiB = float64(held-idle) / float64(max(n-failed, 1))
	tr.AfterCloseRSSKiB = after
	fmt.Fprintf(e.log, "%-14s idle RSS %d KiB; %d streams: %d KiB (%.1f KiB/stream); after close %d KiB\n",
		t.name, idle, n-failed, held, tr.RSSPerStreamKiB, after)
	return nil
}

// ---- /proc ----

// cpu is the process's user+system CPU time.
func (p *process) cpu() time.Duration {
	if p == nil {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name (which is in parentheses).
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clkTck
}

// clkTck is USER_HZ, 100 on every Linux architecture Go supports.
const clkTck = 100

// rss is VmRSS in KiB.
func (p *process) rss() int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(p.pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
