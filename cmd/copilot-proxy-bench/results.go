//go:build linux

package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

type results struct {
	When              string                     `json:"when"`
	Version           string                     `json:"version,omitempty"`
	GoVersion         string                     `json:"go_version"`
	CPUs              int                        `json:"cpus"`
	Rounds            int                        `json:"rounds"`
	Round             string                     `json:"round"`
	BodyBytes         int                        `json:"body_bytes"`
	Metrics           bool                       `json:"metrics_on"`
	TunedBaseline     bool                       `json:"tuned_baseline"`
	FakeInProcess     bool                       `json:"fake_in_process"` // else a process of its own
	StreamConcurrency int                        `json:"stream_concurrency"`
	StreamChunks      int                        `json:"stream_chunks"`
	StreamSpacingMs   float64                    `json:"stream_spacing_ms"`
	Protocols         []string                   `json:"protocols"`
	ElapsedSeconds    float64                    `json:"elapsed_seconds"`
	Upstreams         map[string]*upstreamResult `json:"upstreams"` // by protocol: h1, h2
	Redis             *redisResult               `json:"redis,omitempty"`
	// Targets are issue 17's targets, each with its figure and whether it is met.
	Targets []goal `json:"targets"`

	apiOrder []string
}

// upstreamResult is every figure measured against one upstream protocol.
type upstreamResult struct {
	Protocol string                   `json:"protocol"`
	ByTarget map[string]*targetResult `json:"by_target"` // chat and memory: direct, baseline, copilot-proxy; chat streams: the TCP relay too
	APIs     map[string]*apiResult    `json:"apis,omitempty"`
	// Added is copilot-proxy minus direct and baseline minus direct, in µs.
	Added map[string]map[string]float64 `json:"added_us"`
	// Ratios is copilot-proxy / baseline and copilot-proxy / direct.
	Ratios map[string]map[string]float64 `json:"ratios"`
}

type targetResult struct {
	C1                   *nonStreamResult `json:"nonstream_c1,omitempty"`
	C64                  *nonStreamResult `json:"nonstream_c64,omitempty"`
	Streams              *streamResult    `json:"streams,omitempty"`
	UpstreamConnsPer1000 float64          `json:"upstream_conns_per_1000_requests"`
	ColdStartMs          float64          `json:"cold_start_ms,omitempty"`
	IdleRSSKiB           int64            `json:"idle_rss_kib,omitempty"`
	IdleAnonKiB          int64            `json:"idle_rss_anon_kib,omitempty"` // the process's own memory
	IdleFileKiB          int64            `json:"idle_rss_file_kib,omitempty"` // binary pages touched (shared, reclaimable)
	HeldStreams          int              `json:"held_streams,omitempty"`
	HeldRSSKiB           int64            `json:"held_rss_kib,omitempty"`
	RSSPerStreamKiB      float64          `json:"rss_per_stream_kib,omitempty"`
	// StackPerStreamKiB is the goroutine stack memory a held stream adds
	// (go_memstats_stack_inuse_bytes from copilot-proxy's /metrics, held
	// minus idle, per stream); 0 where the target has no such metric.
	StackPerStreamKiB float64 `json:"stack_per_stream_kib,omitempty"`
	AfterCloseRSSKiB  int64   `json:"after_close_rss_kib,omitempty"`
	HeldUpstreamConns int     `json:"held_upstream_conns,omitempty"` // opened by the process from its start until the streams are held
}

// apiResult is one of /v1/responses and /v1/messages, native or translated.
type apiResult struct {
	Title     string                      `json:"title"`
	Path      string                      `json:"path"`
	Model     string                      `json:"model"`
	Native    bool                        `json:"native"`
	BodyBytes int                         `json:"body_bytes"`
	ByTarget  map[string]*apiTargetResult `json:"by_target"` // translated: copilot-proxy only
	// Translated only: copilot-proxy's figure minus its figure for native
	// chat (same model, same conversation, same rounds), in µs.
	OverChat map[string]float64 `json:"over_native_chat_us,omitempty"`
	// Translated only: copilot-proxy's figure minus its figure for the same
	// API served natively (NativeAPI, another model), in µs.
	NativeAPI  string             `json:"native_api,omitempty"`
	OverNative map[string]float64 `json:"over_native_api_us,omitempty"`
}

type apiTargetResult struct {
	NonStream *nonStreamResult `json:"nonstream_c1,omitempty"`
	Streams   *streamResult    `json:"streams,omitempty"`
}

type nonStreamResult struct {
	Requests    int     `json:"requests"`
	Errors      int     `json:"errors"`
	RPS         float64 `json:"rps"`
	P50Us       float64 `json:"p50_us"`
	P99Us       float64 `json:"p99_us"`
	CPUUsPerReq float64 `json:"cpu_us_per_request,omitempty"`
	// AuxCPUUsPerReq is redis-server's CPU per request, for the gateway
	// with its limits in Redis.
	AuxCPUUsPerReq float64 `json:"redis_server_cpu_us_per_request,omitempty"`
}

type streamResult struct {
	Streams         int     `json:"streams"`
	Errors          int     `json:"errors"`
	Events          int     `json:"events"`
	Coalesced       int     `json:"coalesced"`
	TTFBP50Us       float64 `json:"ttfb_p50_us"`
	TTFBP99Us       float64 `json:"ttfb_p99_us"`
	FirstEventP50Us float64 `json:"first_event_p50_us"`
	FirstEventP99Us float64 `json:"first_event_p99_us"`
	GapP50Us        float64 `json:"gap_p50_us"`
	GapP99Us        float64 `json:"gap_p99_us"`
	// CPUUsPerStream is the target process's CPU time per stream (its
	// share of the rounds it was measured in), 0 for direct.
	CPUUsPerStream float64 `json:"cpu_us_per_stream,omitempty"`
	cpu            time.Duration
	// Rounds are the same figures round by round, for the spread within
	// one run.
	Rounds []streamRound `json:"rounds,omitempty"`
}

// streamRound is one round's figures of a target's streams.
type streamRound struct {
	Start           time.Time `json:"start"`
	FirstEventP50Us float64   `json:"first_event_p50_us"`
	GapP99Us        float64   `json:"gap_p99_us"`
}

// streamCPU reads a target's CPU per stream, absent for direct.
func streamCPU(u *upstreamResult, t string) (float64, bool) {
	if s := u.ByTarget[t].Streams; s != nil && s.CPUUsPerStream > 0 {
		return s.CPUUsPerStream, true
	}
	return 0, false
}

// row is one line of the table: a metric read from each target, once per
// upstream protocol.
type row struct {
	key     string // in added_us and ratios
	name    string
	unit    string
	latency bool // show base+ and cp+ (added over direct)
	get     func(u *upstreamResult, target string) (float64, bool)
}

type section struct {
	title string
	rows  []row
}

var targetOrder = [...]string{"direct", "baseline", "copilot-proxy"}

func keyOf(name string) string { return strings.ReplaceAll(name, " ", "_") }

// sections are the table's row groups: chat as the bench always measured
// it, the other APIs, memory.
func (r *results) sections() []section {
	ns := func(c1 bool, f func(*nonStreamResult) float64) func(*upstreamResult, string) (float64, bool) {
		return func(u *upstreamResult, t string) (float64, bool) {
			tr := u.ByTarget[t]
			n := tr.C64
			if c1 {
				n = tr.C1
			}
			if n == nil {
				return 0, false
			}
			v := f(n)
			return v, v != 0
		}
	}
	st := func(f func(*streamResult) float64) func(*upstreamResult, string) (float64, bool) {
		return func(u *upstreamResult, t string) (float64, bool) {
			if s := u.ByTarget[t].Streams; s != nil {
				return f(s), true
			}
			return 0, false
		}
	}
	num := func(f func(*targetResult) float64) func(*upstreamResult, string) (float64, bool) {
		return func(u *upstreamResult, t string) (float64, bool) { v := f(u.ByTarget[t]); return v, v != 0 }
	}
	mk := func(name, unit string, latency bool, get func(*upstreamResult, string) (float64, bool)) row {
		return row{key: keyOf(name), name: name, unit: unit, latency: latency, get: get}
	}
	out := []section{
		{fmt.Sprintf("chat completions, non-stream (%d-byte body)", r.BodyBytes), []row{
			mk("c=1 throughput", "req/s", false, ns(true, func(n *nonStreamResult) float64 { return n.RPS })),
			mk("c=1 latency p50", "µs", true, ns(true, func(n *nonStreamResult) float64 { return n.P50Us })),
			mk("c=1 latency p99", "µs", true, ns(true, func(n *nonStreamResult) float64 { return n.P99Us })),
			mk("c=1 CPU per request", "µs", false, ns(true, func(n *nonStreamResult) float64 { return n.CPUUsPerReq })),
			mk("c=64 throughput", "req/s", false, ns(false, func(n *nonStreamResult) float64 { return n.RPS })),
			mk("c=64 latency p50", "µs", true, ns(false, func(n *nonStreamResult) float64 { return n.P50Us })),
			mk("c=64 latency p99", "µs", true, ns(false, func(n *nonStreamResult) float64 { return n.P99Us })),
			mk("c=64 CPU per request", "µs", false, ns(false, func(n *nonStreamResult) float64 { return n.CPUUsPerReq })),
			mk("upstream conns / 1000 req", "", false, func(u *upstreamResult, t string) (float64, bool) {
				return u.ByTarget[t].UpstreamConnsPer1000, true
			}),
			mk("failed requests", "", false, func(u *upstreamResult, t string) (float64, bool) {
				tr := u.ByTarget[t]
				if tr.C1 == nil && tr.C64 == nil {
					return 0, false
				}
				n := 0
				for _, x := range []*nonStreamResult{tr.C1, tr.C64} {
					if x != nil {
						n += x.Errors
					}
				}
				return float64(n), true
			}),
		}},
		{fmt.Sprintf("chat completions, streams (c=%d, %d chunks %.0f ms apart)", r.StreamConcurrency, r.StreamChunks, r.StreamSpacingMs), []row{
			mk("stream TTFB p50", "µs", true, st(func(s *streamResult) float64 { return s.TTFBP50Us })),
			mk("stream TTFB p99", "µs", true, st(func(s *streamResult) float64 { return s.TTFBP99Us })),
			mk("stream first event p50", "µs", true, st(func(s *streamResult) float64 { return s.FirstEventP50Us })),
			mk("stream first event p99", "µs", true, st(func(s *streamResult) float64 { return s.FirstEventP99Us })),
			mk("stream inter-event p50", "µs", true, st(func(s *streamResult) float64 { return s.GapP50Us })),
			mk("stream inter-event p99", "µs", true, st(func(s *streamResult) float64 { return s.GapP99Us })),
			mk("stream CPU per stream", "µs", false, streamCPU),
			mk("stream events coalesced", "", false, st(func(s *streamResult) float64 { return float64(s.Coalesced) })),
			mk("failed streams", "", false, st(func(s *streamResult) float64 { return float64(s.Errors) })),
		}},
	}
	for _, name := range r.apiOrder {
		out = append(out, r.apiSection(name))
	}
	out = append(out, section{fmt.Sprintf("memory (idle, then %d slow chat streams held) and cold start", r.heldStreams()), []row{
		mk("idle RSS", "KiB", false, num(func(t *targetResult) float64 { return float64(t.IdleRSSKiB) })),
		mk("  of it anonymous (heap, stacks)", "KiB", false, num(func(t *targetResult) float64 { return float64(t.IdleAnonKiB) })),
		mk("  of it the binary's pages", "KiB", false, num(func(t *targetResult) float64 { return float64(t.IdleFileKiB) })),
		mk("RSS per open stream", "KiB", false, num(func(t *targetResult) float64 { return t.RSSPerStreamKiB })),
		mk("  of it goroutine stacks", "KiB", false, num(func(t *targetResult) float64 { return t.StackPerStreamKiB })),
		mk("RSS with streams held", "KiB", false, num(func(t *targetResult) float64 { return float64(t.HeldRSSKiB) })),
		mk("RSS after streams close", "KiB", false, num(func(t *targetResult) float64 { return float64(t.AfterCloseRSSKiB) })),
		mk("upstream conns opened, streams held", "", false, func(u *upstreamResult, t string) (float64, bool) {
			tr := u.ByTarget[t]
			return float64(tr.HeldUpstreamConns), tr.HeldStreams > 0
		}),
		mk("cold start", "ms", false, num(func(t *targetResult) float64 { return t.ColdStartMs })),
	}})
	return out
}

// heldStreams is the largest count of slow streams held in the memory phase.
func (r *results) heldStreams() int {
	n := 0
	for _, u := range r.Upstreams {
		for _, t := range u.ByTarget {
			n = max(n, t.HeldStreams)
		}
	}
	return n
}

// apiSection is the rows of one of the other APIs; a translated one adds
// what it costs over copilot-proxy's native chat.
func (r *results) apiSection(name string) section {
	var title string
	var native bool
	for _, u := range r.Upstreams {
		if a := u.APIs[name]; a != nil {
			title, native = a.Title, a.Native
		}
	}
	ns := func(f func(*nonStreamResult) float64) func(*upstreamResult, string) (float64, bool) {
		return func(u *upstreamResult, t string) (float64, bool) {
			a := u.APIs[name]
			if a == nil || a.ByTarget[t] == nil || a.ByTarget[t].NonStream == nil {
				return 0, false
			}
			v := f(a.ByTarget[t].NonStream)
			return v, v != 0
		}
	}
	st := func(f func(*streamResult) float64) func(*upstreamResult, string) (float64, bool) {
		return func(u *upstreamResult, t string) (float64, bool) {
			a := u.APIs[name]
			if a == nil || a.ByTarget[t] == nil || a.ByTarget[t].Streams == nil {
				return 0, false
			}
			return f(a.ByTarget[t].Streams), true
		}
	}
	over := func(native bool, k string) func(*upstreamResult, string) (float64, bool) {
		return func(u *upstreamResult, t string) (float64, bool) {
			a := u.APIs[name]
			if a == nil || t != "copilot-proxy" {
				return 0, false
			}
			m := a.OverChat
			if native {
				m = a.OverNative
			}
			v, ok := m[k]
			return v, ok
		}
	}
	mk := func(label, unit string, latency bool, get func(*upstreamResult, string) (float64, bool)) row {
		return row{key: name + "/" + keyOf(label), name: label, unit: unit, latency: latency && native, get: get}
	}
	rows := []row{
		mk("c=1 throughput", "req/s", false, ns(func(n *nonStreamResult) float64 { return n.RPS })),
		mk("c=1 latency p50", "µs", true, ns(func(n *nonStreamResult) float64 { return n.P50Us })),
		mk("c=1 latency p99", "µs", true, ns(func(n *nonStreamResult) float64 { return n.P99Us })),
		mk("c=1 CPU per request", "µs", false, ns(func(n *nonStreamResult) float64 { return n.CPUUsPerReq })),
		mk("stream first event p50", "µs", true, st(func(s *streamResult) float64 { return s.FirstEventP50Us })),
		mk("stream first event p99", "µs", true, st(func(s *streamResult) float64 { return s.FirstEventP99Us })),
		mk("stream inter-event p50", "µs", true, st(func(s *streamResult) float64 { return s.GapP50Us })),
		mk("stream inter-event p99", "µs", true, st(func(s *streamResult) float64 { return s.GapP99Us })),
		mk("stream events per stream", "", false, st(func(s *streamResult) float64 { return float64(s.Events) / float64(max(s.Streams, 1)) })),
		mk("stream events coalesced", "", false, st(func(s *streamResult) float64 { return float64(s.Coalesced) })),
		mk("failed requests + streams", "", false, func(u *upstreamResult, t string) (float64, bool) {
			a := u.APIs[name]
			if a == nil || a.ByTarget[t] == nil {
				return 0, false
			}
			n := 0
			if r := a.ByTarget[t].NonStream; r != nil {
				n += r.Errors
			}
			if r := a.ByTarget[t].Streams; r != nil {
				n += r.Errors
			}
			return float64(n), true
		}),
	}
	if !native {
		nat := strings.TrimPrefix(strings.TrimSuffix(name, "-to-chat"), "/")
		rows = append(rows,
			mk("CPU per request over native chat", "µs", false, over(false, "cpu_per_request")),
			mk("c=1 latency p50 over native chat", "µs", false, over(false, "latency_p50")),
			mk("first event p50 over native chat", "µs", false, over(false, "first_event_p50")),
			mk("CPU per request over native "+nat, "µs", false, over(true, "cpu_per_request")),
			mk("c=1 latency p50 over native "+nat, "µs", false, over(true, "latency_p50")),
			mk("first event p50 over native "+nat, "µs", false, over(true, "first_event_p50")))
	}
	return section{title, rows}
}

// finish computes what derives from the measured figures: the ratios, the
// added latencies, translation's cost over native chat and the targets.
func (r *results) finish() {
	over := func(p *apiTargetResult, ns *nonStreamResult, st *streamResult) map[string]float64 {
		m := map[string]float64{}
		if p.NonStream != nil && ns != nil {
			m["cpu_per_request"] = round3(p.NonStream.CPUUsPerReq - ns.CPUUsPerReq)
			m["latency_p50"] = round3(p.NonStream.P50Us - ns.P50Us)
		}
		if p.Streams != nil && st != nil {
			m["first_event_p50"] = round3(p.Streams.FirstEventP50Us - st.FirstEventP50Us)
		}
		return m
	}
	for _, u := range r.Upstreams {
		chat := u.ByTarget["copilot-proxy"]
		for name, a := range u.APIs {
			p := a.ByTarget["copilot-proxy"]
			if a.Native || p == nil {
				continue
			}
			a.OverChat = over(p, chat.C1, chat.Streams)
			nat := strings.TrimSuffix(name, "-to-chat")
			if n := u.APIs[nat]; n != nil && n.Native && n.ByTarget["copilot-proxy"] != nil {
				a.NativeAPI = nat
				a.OverNative = over(p, n.ByTarget["copilot-proxy"].NonStream, n.ByTarget["copilot-proxy"].Streams)
			}
		}
	}
	secs := r.sections()
	for _, u := range r.Upstreams {
		u.Ratios = map[string]map[string]float64{"copilot-proxy/baseline": {}, "copilot-proxy/direct": {}}
		u.Added = map[string]map[string]float64{"copilot-proxy": {}, "baseline": {}}
		for _, s := range secs {
			for _, rw := range s.rows {
				pv, pok := rw.get(u, "copilot-proxy")
				bv, bok := rw.get(u, "baseline")
				dv, dok := rw.get(u, "direct")
				if pok && bok && bv != 0 {
					u.Ratios["copilot-proxy/baseline"][rw.key] = round3(pv / bv)
				}
				if pok && dok && dv != 0 {
					u.Ratios["copilot-proxy/direct"][rw.key] = round3(pv / dv)
				}
				if rw.latency && dok {
					if pok {
						u.Added["copilot-proxy"][rw.key] = round3(pv - dv)
					}
					if bok {
						u.Added["baseline"][rw.key] = round3(bv - dv)
					}
				}
			}
		}
	}
	r.Targets = r.goals()
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

const nameWidth = 46

func printTable(w io.Writer, r *results) {
	fmt.Fprintf(w, "\ncopilot-proxy bench — %s, %s, %d CPUs, %d rounds of %s, %d-byte chat body, metrics %v, upstreams %s\n",
		r.When, r.GoVersion, r.CPUs, r.Rounds, r.Round, r.BodyBytes, r.Metrics, strings.Join(r.Protocols, "+"))
	where := "a process of its own"
	if r.FakeInProcess {
		where = "the bench's process (-fake-in-process)"
	}
	for _, p := range r.Protocols {
		fmt.Fprintf(w, "  %s: fake upstream over %s, in %s\n", p, r.Upstreams[p].Protocol, where)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "| %-*s | %10s | %10s | %13s | %8s | %9s | %9s | %9s |\n", nameWidth,
		"metric", "direct", "baseline", "copilot-proxy", "cp/base", "cp/direct", "base+", "cp+")
	fmt.Fprintf(w, "|%s|%s|%s|%s|%s|%s|%s|%s|\n", strings.Repeat("-", nameWidth+2), strings.Repeat("-", 12), strings.Repeat("-", 12),
		strings.Repeat("-", 15), strings.Repeat("-", 10), strings.Repeat("-", 11), strings.Repeat("-", 11), strings.Repeat("-", 11))
	for _, s := range r.sections() {
		fmt.Fprintf(w, "| %-*s | %10s | %10s | %13s | %8s | %9s | %9s | %9s |\n", nameWidth, "**"+s.title+"**", "", "", "", "", "", "", "")
		for _, rw := range s.rows {
			for _, p := range r.Protocols {
				u := r.Upstreams[p]
				cells := make([]string, 0, 7)
				for _, n := range targetOrder {
					if v, ok := rw.get(u, n); ok {
						cells = append(cells, fmtNum(v))
					} else {
						cells = append(cells, "—")
					}
				}
				for _, m := range []map[string]float64{u.Ratios["copilot-proxy/baseline"], u.Ratios["copilot-proxy/direct"]} {
					if v, ok := m[rw.key]; ok {
						cells = append(cells, fmt.Sprintf("%.2f×", v))
					} else {
						cells = append(cells, "—")
					}
				}
				for _, n := range []string{"baseline", "copilot-proxy"} {
					if v, ok := u.Added[n][rw.key]; ok {
						cells = append(cells, fmtNum(v))
					} else {
						cells = append(cells, "—")
					}
				}
				name := p + " " + rw.name
				if rw.unit != "" {
					name += " (" + rw.unit + ")"
				}
				fmt.Fprintf(w, "| %-*s | %10s | %10s | %13s | %8s | %9s | %9s | %9s |\n", nameWidth, name,
					cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6])
			}
		}
	}
	fmt.Fprintln(w, "\nh1: the fake upstream over plain HTTP/1.1; h2: over HTTP/2 with TLS (copilot-proxy with --upstream-ca, the")
	fmt.Fprintln(w, "baseline and the direct client trusting the same certificate). cp/base, cp/direct: copilot-proxy divided by the")
	fmt.Fprintln(w, "baseline / direct; base+, cp+: added over direct (µs). Non-stream rows of the other APIs are at c=1, their")
	fmt.Fprintln(w, "streams as chat's. Translated APIs (→ chat) have no direct or baseline figure: \"over native chat\" is")
	fmt.Fprintln(w, "copilot-proxy's figure minus its own for native chat (same upstream call: gpt-4o, same conversation, same rounds);")
	fmt.Fprintln(w, "\"over native responses/messages\" is minus its own for that API served natively (another model), i.e. the")
	fmt.Fprintln(w, "translation alone. A translated stream writes several client events for one upstream chunk (its opening and")
	fmt.Fprintln(w, "closing events), so its coalesced count is no fault, and its closing events wait for the upstream's finish")
	fmt.Fprintln(w, "chunk, usage chunk and [DONE] (three upstream events, 5 ms apart here), so its inter-event p99 is that wait.")
	printRedis(w, r.Redis)
	printGoals(w, r.Targets)
}

func fmtNum(v float64) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}
