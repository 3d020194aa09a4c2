// Package gctune gives Go's garbage collector a floor of headroom while the
// process is busy.
//
// Go starts a collection when the heap has grown by GOGC percent (100) of
// what the last one found live, and not before the heap reaches 4 MiB. A
// gateway keeps a few MiB live and allocates some KiB per request, so under
// load it collects dozens of times a second, and each collection scans
// every goroutine's stack and the globals again. A Tuner raises GOGC after
// each collection so that the next one waits for about Headroom bytes of
// new allocation (Go starts a cycle somewhat before its goal); once the
// live heap is larger than Headroom, GOGC is back at 100 and the collector
// runs as Go would run it. The price is at most Headroom bytes more heap
// under load, paid for fewer collections.
//
// Only a busy process gets the headroom: one that allocated less than
// Headroom bytes per second since the last collection runs at Go's own
// pace, so an idle gateway keeps none (Go collects at least every two
// minutes, and that collection sets GOGC back to 100).
//
// GOGC is a setting of the whole process: run one Tuner per process.
package gctune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// heapMinimum is Go's smallest heap goal at GOGC=100. The runtime scales it
// with GOGC (4 MiB × GOGC/100), so Percent keeps it under the goal it aims at.
const heapMinimum = 4 << 20

// maxPercent bounds GOGC for a tiny live heap with a huge headroom, and
// maxHeadroom the headroom, so that headroom × 100 cannot overflow.
const (
	maxPercent  = 1 << 20
	maxHeadroom = 1 << 50
)

// Percent returns the GOGC that makes the next collection come when the
// heap reaches live + max(base, headroom). base is what GOGC is a percentage
// of (the live heap plus the stacks and globals the collector scans); live
// is the live heap alone. It is never below 100: Go's own pace is the least
// headroom there is.
func Percent(live, base, headroom uint64) int {
	headroom = min(headroom, maxHeadroom)
	if base == 0 || headroom <= base {
		return 100
	}
	p := headroom * 100 / base
	// 4 MiB × p/100 must not pass live + headroom: that minimum would
	// otherwise set the goal, above the one asked for.
	p = min(p, (live+headroom)*100/heapMinimum, maxPercent)
	return max(int(p), 100)
}

// Tuner sets GOGC after each collection (see Percent). Make one with Start.
type Tuner struct {
	headroom uint64
	setGC    func(int) int   // debug.SetGCPercent
	read     func() heapSize // the last collection's figures
	now      func() time.Time

	mu      sync.Mutex
	stopped bool
	percent int // the GOGC set last; 0 before the first
	tuned   int // collections seen, for tests
	last    heapSize
	lastAt  time.Time
}

// heapSize is what the last collection found.
type heapSize struct {
	live, base uint64
	allocs     uint64 // bytes allocated since the process started
}

// Start begins tuning GOGC for headroom bytes (see the package comment)
// and returns the Tuner, whose Stop ends it. A headroom of 0 does nothing.
func Start(headroom uint64) *Tuner {
	return start(headroom, debug.SetGCPercent, newReader().read, time.Now)
}

func start(headroom uint64, setGC func(int) int, read func() heapSize, now func() time.Time) *Tuner {
	t := &Tuner{headroom: headroom, setGC: setGC, read: read, now: now}
	if headroom > 0 {
		t.last, t.lastAt = read(), now()
		arm(t)
	}
	return t
}

// Stop ends the tuning: no collection after it changes GOGC. The value set
// last stays; the process is usually ending.
func (t *Tuner) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
}

// Headroom returns the headroom the Tuner keeps, 0 when it does nothing.
func (t *Tuner) Headroom() uint64 { return t.headroom }

// Percent returns the GOGC the Tuner set last, 0 before its first
// collection.
func (t *Tuner) Percent() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.percent
}

// tune sets GOGC for what the collection that just ended found live. It
// reports false once the Tuner is stopped.
func (t *Tuner) tune() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	h, at := t.read(), t.now()
	p := 100
	if t.busy(h, at) {
		p = Percent(h.live, h.base, t.headroom)
	}
	if p != t.percent {
		t.setGC(p)
		t.percent = p
	}
	t.last, t.lastAt = h, at
	t.tuned++
	return true
}

// minInterval is the shortest time between two collections that says how
// busy the process is. Shorter ones are forced (runtime.GC, FreeOSMemory,
// pprof's ?gc=1) right after another; allocation never brings one that
// soon while the headroom is in force (16 MiB in 10 ms is 1.6 GB/s).
const minInterval = 10 * time.Millisecond

// busy reports whether the process allocated at least headroom bytes per
// second since the last collection. After too short an interval it
// reports what it found last time.
func (t *Tuner) busy(h heapSize, at time.Time) bool {
	elapsed := at.Sub(t.lastAt)
	if elapsed < minInterval {
		return t.percent > 100
	}
	allocated := float64(h.allocs - t.last.allocs)
	return allocated >= float64(t.headroom)*elapsed.Seconds()
}

// sentinel is an object nothing refers to: its finalizer runs after a
// collection (at most once per cycle) and sets itself again. It holds a
// pointer, so it is never packed into a tiny block with other objects,
// which would delay its finalizer until they die too.
type sentinel struct {
	t *Tuner
}

func arm(t *Tuner) {
	runtime.SetFinalizer(&sentinel{t: t}, afterGC)
}

func afterGC(s *sentinel) {
	if s.t.tune() {
		runtime.SetFinalizer(s, afterGC)
	}
}

// reader reads the figures of the last collection from runtime/metrics.
type reader struct {
	samples []metrics.Sample
}

func newReader() *reader {
	return &reader{samples: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/gc/scan/stack:bytes"},
		{Name: "/gc/scan/globals:bytes"},
		{Name: "/gc/heap/allocs:bytes"},
	}}
}

// read runs under the Tuner's lock (on the finalizer goroutine, or in
// start), one call at a time, so the samples are not shared.
func (r *reader) read() heapSize {
	metrics.Read(r.samples)
	var v [4]uint64
	for i, s := range r.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = s.Value.Uint64()
		}
	}
	return heapSize{live: v[0], base: v[0] + v[1] + v[2], allocs: v[3]}
}
