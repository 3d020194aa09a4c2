package gctune

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const mib = 1 << 20

func TestPercent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                 string
		live, base, headroom uint64
		want                 int
	}{
		{"off", 2 * mib, 2 * mib, 0, 100},
		{"nothing live yet", 0, 0, 16 * mib, 100},
		{"live heap above the headroom: Go's own pace", 40 * mib, 41 * mib, 16 * mib, 100},
		{"live heap equal to the headroom", 16 * mib, 16 * mib, 16 * mib, 100},
		// 16/5 → 320 %: the goal is 5 + 16 MiB; 4 MiB × 3.2 = 12.8 MiB stays below it.
		{"a gateway under load", 4 * mib, 5 * mib, 16 * mib, 320},
		// 16/2 → 800 % would make Go's minimum 32 MiB; (2+16)/4 → 450 % keeps it at 18.
		{"an idle gateway: Go's minimum bounds it", 2 * mib, 2 * mib, 16 * mib, 450},
		{"stacks and globals count toward the base", 4 * mib, 8 * mib, 16 * mib, 200},
		{"a tiny heap and a huge headroom are bounded", 1, 1, 1 << 60, maxPercent},
		{"the largest size a flag takes does not overflow", 2 * mib, 2 * mib, 1 << 62, maxPercent},
	} {
		if got := Percent(tc.live, tc.base, tc.headroom); got != tc.want {
			t.Errorf("%s: Percent(%d, %d, %d) = %d, want %d", tc.name, tc.live, tc.base, tc.headroom, got, tc.want)
		}
	}
}

// TestPercentKeepsTheGoal checks over a range of heaps that the goal Go
// computes from Percent's GOGC is live + max(base, headroom) or less, and
// not far below it.
func TestPercentKeepsTheGoal(t *testing.T) {
	t.Parallel()
	const headroom = 16 * mib
	for live := uint64(mib / 2); live <= 64*mib; live += mib / 2 {
		base := live + live/8
		p := uint64(Percent(live, base, headroom))
		goal := max(live+base*p/100, heapMinimum*p/100)
		want := live + max(base, headroom)
		if goal > want || goal < want-want/50 {
			t.Errorf("live %d: GOGC %d gives a goal of %d, want about %d", live, p, goal, want)
		}
	}
}

// recorder stands for debug.SetGCPercent, the metrics and the clock: each
// collection is a second after the last, with perGC bytes allocated since.
type recorder struct {
	heap  heapSize
	perGC uint64
	clock time.Time
	step  time.Duration // between two collections
	set   chan int
}

func newRecorder(live, base, perGC uint64) *recorder {
	return &recorder{heap: heapSize{live: live, base: base}, perGC: perGC,
		clock: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC), step: time.Second, set: make(chan int, 16)}
}

func (r *recorder) setGC(p int) int { r.set <- p; return 100 }

func (r *recorder) read() heapSize {
	r.heap.allocs += r.perGC
	return r.heap
}

func (r *recorder) now() time.Time {
	r.clock = r.clock.Add(r.step)
	return r.clock
}

func (r *recorder) start(headroom uint64) *Tuner {
	return start(headroom, r.setGC, r.read, r.now)
}

// change alters the recorder's figures under the tuner's lock (the tuner
// reads them on the finalizer goroutine).
func (r *recorder) change(tu *Tuner, f func()) {
	tu.mu.Lock()
	defer tu.mu.Unlock()
	f()
}

// collect runs a collection and waits until the tuner has seen it, or
// fails. It forces another only when the finalizer has not run within a
// second: forcing one while the first is being handled would bring a
// second tuning moments later, with next to nothing allocated in between.
func collect(t *testing.T, tu *Tuner) {
	t.Helper()
	n := tuned(tu)
	for range 30 {
		runtime.GC()
		for wait := time.Now().Add(time.Second); time.Now().Before(wait); time.Sleep(time.Millisecond) {
			if tuned(tu) > n {
				return
			}
		}
	}
	t.Fatal("no collection reached the tuner")
}

func tuned(tu *Tuner) int {
	tu.mu.Lock()
	defer tu.mu.Unlock()
	return tu.tuned
}

// next returns the GOGC the tuner sets next, or fails.
func (r *recorder) next(t *testing.T) int {
	t.Helper()
	select {
	case p := <-r.set:
		return p
	case <-time.After(30 * time.Second):
		t.Fatal("the tuner did not set GOGC")
		return 0
	}
}

func TestTunerSetsGOGCAfterEachCollection(t *testing.T) {
	// 64 MiB a second: busy for a headroom of 16 MiB.
	r := newRecorder(4*mib, 5*mib, 64*mib)
	tu := r.start(16 * mib)
	defer tu.Stop()
	collect(t, tu)
	if got := r.next(t); got != 320 {
		t.Fatalf("GOGC set to %d, want 320", got)
	}
	// The same figures: GOGC is not set again.
	collect(t, tu)
	// The live heap grew past the headroom: back to Go's pace.
	r.change(tu, func() { r.heap.live, r.heap.base = 40*mib, 41*mib })
	collect(t, tu)
	if got := r.next(t); got != 100 {
		t.Fatalf("GOGC set to %d, want 100", got)
	}
	if len(r.set) != 0 {
		t.Fatalf("GOGC set again for unchanged figures: %d", <-r.set)
	}
	if tu.Percent() != 100 {
		t.Fatalf("Percent() = %d, want 100", tu.Percent())
	}
}

// TestIdleProcessGetsNoHeadroom: a process that allocates less than the
// headroom per second runs at Go's pace; one that does gets the headroom,
// and loses it when it calms down.
func TestIdleProcessGetsNoHeadroom(t *testing.T) {
	r := newRecorder(2*mib, 2*mib, 15*mib) // 15 MiB a second, under 16
	tu := r.start(16 * mib)
	defer tu.Stop()
	collect(t, tu)
	if got := r.next(t); got != 100 {
		t.Fatalf("idle: GOGC set to %d, want 100", got)
	}
	r.change(tu, func() { r.perGC = 16 * mib })
	collect(t, tu)
	if got := r.next(t); got != 450 {
		t.Fatalf("busy: GOGC set to %d, want 450", got)
	}
	r.change(tu, func() { r.perGC = mib })
	collect(t, tu)
	if got := r.next(t); got != 100 {
		t.Fatalf("calm again: GOGC set to %d, want 100", got)
	}
}

// TestForcedCollectionSaysNothing: a collection moments after another (a
// forced one) leaves the busy or idle state as it was, however much or
// little was allocated in between.
func TestForcedCollectionSaysNothing(t *testing.T) {
	r := newRecorder(4*mib, 5*mib, 64*mib)
	tu := r.start(16 * mib)
	defer tu.Stop()
	// Forced right after start: no evidence yet, Go's pace.
	r.change(tu, func() { r.step = time.Millisecond })
	collect(t, tu)
	if got := r.next(t); got != 100 {
		t.Fatalf("forced at start: GOGC set to %d, want 100", got)
	}
	r.change(tu, func() { r.step = time.Second })
	collect(t, tu)
	if got := r.next(t); got != 320 {
		t.Fatalf("busy: GOGC set to %d, want 320", got)
	}
	// Forced moments later with nothing allocated: still busy.
	r.change(tu, func() { r.step, r.perGC = time.Millisecond, 0 })
	collect(t, tu)
	if len(r.set) != 0 || tu.Percent() != 320 {
		t.Fatalf("a forced collection changed GOGC to %d", tu.Percent())
	}
}

func TestStoppedTunerLeavesGOGC(t *testing.T) {
	r := newRecorder(4*mib, 5*mib, 64*mib)
	tu := r.start(16 * mib)
	collect(t, tu)
	r.next(t)
	tu.Stop()
	r.change(tu, func() { r.heap.live, r.heap.base = 40*mib, 41*mib })
	for range 5 {
		runtime.GC()
	}
	// Wait for a finalizer of our own, set after Stop, as a sign that the
	// finalizer goroutine has worked through what these collections queued
	// (the order within one batch is not fixed; the five collections above
	// are what give the sentinel its runs).
	done := make(chan struct{})
	runtime.SetFinalizer(&sentinel{}, func(*sentinel) { close(done) })
	for ok := false; !ok; {
		runtime.GC()
		select {
		case <-done:
			ok = true
		case <-time.After(10 * time.Millisecond):
		}
	}
	if len(r.set) != 0 {
		t.Fatalf("a stopped tuner set GOGC to %d", <-r.set)
	}
}

func TestNoHeadroomNoTuning(t *testing.T) {
	r := newRecorder(4*mib, 5*mib, 64*mib)
	tu := r.start(0)
	for range 3 {
		runtime.GC()
	}
	if len(r.set) != 0 || tu.Percent() != 0 || tu.Headroom() != 0 {
		t.Fatalf("headroom 0 tuned: %d settings, percent %d, headroom %d", len(r.set), tu.Percent(), tu.Headroom())
	}
}

// TestStartTunesTheRuntime runs the real thing: after a collection GOGC is
// what Percent says for the figures runtime/metrics gives.
func TestStartTunesTheRuntime(t *testing.T) {
	// No collection but collect's own: one during the allocation below
	// would leave the next one little to measure.
	orig := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(orig)
	// The test allocates 32 MiB at once: busy for a 64 MiB headroom
	// unless the collection comes half a second later, and telling once it
	// comes minInterval after the start.
	tu := Start(64 * mib)
	junk := make([][]byte, 0, 512)
	for range 512 {
		junk = append(junk, make([]byte, 64<<10))
	}
	junk = nil
	time.Sleep(2 * minInterval) // a collection sooner says nothing of the rate
	collect(t, tu)
	tu.Stop() // so no collection changes GOGC between the two reads below
	h := newReader().read()
	// The base counts the goroutine stacks and the globals as well.
	if h.live == 0 || h.base <= h.live || h.allocs < h.live {
		t.Fatalf("runtime/metrics gave live %d, base %d, allocated %d", h.live, h.base, h.allocs)
	}
	got := debug.SetGCPercent(100)
	debug.SetGCPercent(got)
	if got != tu.Percent() || got <= 100 {
		t.Fatalf("GOGC is %d, the tuner set %d; want the tuner's, above 100 for a busy test's small heap", got, tu.Percent())
	}
}
