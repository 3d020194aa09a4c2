//go:build linux

package main

import (
	"strings"
	"testing"
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
	cpu := c64Ratio("%.2f× (%.0f vs %.0f µs)", func(n *nonStreamResult) float64 { return n.CPUUsPerReq }, func(v float64) bool { return v <= 1 })(u, goal{})
	if !strings.HasPrefix(cpu.Measured, "1.003×") || cpu.Met == nil || *cpu.Met {
		t.Errorf("CPU 138.4 vs 138: %q, met %v; want 1.003×, not met", cpu.Measured, cpu.Met)
	}
	thr := c64Ratio("%.2f× (%.0f vs %.0f req/s)", func(n *nonStreamResult) float64 { return n.RPS }, func(v float64) bool { return v >= 1 })(u, goal{})
	if !strings.HasPrefix(thr.Measured, "1.25×") {
		t.Errorf("throughput 5000 vs 4000: %q, want 1.25×", thr.Measured)
	}
	u.ByTarget["direct"].Streams.Rounds = []streamRound{{FirstEventP50Us: 1000}, {FirstEventP50Us: 900}, {FirstEventP50Us: 1100}}
	u.ByTarget["copilot-proxy"].Streams.Rounds = []streamRound{{FirstEventP50Us: 1800}, {FirstEventP50Us: 2000}, {FirstEventP50Us: 1500}}
	first := streamAdded(goalFirstEventUs, func(s *streamResult) float64 { return s.FirstEventP50Us },
		func(r streamRound) float64 { return r.FirstEventP50Us })(u, goal{})
	for _, want := range []string{"+900 µs (1900 vs 1000 direct, rounds +400 to +1100)", "baseline +500", "a TCP relay, the hop alone, +200"} {
		if !strings.Contains(first.Measured, want) {
			t.Errorf("first event: %q lacks %q", first.Measured, want)
		}
	}
}
