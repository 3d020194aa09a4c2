//go:build linux

package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// A ratio that rounds to 1.00× is shown with a third decimal, so the line
// never reads "1.00×, NOT MET"; the first-event line gives the spread of
// the per-round additions, and the TCP relay's figure when it was measured.
func TestGoalFigures(t *testing.T) {
	t.Parallel()
	u := &upstreamResult{ByTarget: map[string]*targetResult{
		"direct":        {Streams: &streamResult{Streams: 10, FirstEventP50Us: 1000}},
		"baseline":      {C64: &nonStreamResult{CPUUsPerReq: 138, RPS: 4000}, Streams: &streamResult{Streams: 10, FirstEventP50Us: 1500}},
		"copilot-proxy": {C64: &nonStreamResult{CPUUsPerReq: 138.4, RPS: 5000}, Streams: &streamResult{Streams: 10, FirstEventP50Us: 1900}},
		relayTarget:     {Streams: &streamResult{Streams: 10, FirstEventP50Us: 1200}},
	}}
	cpuRatio := c64Ratio("%.2f× (%.0f vs %.0f µs)", func(n *nonStreamResult) float64 { return n.CPUUsPerReq }, func(v float64) bool { return v <= 1 })
	cpu := cpuRatio(u, goal{})
	if !strings.HasPrefix(cpu.Measured, "1.003×") || cpu.Met == nil || *cpu.Met {
		t.Errorf("CPU 138.4 vs 138: %q, met %v; want 1.003×, not met", cpu.Measured, cpu.Met)
	}
	// The same closure serves the next protocol: two decimals again.
	u2 := &upstreamResult{ByTarget: map[string]*targetResult{
		"baseline": {C64: &nonStreamResult{CPUUsPerReq: 161}}, "copilot-proxy": {C64: &nonStreamResult{CPUUsPerReq: 106}},
	}}
	if got := cpuRatio(u2, goal{}).Measured; !strings.HasPrefix(got, "0.66× ") {
		t.Errorf("CPU 106 vs 161 after a ratio near 1: %q, want 0.66×", got)
	}
	thr := c64Ratio("%.2f× (%.0f vs %.0f req/s)", func(n *nonStreamResult) float64 { return n.RPS }, func(v float64) bool { return v >= 1 })(u, goal{})
	if !strings.HasPrefix(thr.Measured, "1.25×") {
		t.Errorf("throughput 5000 vs 4000: %q, want 1.25×", thr.Measured)
	}
	t0 := time.Now()
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	// Rounds rotate: copilot-proxy's round at 20 s is nearest direct's at
	// 19 s, not direct's second round (at 10 s).
	u.ByTarget["direct"].Streams.Rounds = []streamRound{{Start: at(0), FirstEventP50Us: 1000}, {Start: at(10), FirstEventP50Us: 900}, {Start: at(19), FirstEventP50Us: 1100}}
	u.ByTarget["copilot-proxy"].Streams.Rounds = []streamRound{{Start: at(2), FirstEventP50Us: 1800}, {Start: at(20), FirstEventP50Us: 2000}, {Start: at(12), FirstEventP50Us: 1500}}
	first := streamAdded(goalFirstEventUs, func(s *streamResult) float64 { return s.FirstEventP50Us },
		func(r streamRound) float64 { return r.FirstEventP50Us })(u, goal{})
	for _, want := range []string{"+900 µs (1900 vs 1000 direct, rounds +600 to +900)", "baseline +500", "a TCP relay, the hop alone, +200"} {
		if !strings.Contains(first.Measured, want) {
			t.Errorf("first event: %q lacks %q", first.Measured, want)
		}
	}
}

// A round's figures are its successful streams' percentiles, as the run's
// are: failed streams count as errors and add no latency.
func TestSummarizeAndRoundOf(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	obs := []streamObs{
		{first: 1 * ms, ttfb: 1 * ms, gaps: []time.Duration{5 * ms}, events: 2},
		{first: 3 * ms, ttfb: 2 * ms, gaps: []time.Duration{6 * ms}, events: 2, coalesced: 1},
		{first: 2 * ms, ttfb: 2 * ms, gaps: []time.Duration{7 * ms}, events: 2},
		{err: io.ErrUnexpectedEOF, first: 90 * ms, gaps: []time.Duration{90 * ms}},
	}
	s := summarize(obs)
	if s.Streams != 3 || s.Errors != 1 || s.Events != 6 || s.Coalesced != 1 {
		t.Errorf("counts: %+v", s)
	}
	if s.FirstEventP50Us != 2000 || s.GapP99Us != 6000 {
		t.Errorf("first p50 %.0f µs, gap p99 %.0f µs; want 2000 and 6000 (the failed stream left out)", s.FirstEventP50Us, s.GapP99Us)
	}
	start := time.Now()
	if r := roundOf(obs, start); r.FirstEventP50Us != s.FirstEventP50Us || r.GapP99Us != s.GapP99Us || !r.Start.Equal(start) {
		t.Errorf("roundOf = %+v, want the summary's figures and its start", r)
	}
}
