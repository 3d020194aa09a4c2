// Command copilot-proxy-soak is a bounded soak test (make soak, not in CI):
// it starts the fake upstream (copilotfake) with short token lifetimes,
// runs the built bin/copilot-proxy against it as a separate process, drives
// mixed stream and non-stream load while injecting random faults, and prints
// requests, failures by kind and the proxy's RSS at start and end.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot/copilotfake"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

type stats struct {
	mu       sync.Mutex
	requests int
	ok       int
	failures map[string]int
}

func (s *stats) add(kind string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if kind == "" {
		s.ok++
		return
	}
	s.failures[kind]++
}

// options are the soak's command-line settings.
type options struct {
	bin      string
	duration time.Duration
	workers  int
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/copilot-proxy", "the built proxy binary")
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "how long to run the load")
	flag.IntVar(&o.workers, "workers", 16, "concurrent clients")
	flag.Parse()
	return o
}

// run starts the fake upstream and the proxy, drives the load with faults,
// stops the proxy and reports; it fails on what no injected fault explains.
func run() error {
	o := parseFlags()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fake := copilotfake.NewServer(copilotfake.WithTokenLifetime(5*time.Second, 4*time.Second))
	defer fake.Close()
	fake.SetStream(8, 5*time.Millisecond)

	dir, err := os.MkdirTemp("", "copilot-proxy-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := startProxy(o.bin, dir, fake.URL())
	if err != nil {
		return err
	}
	defer p.close()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.workers}}
	if err := waitReady(client, p.base, 10*time.Second); err != nil {
		return err
	}
	sum := summary{opts: o, rssStart: rss(p.cmd.Process.Pid)}
	sum.st, sum.faults = drive(ctx, o, client, p.base, fake)
	fake.ClearChatFault()
	fake.ClearExchangeFault()
	time.Sleep(500 * time.Millisecond) // let the last requests settle
	sum.rssEnd = rss(p.cmd.Process.Pid)
	sum.inFlight = fake.InFlight()
	sum.exitErr = p.terminate()
	sum.exchanges = fake.ExchangeCount()
	sum.panics = countIn(filepath.Join(dir, "proxy.log"), "panic")
	sum.print()
	return sum.problems()
}

// proxy is the copilot-proxy process under soak.
type proxy struct {
	cmd    *exec.Cmd
	base   string // "http://" + its listen address
	log    *os.File
	exited chan error // receives cmd.Wait's result
}

// startProxy runs bin serve against the fake upstream, with short timeouts
// so that the injected stalls and hangs resolve within the soak.
func startProxy(bin, dir, upstream string) (*proxy, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(cleanEnv(os.Environ()),
		"HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"COPILOT_PROXY_ADDR="+addr,
		"COPILOT_PROXY_GITHUB_TOKEN="+copilotfake.GitHubToken,
		"COPILOT_PROXY_GITHUB_API_URL="+upstream,
		"COPILOT_PROXY_COPILOT_API_URL="+upstream,
		"COPILOT_PROXY_DB="+filepath.Join(dir, "soak.db"),
		"COPILOT_PROXY_NO_AUTH=true",
		"COPILOT_PROXY_GLOBAL_RPM=0", "COPILOT_PROXY_GLOBAL_CONCURRENCY=0",
		"COPILOT_PROXY_LOG_FORMAT=json", "COPILOT_PROXY_LOG_LEVEL=warn",
		"COPILOT_PROXY_UPSTREAM_TIMEOUT=2s", "COPILOT_PROXY_STREAM_IDLE_TIMEOUT=1s", "COPILOT_PROXY_KEEPALIVE=300ms",
	)
	logf, err := os.Create(filepath.Join(dir, "proxy.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("starting %s (run make build first): %w", bin, err)
	}
	p := &proxy{cmd: cmd, base: "http://" + addr, log: logf, exited: make(chan error, 1)}
	go func() { p.exited <- cmd.Wait() }()
	return p, nil
}

// close makes sure the proxy does not outlive the soak on an early return;
// once it has exited and been waited for, Kill is a harmless
// os.ErrProcessDone.
func (p *proxy) close() {
	_ = p.cmd.Process.Kill()
	_ = p.log.Close()
}

// terminate asks the proxy to shut down and returns its exit error, or an
// error when it is still running 40 s later.
func (p *proxy) terminate() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		return err
	case <-time.After(40 * time.Second):
		return errors.New("did not exit within 40 s of SIGTERM")
	}
}

// drive runs o.workers clients and the fault injector until o.duration has
// passed (or ctx ends), and returns what the clients saw and the faults
// injected, by kind.
func drive(ctx context.Context, o options, client *http.Client, base string, fake *copilotfake.Server) (*stats, map[string]int) {
	loadCtx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	st := &stats{failures: map[string]int{}}
	faults := map[string]int{}
	var wg sync.WaitGroup
	for w := range o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; loadCtx.Err() == nil; i++ {
				kind := oneRequest(loadCtx, client, base, (w+i)%3 != 0)
				st.add(kind)
				if kind != "" {
					time.Sleep(50 * time.Millisecond) // a client pauses before retrying
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		injectFaults(loadCtx, fake, faults)
	}()
	wg.Wait()
	return st, faults
}

// faultKinds are the faults the soak injects, by the name it reports.
var faultKinds = []struct {
	name   string
	inject func(*copilotfake.Server)
}{
	{"upstream 500", func(f *copilotfake.Server) { f.SetChatFault(copilotfake.Fault{Status: 500, Count: 3}) }},
	{"upstream 429", func(f *copilotfake.Server) {
		f.SetChatFault(copilotfake.Fault{Status: 429, RetryAfter: "1", Count: 3})
	}},
	{"stream dropped", func(f *copilotfake.Server) { f.SetChatFault(copilotfake.Fault{DropAfter: 3, Count: 3}) }},
	{"stream stalled past the idle timeout", func(f *copilotfake.Server) {
		f.SetChatFault(copilotfake.Fault{StallAfter: 2, StallFor: 1500 * time.Millisecond, Count: 2})
	}},
	{"tokens revoked", func(f *copilotfake.Server) { f.RevokeTokens() }},
	{"token exchange 502 once", func(f *copilotfake.Server) { f.FailExchange(502, "", 1) }},
	{"upstream hangs", func(f *copilotfake.Server) { f.SetChatFault(copilotfake.Fault{Hang: true, Count: 1}) }},
}

// injectFaults injects a random fault every 0.5–1.5 s until ctx ends,
// counting each kind in faults.
func injectFaults(ctx context.Context, fake *copilotfake.Server, faults map[string]int) {
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(500+rand.IntN(1000)) * time.Millisecond):
		}
		f := faultKinds[rand.IntN(len(faultKinds))]
		f.inject(fake)
		faults[f.name]++
	}
}

// summary is what one soak run observed.
type summary struct {
	opts             options
	st               *stats
	faults           map[string]int
	exchanges        int
	rssStart, rssEnd int64
	inFlight         int // upstream requests still open after the load
	exitErr          error
	panics           int // proxy log lines mentioning a panic
}

func (s summary) print() {
	fmt.Printf("soak: %v, %d workers, tokens live 5 s (refresh every ~2 s)\n", s.opts.duration, s.opts.workers)
	fmt.Printf("requests   %d (ok %d)\n", s.st.requests, s.st.ok)
	fmt.Printf("exchanges  %d\n", s.exchanges)
	fmt.Println("faults injected:")
	printMap(s.faults)
	fmt.Println("client-visible failures by kind:")
	printMap(s.st.failures)
	fmt.Printf("RSS        start %s, end %s\n", mib(s.rssStart), mib(s.rssEnd))
	fmt.Printf("upstream requests still open after the load: %d\n", s.inFlight)
	if s.exitErr != nil {
		fmt.Printf("exit after SIGTERM: %v\n", s.exitErr)
	} else {
		fmt.Println("exit after SIGTERM: 0")
	}
	if s.panics > 0 {
		fmt.Printf("log lines mentioning a panic: %d\n", s.panics)
	}
}

// problems is what no injected fault explains, joined; nil for a clean soak.
func (s summary) problems() error {
	problems := []error{s.exitErr}
	if s.panics > 0 {
		problems = append(problems, fmt.Errorf("%d log lines mention a panic", s.panics))
	}
	if s.inFlight > 0 {
		problems = append(problems, fmt.Errorf("%d upstream requests left open", s.inFlight))
	}
	if n := s.st.failures[kindUnexplainedEnd]; n > 0 {
		problems = append(problems, fmt.Errorf("%d streams ended without [DONE] and without an error event", n))
	}
	return errors.Join(problems...)
}

// cleanEnv drops the caller's COPILOT_PROXY_* and token variables, which
// would change what the soak measures.
func cleanEnv(environ []string) []string {
	var out []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "COPILOT_PROXY_") || k == "GH_COPILOT_TOKEN" || k == "GITHUB_COPILOT_TOKEN" {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// kindUnexplainedEnd is the failure no injected fault explains: a stream
// that just stops.
const kindUnexplainedEnd = "stream without [DONE] and without an error event"

// oneRequest sends one chat request and classifies the outcome ("" = ok).
func oneRequest(ctx context.Context, c *http.Client, base string, stream bool) string {
	body := `{"model":"gpt-4o","messages":[{"role":"user","content":"soak"}]}`
	if stream {
		body = `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"soak"}]}`
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "cut by the end of the soak"
		}
		return "transport: " + err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	switch {
	case err != nil && ctx.Err() != nil:
		return "cut by the end of the soak"
	case err != nil:
		return "broken body: " + err.Error()
	case resp.StatusCode != 200:
		return fmt.Sprintf("status %d", resp.StatusCode)
	case stream && strings.Contains(string(b), `data: {"error":`):
		switch {
		case strings.Contains(string(b), "idle timeout"):
			return "stream ended with an error event (idle timeout)"
		default:
			return "stream ended with an error event (upstream broke)"
		}
	case stream && !strings.Contains(string(b), "data: [DONE]"):
		return kindUnexplainedEnd
	}
	return ""
}

func waitReady(c *http.Client, base string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if resp, err := c.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("the proxy did not become ready")
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// rss is the resident set size of pid in bytes (Linux), 0 if unknown.
func rss(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func printMap(m map[string]int) {
	if len(m) == 0 {
		fmt.Println("  none")
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("  %-55s %d\n", k, m[k])
	}
}

func countIn(path, word string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), word)
}
