package middleware

import (
	"context"
	"maps"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestDeque(t *testing.T) {
	t.Parallel()
	var d deque[int]
	next, front := 0, 0
	// Interleave pushes and pops so the ring wraps and grows while wrapped.
	for round := range 50 {
		for range round%7 + 1 {
			d.push(next)
			next++
		}
		for range round % 5 {
			if d.len() == 0 {
				break
			}
			if d.at(0) != front {
				t.Fatalf("front = %d, want %d", d.at(0), front)
			}
			d.popFront()
			front++
		}
		if d.len() != next-front {
			t.Fatalf("len = %d, want %d", d.len(), next-front)
		}
		for i := 0; i < d.len(); i++ {
			if d.at(i) != front+i {
				t.Fatalf("at(%d) = %d, want %d", i, d.at(i), front+i)
			}
		}
		if d.len() > 0 && *d.back() != next-1 {
			t.Fatalf("back = %d, want %d", *d.back(), next-1)
		}
	}
}

func TestReqWindow(t *testing.T) {
	t.Parallel()
	s := int64(time.Second)
	var w reqWindow
	for _, at := range []int64{0, 10 * s, 20 * s, 30 * s} {
		w.add(at)
	}
	tests := []struct {
		name  string
		now   int64
		limit int
		count int
		wait  time.Duration
		reset time.Duration
	}{
		{"room", 30 * s, 5, 4, 0, 30 * time.Second},
		{"full", 30 * s, 4, 4, 30 * time.Second, 30 * time.Second},
		// A lowered limit: two must leave before one fits.
		{"over after lowering", 30 * s, 3, 4, 40 * time.Second, 30 * time.Second},
		{"oldest leaves exactly at 60s", 60 * s, 4, 3, 0, 10 * time.Second},
		{"all gone", 91 * s, 1, 0, 0, 0},
	}
	for _, tt := range tests {
		w.prune(tt.now)
		if w.count() != tt.count || w.wait(tt.limit, tt.now) != tt.wait || w.reset(tt.now) != tt.reset {
			t.Errorf("%s: count=%d wait=%v reset=%v, want %d %v %v", tt.name,
				w.count(), w.wait(tt.limit, tt.now), w.reset(tt.now), tt.count, tt.wait, tt.reset)
		}
	}
	// A clock that steps back cannot unsort the window.
	w.add(100 * s)
	w.add(99 * s)
	if w.q.at(0) != 100*s || w.q.at(1) != 100*s {
		t.Fatalf("window = %d, %d; want both clamped to 100s", w.q.at(0), w.q.at(1))
	}
}

func TestTokWindow(t *testing.T) {
	t.Parallel()
	ms := int64(time.Millisecond)
	var w tokWindow
	w.add(0, 10)
	w.add(50*ms, 5) // same 100ms slot: merged, stamped with the later time
	w.add(100*ms, 7)
	if w.q.len() != 2 || w.sum != 22 || w.q.at(0).t != 50*ms || w.q.at(0).n != 15 {
		t.Fatalf("entries=%d sum=%d first=%+v", w.q.len(), w.sum, w.q.at(0))
	}
	now := 1000 * ms
	if d := w.wait(23, now); d != 0 {
		t.Errorf("wait under the limit = %v", d)
	}
	if d := w.wait(22, now); d != 60*time.Second+50*time.Millisecond-time.Second {
		t.Errorf("wait at the limit = %v", d)
	}
	if d := w.wait(7, now); d != 60*time.Second+100*time.Millisecond-time.Second {
		t.Errorf("wait needing both entries gone = %v", d)
	}
	if d := w.reset(100, now); d != 59*time.Second+50*time.Millisecond {
		t.Errorf("reset = %v", d)
	}
	w.prune(60*int64(time.Second) + 50*ms) // first entry leaves exactly now
	if w.q.len() != 1 || w.sum != 7 {
		t.Fatalf("after prune: entries=%d sum=%d", w.q.len(), w.sum)
	}
	w.prune(61 * int64(time.Second))
	if w.q.len() != 0 || w.sum != 0 || w.reset(1, 0) != 0 {
		t.Fatalf("after full prune: entries=%d sum=%d", w.q.len(), w.sum)
	}

	// The merge bounds memory: a minute of records every millisecond keeps
	// about 600 entries.
	var busy tokWindow
	for i := range int64(120_000) {
		busy.add(i*ms, 1)
		busy.prune(i * ms)
	}
	if busy.q.len() > 601 || busy.sum < 59_900 || busy.sum > 60_000 {
		t.Fatalf("busy window: entries=%d sum=%d", busy.q.len(), busy.sum)
	}
}

func TestFormatReset(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{-time.Second, "0s"},
		{time.Nanosecond, "1ms"},
		{20 * time.Millisecond, "20ms"},
		{6500 * time.Millisecond, "6.5s"},
		{6500*time.Millisecond + time.Microsecond, "6.501s"},
		{59*time.Second + 988*time.Millisecond, "59.988s"},
		{time.Minute, "1m0s"},
		{90 * time.Second, "1m30s"},
	}
	for _, tt := range tests {
		if got := formatReset(tt.d); got != tt.want {
			t.Errorf("formatReset(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d        time.Duration
		secs, ms int64
	}{
		{0, 1, 1},
		{time.Nanosecond, 1, 1},
		{999 * time.Millisecond, 1, 999},
		{time.Second, 1, 1000},
		{time.Second + time.Nanosecond, 2, 1001},
		{6500 * time.Millisecond, 7, 6500},
		{time.Minute, 60, 60000},
	}
	for _, tt := range tests {
		if s, ms := retryAfter(tt.d); s != tt.secs || ms != tt.ms {
			t.Errorf("retryAfter(%v) = %d, %d; want %d, %d", tt.d, s, ms, tt.secs, tt.ms)
		}
	}
}

func TestResolveLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		own  *int
		def  int
		want int
	}{
		{nil, 60, 60},
		{nil, 0, 0},
		{intp(0), 60, 0}, // the key's own 0 = unlimited
		{intp(5), 60, 5},
		{intp(500), 60, 500},
		{intp(-1), 60, 60}, // invalid own value: the default
	}
	for _, tt := range tests {
		if got := resolveLimit(tt.own, tt.def); got != tt.want {
			t.Errorf("resolveLimit(%v, %d) = %d, want %d", tt.own, tt.def, got, tt.want)
		}
	}
}

func TestLimiterSweep(t *testing.T) {
	t.Parallel()
	l, clk := newTestLimiter(t, LimitConfig{KeyRPM: 2, KeyTPM: 100})
	keys := func() map[string]bool {
		m := map[string]bool{}
		memOf(l).keys.Range(func(k, _ any) bool { m[k.(string)] = true; return true })
		return m
	}
	expectOK(t, limitChain(l, keyP("old"), okLimited)())
	addTestTokens(l, "tokens-only", 5)
	clk.Advance(30 * time.Second)
	expectOK(t, limitChain(l, keyP("recent"), okLimited)())
	hc := newHoldChain(t, l)
	hc.hold(keyP("busy"))

	memOf(l).sweep()
	if got := keys(); len(got) != 4 {
		t.Fatalf("swept active keys: %v", got)
	}
	clk.Advance(30 * time.Second) // "old" and "tokens-only" have left the window
	memOf(l).sweep()
	if got := keys(); len(got) != 2 || !got["recent"] || !got["busy"] {
		t.Fatalf("after sweep: %v, want recent and busy", got)
	}
	clk.Advance(time.Hour)
	memOf(l).sweep()
	if got := keys(); len(got) != 1 || !got["busy"] {
		t.Fatalf("an in-flight key must never be swept: %v", got)
	}

	// A swept key starts afresh, and limits still hold after a sweep.
	do := limitChain(l, keyP("old"), okLimited)
	expectOK(t, do())
	expectOK(t, do())
	expect429(t, do(), ReasonRPM, "", 60, 60000)
}

func TestLimiterSweepRace(t *testing.T) {
	t.Parallel()
	// Sweeping while requests come and go must never lose an admission: the
	// rpm limit holds exactly however the sweeps interleave.
	l, _ := newTestLimiter(t, LimitConfig{KeyRPM: 50})
	lim := KeyLimits{RPM: 50}
	m := memOf(l)
	stop := make(chan struct{})
	var sweeps sync.WaitGroup
	sweeps.Add(1)
	go func() {
		defer sweeps.Done()
		for {
			select {
			case <-stop:
				return
			default:
				m.sweep()
			}
		}
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := map[string]int{}
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				id := "k" + strconv.Itoa((g+i)%4)
				tk, _, rej, _ := m.Admit(context.Background(), AdmitRequest{KeyID: id, Key: lim})
				if rej == nil {
					mu.Lock()
					admitted[id]++
					mu.Unlock()
					tk.Release(0, false)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	sweeps.Wait()
	for id, n := range admitted {
		if n != 50 {
			t.Errorf("key %s admitted %d, want exactly 50", id, n)
		}
	}
}

// limiterKeys is the set of key ids the limiter holds state for.
func limiterKeys(l *Limiter) map[string]bool {
	m := map[string]bool{}
	memOf(l).keys.Range(func(k, _ any) bool { m[k.(string)] = true; return true })
	return m
}

func TestLimiterSweepsLazilyOnItsClock(t *testing.T) {
	t.Parallel()
	// Sweeping runs on the admission path, timed by the injected clock only:
	// the fake clock moves and no test step sleeps. A sweep is due
	// sweepInterval (60s) after the limiter's start, then 60s after the last.
	l, clk := newTestLimiter(t, LimitConfig{KeyRPM: 5})
	steps := []struct {
		name  string
		at    time.Duration // on the fake clock, since the limiter started
		admit string        // key to send one request for; "" = none
		want  []string      // keys with state afterwards
	}{
		{"first key", 0, "a", []string{"a"}},
		{"second key", 30 * time.Second, "c", []string{"a", "c"}},
		{"a idle, but no request runs a sweep", 61 * time.Second, "", []string{"a", "c"}},
		{"a request after the interval sweeps a", 61 * time.Second, "b", []string{"b", "c"}},
		{"c idle since 90s, next sweep not due until 121s", 100 * time.Second, "d", []string{"b", "c", "d"}},
		{"sweep at 121s: b and c have left their windows", 121 * time.Second, "d", []string{"d"}},
	}
	start := clk.Now()
	for _, s := range steps {
		clk.Advance(start.Add(s.at).Sub(clk.Now()))
		if s.admit != "" {
			expectOK(t, limitChain(l, keyP(s.admit), okLimited)())
		}
		got := limiterKeys(l)
		want := map[string]bool{}
		for _, k := range s.want {
			want[k] = true
		}
		if !maps.Equal(got, want) {
			t.Fatalf("%s: keys %v, want %v", s.name, got, want)
		}
	}
}
