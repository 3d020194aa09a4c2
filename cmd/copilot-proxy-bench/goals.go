package main

import (
	"fmt"
	"io"
	"strings"
)

// goal is one of issue 17's targets: the figure this run measured and
// whether it meets the target.
type goal struct {
	Name     string   `json:"name"`
	Upstream string   `json:"upstream"`
	Goal     string   `json:"goal"`
	Value    *float64 `json:"value"` // null: not measured in this run
	Unit     string   `json:"unit"`
	Measured string   `json:"measured"`
	Met      *bool    `json:"met"` // null: not measured in this run
	// Reference marks a figure shown beside a target that names another
	// upstream protocol (memory is a target with HTTP/2 upstream; h1's
	// figure is there for comparison).
	Reference bool   `json:"reference,omitempty"`
	Note      string `json:"note,omitempty"`
}

// Issue 17's thresholds.
const (
	goalRSSPerStreamKiB = 35
	goalIdleRSSKiB      = 15 * 1024
	goalFirstEventUs    = 300
	goalGapP99Us        = 100
	goalStreams         = 1000
	goalStreamConc      = 16
)

// goals evaluates the targets from the measured figures.
func (r *results) goals() []goal {
	var out []goal
	add := func(g goal, v float64, ok, met bool) {
		if ok {
			g.Value, g.Met = &v, &met
		} else if g.Measured == "" {
			g.Measured = "not measured"
		}
		out = append(out, g)
	}
	order := []string{"h2", "h1"} // the memory targets are for HTTP/2; h1 for reference
	for _, p := range order {
		u := r.Upstreams[p]
		g := goal{Name: "RSS per held stream (copilot-proxy)", Upstream: p, Unit: "KiB", Reference: p != "h2",
			Goal: fmt.Sprintf("≤ %d KiB, %d held streams", goalRSSPerStreamKiB, goalStreams)}
		if u == nil {
			if p == "h2" {
				add(g, 0, false, false)
			}
			continue
		}
		t := u.ByTarget["copilot-proxy"]
		ok := t.HeldStreams > 0
		if ok {
			g.Measured = fmt.Sprintf("%.1f KiB (%d streams: %d → %d KiB; baseline %.1f)", t.RSSPerStreamKiB, t.HeldStreams,
				t.IdleRSSKiB, t.HeldRSSKiB, u.ByTarget["baseline"].RSSPerStreamKiB)
			if t.HeldStreams < goalStreams*9/10 || t.HeldStreams > goalStreams*11/10 {
				g.Note = fmt.Sprintf("measured with %d streams, the target says %d", t.HeldStreams, goalStreams)
			}
		}
		add(g, t.RSSPerStreamKiB, ok, t.RSSPerStreamKiB <= goalRSSPerStreamKiB)
	}
	for _, p := range order {
		u := r.Upstreams[p]
		g := goal{Name: "idle RSS (copilot-proxy)", Upstream: p, Unit: "KiB", Reference: p != "h2",
			Goal: fmt.Sprintf("≤ %d MiB (%d KiB), metrics on", goalIdleRSSKiB/1024, goalIdleRSSKiB)}
		if u == nil {
			if p == "h2" {
				add(g, 0, false, false)
			}
			continue
		}
		t := u.ByTarget["copilot-proxy"]
		ok := t.IdleRSSKiB > 0
		if ok {
			g.Measured = fmt.Sprintf("%d KiB = %.2f MiB: %d anonymous + %d of the binary's pages (baseline %d KiB)",
				t.IdleRSSKiB, float64(t.IdleRSSKiB)/1024, t.IdleAnonKiB, t.IdleFileKiB, u.ByTarget["baseline"].IdleRSSKiB)
		}
		if !r.Metrics {
			g.Note = "metrics off: the binary has no --metrics"
		}
		add(g, float64(t.IdleRSSKiB), ok, t.IdleRSSKiB <= goalIdleRSSKiB)
	}
	streamNote := ""
	if r.StreamConcurrency != goalStreamConc {
		streamNote = fmt.Sprintf("measured at c=%d, the target says c=%d", r.StreamConcurrency, goalStreamConc)
	}
	for _, p := range []string{"h1", "h2"} {
		u := r.Upstreams[p]
		g := goal{Name: "first streamed event added over direct, p50", Upstream: p, Unit: "µs", Note: streamNote,
			Goal: fmt.Sprintf("≤ %d µs (c=%d, events %.0f ms apart)", goalFirstEventUs, goalStreamConc, r.StreamSpacingMs)}
		if u == nil {
			add(g, 0, false, false)
			continue
		}
		d, c := u.ByTarget["direct"].Streams, u.ByTarget["copilot-proxy"].Streams
		ok := d != nil && c != nil && c.Streams > 0 && d.Streams > 0
		v := 0.0
		if ok {
			v = c.FirstEventP50Us - d.FirstEventP50Us
			g.Measured = fmt.Sprintf("%+.0f µs (%.0f vs %.0f direct)", v, c.FirstEventP50Us, d.FirstEventP50Us)
			if b := u.ByTarget["baseline"].Streams; b != nil {
				g.Measured += fmt.Sprintf("; baseline %+.0f", b.FirstEventP50Us-d.FirstEventP50Us)
			}
		}
		add(g, v, ok, v <= goalFirstEventUs)
	}
	for _, p := range []string{"h1", "h2"} {
		u := r.Upstreams[p]
		g := goal{Name: "inter-event gap added over direct, p99", Upstream: p, Unit: "µs", Note: streamNote,
			Goal: fmt.Sprintf("≤ %d µs", goalGapP99Us)}
		if u == nil {
			add(g, 0, false, false)
			continue
		}
		d, c := u.ByTarget["direct"].Streams, u.ByTarget["copilot-proxy"].Streams
		ok := d != nil && c != nil && c.Streams > 0 && d.Streams > 0
		v := 0.0
		if ok {
			v = c.GapP99Us - d.GapP99Us
			g.Measured = fmt.Sprintf("%+.0f µs (%.0f vs %.0f direct)", v, c.GapP99Us, d.GapP99Us)
			if b := u.ByTarget["baseline"].Streams; b != nil {
				g.Measured += fmt.Sprintf("; baseline %+.0f", b.GapP99Us-d.GapP99Us)
			}
		}
		add(g, v, ok, v <= goalGapP99Us)
	}
	for _, p := range []string{"h1", "h2"} {
		u := r.Upstreams[p]
		g := goal{Name: "non-stream chat c=64 throughput / bare proxy's", Upstream: p, Unit: "×",
			Goal: "≥ 1.00×, every feature on"}
		if u == nil {
			add(g, 0, false, false)
			continue
		}
		b, c := u.ByTarget["baseline"].C64, u.ByTarget["copilot-proxy"].C64
		ok := b != nil && c != nil && b.RPS > 0
		v := 0.0
		if ok {
			v = c.RPS / b.RPS
			g.Measured = fmt.Sprintf("%.2f× (%.0f vs %.0f req/s)", v, c.RPS, b.RPS)
		}
		add(g, v, ok, v >= 1)
	}
	for _, p := range []string{"h1", "h2"} {
		u := r.Upstreams[p]
		g := goal{Name: "non-stream chat c=64 CPU per request / bare proxy's", Upstream: p, Unit: "×",
			Goal: "≤ 1.00×, every feature on"}
		if u == nil {
			add(g, 0, false, false)
			continue
		}
		b, c := u.ByTarget["baseline"].C64, u.ByTarget["copilot-proxy"].C64
		ok := b != nil && c != nil && b.CPUUsPerReq > 0
		v := 0.0
		if ok {
			v = c.CPUUsPerReq / b.CPUUsPerReq
			g.Measured = fmt.Sprintf("%.2f× (%.0f vs %.0f µs)", v, c.CPUUsPerReq, b.CPUUsPerReq)
		}
		add(g, v, ok, v <= 1)
	}
	return out
}

func printGoals(w io.Writer, gs []goal) {
	fmt.Fprintln(w, "\nTargets (issue 17), from this run:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | upstream | goal | measured | result |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	met, total := 0, 0
	for _, g := range gs {
		res := "not measured"
		if g.Met != nil {
			res = "NOT MET"
			if *g.Met {
				res = "met"
			}
			if g.Reference {
				res = "(reference) " + strings.ToLower(res)
			} else {
				total++
				if *g.Met {
					met++
				}
			}
		}
		m := g.Measured
		if g.Note != "" {
			m += "; " + g.Note
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", g.Name, g.Upstream, g.Goal, m, res)
	}
	fmt.Fprintf(w, "\n%d of %d targets met (reference lines not counted).\n", met, total)
}
