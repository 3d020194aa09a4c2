//go:build linux

// Command copilot-proxy-bench measures what copilot-proxy costs between a
// client and the upstream, side by side with calling the upstream directly
// and with a bare httputil.ReverseProxy (the floor of a Go proxy).
//
// In one run it starts the fake upstream (copilotfake) twice, plain
// HTTP/1.1 ("h1") and HTTP/2 over TLS with a certificate made at start
// ("h2", as Copilot's API is served; the gateway trusts it through
// --upstream-ca, the baseline and the direct client trust it too), each in
// a process of its own (this binary re-executed with -fake-upstream, driven
// over a loopback control port), as Copilot is another machine for every
// proxy and for the direct client alike; the baseline proxy (this binary
// re-executed with -baseline-proxy) and
// copilot-proxy (bin/copilot-proxy serve, every feature on: a real client
// key, limits with high ceilings, usage accounting, the JSON access log, and
// metrics when the binary has --metrics) as separate processes, so their CPU
// time and RSS can be read from /proc. Rounds alternate between the targets
// so machine drift cancels out. Chat, /v1/responses and /v1/messages are
// measured, native and translated; then copilot-proxy with its limits in
// Redis against in-memory limits (when redis-server is installed). It
// prints one table, the targets of issue 17 with met / not met, and writes
// the same figures as JSON. It runs on Linux only: it reads /proc and
// raises its file limit with setrlimit.
//
//	go build -o bin/copilot-proxy-bench ./cmd/copilot-proxy-bench
//	bin/copilot-proxy-bench -bin bin/copilot-proxy -out bench-results/latest.json
//
// Nothing here asserts: it reports.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	bin        string
	out        string
	rounds     int
	roundDur   time.Duration
	bodyKiB    int
	streams    int // concurrent slow streams held for the memory figure
	streamConc int // concurrent streams in the streaming-latency phase
	coldRuns   int
	profile    string
	profConc   int
	tunedBase  bool
	only       string        // "memory": only cold start and the memory phase
	hold       time.Duration // memory phase: how long to keep the streams open after measuring (for a debugger)
	memPprof   string        // with the memory phase: save copilot-proxy's heap and goroutine profiles while streams are held
	protocols  []string      // upstream protocols measured: "h1", "h2"
	apis       bool          // measure /v1/responses and /v1/messages too
	redis      bool          // measure limits in Redis against in-memory limits
	redisBin   string        // redis-server binary ("" = PATH, then /usr/bin/redis-server)

	fakeInProcess bool   // the fake upstream in the bench's process (as before 2026-12-06)
	fakeUpstream  string // fake-upstream mode: h1 or h2

	// the -baseline-proxy and -tcp-relay modes
	baseline   bool
	tcpRelay   bool
	upstream   string
	upstreamCA string
	addr       string
}

func run(args []string, stdout, stderr io.Writer) int {
	o, ok := parseOptions(args, stderr)
	if !ok {
		return 2
	}
	var err error
	switch {
	case o.tcpRelay:
		err = runTCPRelay(o.upstream, o.addr, os.Stdin)
	case o.fakeUpstream != "":
		err = runFakeUpstream(o.fakeUpstream, os.Stdin, stdout)
	case o.baseline:
		err = runBaseline(o.upstream, o.upstreamCA, o.addr, os.Getenv("BENCH_GITHUB_TOKEN"), o.tunedBase)
	case o.profile != "":
		err = runProfile(o, o.profile, stdout, stderr)
	default:
		err = runBench(o, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintln(stderr, modeName(o)+":", err)
		return 1
	}
	return 0
}

// modeName names what run ran, for its error.
func modeName(o options) string {
	switch {
	case o.tcpRelay:
		return "tcp relay"
	case o.fakeUpstream != "":
		return "fake upstream"
	case o.baseline:
		return "baseline"
	case o.profile != "":
		return "profile"
	}
	return "bench"
}

// parseOptions reads the flags; false means they were refused (the reason
// is written to stderr).
func parseOptions(args []string, stderr io.Writer) (options, bool) {
	var o options
	fs := flag.NewFlagSet("copilot-proxy-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bin, "bin", "bin/copilot-proxy", "copilot-proxy binary to measure")
	fs.StringVar(&o.out, "out", "bench-results/latest.json", "where to write the JSON results (\"\" = nowhere)")
	fs.IntVar(&o.rounds, "rounds", 3, "alternating rounds per measurement")
	fs.DurationVar(&o.roundDur, "round", time.Second, "length of one round of one target (-round 2s -rounds 5 for a longer, steadier run)")
	fs.IntVar(&o.bodyKiB, "body-kib", 4, "size of the chat request body in KiB")
	fs.IntVar(&o.streams, "streams", 1000, "concurrent slow streams held for the memory figure (0 skips the memory phase)")
	fs.IntVar(&o.streamConc, "stream-concurrency", 16, "concurrent streams in the streaming-latency phase")
	protos := fs.String("protocols", "h1,h2", "upstream protocols to measure: h1 (plain HTTP/1.1), h2 (HTTP/2 over TLS), or both (comma-separated); -profile uses h2 when it is listed")
	fs.BoolVar(&o.apis, "apis", true, "also measure /v1/responses and /v1/messages, native and translated")
	fs.BoolVar(&o.redis, "redis", true, "also measure copilot-proxy with --redis-url against in-memory limits (needs redis-server)")
	fs.StringVar(&o.redisBin, "redis-server", "", "redis-server binary (default: from PATH, else /usr/bin/redis-server)")
	fs.IntVar(&o.coldRuns, "cold-runs", 3, "process starts measured for the cold-start figure")
	fs.BoolVar(&o.tunedBase, "tuned-baseline", false, "give the baseline proxy's transport MaxIdleConnsPerHost 256 (the issue's baseline keeps Go's default of 2)")
	fs.StringVar(&o.profile, "profile", "", "instead of the bench: capture pprof CPU, heap and allocs profiles of copilot-proxy under load into this folder (-round is the CPU profile length)")
	fs.IntVar(&o.profConc, "profile-concurrency", 64, "with -profile: non-stream concurrency; 1 profiles the c=1 path alone (no stream load)")
	fs.StringVar(&o.only, "only", "", "\"memory\": run only the cold-start and memory phases (no table figures for the rest, nothing written to -out)")
	fs.StringVar(&o.memPprof, "mem-pprof", "", "during the memory phase: save copilot-proxy's heap and goroutine profiles (through --pprof-addr) to this folder while the streams are held")
	fs.DurationVar(&o.hold, "hold", 0, "memory phase: keep the slow streams open this much longer after measuring, e.g. to attach a debugger")
	fs.BoolVar(&o.fakeInProcess, "fake-in-process", false, "run the fake upstream inside the bench's process, beside the load client (earlier runs did; by default it runs as a process of its own)")
	fs.StringVar(&o.fakeUpstream, "fake-upstream", "", "internal: run as the fake upstream (h1 or h2) until stdin closes")
	fs.BoolVar(&o.tcpRelay, "tcp-relay", false, "internal: run as a TCP relay from -addr to -upstream's host")
	fs.BoolVar(&o.baseline, "baseline-proxy", false, "internal: run as the baseline proxy")
	fs.StringVar(&o.upstream, "upstream", "", "internal: upstream URL for -baseline-proxy and -tcp-relay")
	fs.StringVar(&o.upstreamCA, "upstream-ca", "", "internal: PEM file the -baseline-proxy trusts for the upstream's TLS")
	fs.StringVar(&o.addr, "addr", "", "internal: listen address for -baseline-proxy and -tcp-relay")
	if err := fs.Parse(args); err != nil {
		return o, false
	}
	if o.only != "" && o.only != "memory" {
		fmt.Fprintln(stderr, "-only: the only phase is \"memory\"")
		return o, false
	}
	for _, p := range strings.Split(*protos, ",") {
		switch p = strings.TrimSpace(p); p {
		case "h1", "h2":
			if !slices.Contains(o.protocols, p) {
				o.protocols = append(o.protocols, p)
			}
		case "":
		default:
			fmt.Fprintf(stderr, "-protocols: %q is neither h1 nor h2\n", p)
			return o, false
		}
	}
	if len(o.protocols) == 0 && !o.baseline {
		fmt.Fprintln(stderr, "-protocols: give h1, h2 or both")
		return o, false
	}
	return o, true
}
