package main

import (
	"fmt"
	"io"
	"math"
	"strings"
)

type results struct {
	When           string                   `json:"when"`
	Version        string                   `json:"version,omitempty"`
	GoVersion      string                   `json:"go_version"`
	CPUs           int                      `json:"cpus"`
	Rounds         int                      `json:"rounds"`
	Round          string                   `json:"round"`
	BodyBytes      int                      `json:"body_bytes"`
	Metrics        bool                     `json:"metrics_on"`
	TunedBaseline  bool                     `json:"tuned_baseline"`
	ElapsedSeconds float64                  `json:"elapsed_seconds"`
	Targets        map[string]*targetResult `json:"targets"`
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
	HeldStreams          int              `json:"held_streams,omitempty"`
	HeldRSSKiB           int64            `json:"held_rss_kib,omitempty"`
	RSSPerStreamKiB      float64          `json:"rss_per_stream_kib,omitempty"`
	AfterCloseRSSKiB     int64            `json:"after_close_rss_kib,omitempty"`
}

type nonStreamResult struct {
	Requests    int     `json:"requests"`
	Errors      int     `json:"errors"`
	RPS         float64 `json:"rps"`
	P50Us       float64 `json:"p50_us"`
	P99Us       float64 `json:"p99_us"`
	CPUUsPerReq float64 `json:"cpu_us_per_request,omitempty"`
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
}

// row is one line of the table: a metric read from each target.
type row struct {
	name string
	unit string
	get  func(*targetResult) (float64, bool)
}

func rows() []row {
	ns := func(c1 bool, f func(*nonStreamResult) float64) func(*targetResult) (float64, bool) {
		return func(t *targetResult) (float64, bool) {
			r := t.C64
			if c1 {
				r = t.C1
			}
			if r == nil {
				return 0, false
			}
			v := f(r)
			return v, v != 0
		}
	}
	st := func(f func(*streamResult) float64) func(*targetResult) (float64, bool) {
		return func(t *targetResult) (float64, bool) {
			if t.Streams == nil {
				return 0, false
			}
			return f(t.Streams), true
		}
	}
	num := func(f func(*targetResult) float64) func(*targetResult) (float64, bool) {
		return func(t *targetResult) (float64, bool) { v := f(t); return v, v != 0 }
	}
	return []row{
		{"c=1 throughput", "req/s", ns(true, func(r *nonStreamResult) float64 { return r.RPS })},
		{"c=1 latency p50", "µs", ns(true, func(r *nonStreamResult) float64 { return r.P50Us })},
		{"c=1 latency p99", "µs", ns(true, func(r *nonStreamResult) float64 { return r.P99Us })},
		{"c=1 CPU per request", "µs", ns(true, func(r *nonStreamResult) float64 { return r.CPUUsPerReq })},
		{"c=64 throughput", "req/s", ns(false, func(r *nonStreamResult) float64 { return r.RPS })},
		{"c=64 latency p50", "µs", ns(false, func(r *nonStreamResult) float64 { return r.P50Us })},
		{"c=64 latency p99", "µs", ns(false, func(r *nonStreamResult) float64 { return r.P99Us })},
		{"c=64 CPU per request", "µs", ns(false, func(r *nonStreamResult) float64 { return r.CPUUsPerReq })},
		{"upstream conns / 1000 req", "", func(t *targetResult) (float64, bool) { return t.UpstreamConnsPer1000, true }},
		{"stream TTFB p50", "µs", st(func(s *streamResult) float64 { return s.TTFBP50Us })},
		{"stream TTFB p99", "µs", st(func(s *streamResult) float64 { return s.TTFBP99Us })},
		{"stream first event p50", "µs", st(func(s *streamResult) float64 { return s.FirstEventP50Us })},
		{"stream first event p99", "µs", st(func(s *streamResult) float64 { return s.FirstEventP99Us })},
		{"stream inter-event p50", "µs", st(func(s *streamResult) float64 { return s.GapP50Us })},
		{"stream inter-event p99", "µs", st(func(s *streamResult) float64 { return s.GapP99Us })},
		{"stream events coalesced", "", st(func(s *streamResult) float64 { return float64(s.Coalesced) })},
		{"idle RSS", "KiB", num(func(t *targetResult) float64 { return float64(t.IdleRSSKiB) })},
		{"RSS per open stream", "KiB", num(func(t *targetResult) float64 { return t.RSSPerStreamKiB })},
		{"RSS with streams held", "KiB", num(func(t *targetResult) float64 { return float64(t.HeldRSSKiB) })},
		{"RSS after streams close", "KiB", num(func(t *targetResult) float64 { return float64(t.AfterCloseRSSKiB) })},
		{"cold start", "ms", num(func(t *targetResult) float64 { return t.ColdStartMs })},
	}
}

var targetOrder = [...]string{"direct", "baseline", "copilot-proxy"}

// ratios fills Ratios and Added from the targets.
func (r *results) ratios() {
	r.Ratios = map[string]map[string]float64{"copilot-proxy/baseline": {}, "copilot-proxy/direct": {}}
	r.Added = map[string]map[string]float64{"copilot-proxy": {}, "baseline": {}}
	p, b, d := r.Targets["copilot-proxy"], r.Targets["baseline"], r.Targets["direct"]
	for _, rw := range rows() {
		key := strings.ReplaceAll(rw.name, " ", "_")
		pv, pok := rw.get(p)
		if bv, ok := rw.get(b); ok && pok && bv != 0 {
			r.Ratios["copilot-proxy/baseline"][key] = round3(pv / bv)
		}
		if dv, ok := rw.get(d); ok && pok && dv != 0 {
			r.Ratios["copilot-proxy/direct"][key] = round3(pv / dv)
		}
		if rw.unit == "µs" && !strings.Contains(rw.name, "CPU") {
			if dv, ok := rw.get(d); ok {
				if pok {
					r.Added["copilot-proxy"][key] = round3(pv - dv)
				}
				if bv, ok := rw.get(b); ok {
					r.Added["baseline"][key] = round3(bv - dv)
				}
			}
		}
	}
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

func printTable(w io.Writer, r *results) {
	fmt.Fprintf(w, "\ncopilot-proxy bench — %s, %s, %d CPUs, %d rounds of %s, %d-byte chat body, metrics %v\n\n",
		r.When, r.GoVersion, r.CPUs, r.Rounds, r.Round, r.BodyBytes, r.Metrics)
	fmt.Fprintf(w, "| %-30s | %10s | %10s | %13s | %8s | %8s | %9s | %9s |\n",
		"metric", "direct", "baseline", "copilot-proxy", "cp/base", "cp/direct", "base+", "cp+")
	fmt.Fprintf(w, "|%s|%s|%s|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 32), strings.Repeat("-", 12), strings.Repeat("-", 12),
		strings.Repeat("-", 15), strings.Repeat("-", 10), strings.Repeat("-", 11), strings.Repeat("-", 11), strings.Repeat("-", 11))
	for _, rw := range rows() {
		key := strings.ReplaceAll(rw.name, " ", "_")
		cells := make([]string, 0, 7)
		for _, n := range targetOrder {
			if v, ok := rw.get(r.Targets[n]); ok {
				cells = append(cells, fmtNum(v))
			} else {
				cells = append(cells, "—")
			}
		}
		for _, m := range []map[string]float64{r.Ratios["copilot-proxy/baseline"], r.Ratios["copilot-proxy/direct"]} {
			if v, ok := m[key]; ok {
				cells = append(cells, fmt.Sprintf("%.2f×", v))
			} else {
				cells = append(cells, "—")
			}
		}
		for _, n := range []string{"baseline", "copilot-proxy"} {
			if v, ok := r.Added[n][key]; ok {
				cells = append(cells, fmtNum(v))
			} else {
				cells = append(cells, "—")
			}
		}
		name := rw.name
		if rw.unit != "" {
			name += " (" + rw.unit + ")"
		}
		fmt.Fprintf(w, "| %-30s | %10s | %10s | %13s | %8s | %8s | %9s | %9s |\n", name,
			cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6])
	}
	fmt.Fprintln(w, "\ncp/base, cp/direct: copilot-proxy divided by the baseline / direct; base+, cp+: added over direct (µs).")
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
