package middleware

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// rateWindow is the length of every per-minute window (requests and tokens).
const rateWindow = time.Minute

// tokenBucket is the granularity at which token records are merged: records
// within the same 100 ms slot share one entry, which bounds a key's token
// window to about 600 entries whatever its traffic. A merged entry takes the
// latest timestamp of its slot, so tokens leave the window at most 100 ms late
// (never early: the limit is never exceeded because of the merge).
const tokenBucket = rateWindow / 600

// deque is a growable ring buffer used as a FIFO of timestamps. Memory follows
// what is actually in the window, not the configured limit.
type deque[T any] struct {
	buf  []T
	head int
	n    int
}

func (d *deque[T]) len() int { return d.n }

// at returns the i-th element from the front (0 = oldest).
func (d *deque[T]) at(i int) T { return d.buf[(d.head+i)%len(d.buf)] }

// ptr returns a pointer to the i-th element from the front.
func (d *deque[T]) ptr(i int) *T { return &d.buf[(d.head+i)%len(d.buf)] }

// back returns a pointer to the newest element; the deque must not be empty.
func (d *deque[T]) back() *T { return &d.buf[(d.head+d.n-1)%len(d.buf)] }

func (d *deque[T]) push(v T) {
	if d.n == len(d.buf) {
		d.grow()
	}
	d.buf[(d.head+d.n)%len(d.buf)] = v
	d.n++
}

func (d *deque[T]) popFront() {
	var zero T
	d.buf[d.head] = zero
	d.head = (d.head + 1) % len(d.buf)
	d.n--
	if d.n == 0 {
		d.head = 0
	}
}

// removeAt removes the i-th element from the front, keeping the order.
func (d *deque[T]) removeAt(i int) {
	for j := i; j < d.n-1; j++ {
		d.buf[(d.head+j)%len(d.buf)] = d.buf[(d.head+j+1)%len(d.buf)]
	}
	var zero T
	d.buf[(d.head+d.n-1)%len(d.buf)] = zero
	d.n--
	if d.n == 0 {
		d.head = 0
	}
}

func (d *deque[T]) grow() {
	nb := make([]T, max(4, 2*len(d.buf)))
	for i := 0; i < d.n; i++ {
		nb[i] = d.at(i)
	}
	d.buf, d.head = nb, 0
}

// reqWindow is an exact sliding window of admission times (nanoseconds since
// the limiter's epoch), oldest first. A request admitted at t counts while
// now < t+rateWindow.
type reqWindow struct{ q deque[int64] }

// prune drops admissions that have left the window ending at now.
func (w *reqWindow) prune(now int64) {
	cutoff := now - int64(rateWindow)
	for w.q.len() > 0 && w.q.at(0) <= cutoff {
		w.q.popFront()
	}
}

// count is the number of admissions in the window (after prune).
func (w *reqWindow) count() int { return w.q.len() }

// wait is how long until one more request fits under limit: 0 when it fits
// now, else the time until enough admissions leave the window that fewer
// than limit remain. Call after prune.
func (w *reqWindow) wait(limit int, now int64) time.Duration {
	n := w.q.len()
	if n < limit {
		return 0
	}
	// When the entry at n-limit leaves, limit-1 remain. (n can exceed limit
	// when the key's limit was lowered.)
	return time.Duration(w.q.at(n-limit) + int64(rateWindow) - now)
}

// reset is the time until the oldest admission leaves the window, i.e. until
// the remaining count next goes up; 0 for an empty window.
func (w *reqWindow) reset(now int64) time.Duration {
	if w.q.len() == 0 {
		return 0
	}
	return time.Duration(w.q.at(0) + int64(rateWindow) - now)
}

// add records an admission at now and returns the timestamp recorded.
// Timestamps are clamped so the deque stays sorted even if an injected
// clock steps back.
func (w *reqWindow) add(now int64) int64 {
	if w.q.len() > 0 {
		now = max(now, *w.q.back())
	}
	w.q.push(now)
	return now
}

// remove takes back one admission recorded at at (the newest such), when
// it is still in the window.
func (w *reqWindow) remove(at int64) {
	for i := w.q.len() - 1; i >= 0; i-- {
		if v := w.q.at(i); v == at {
			w.q.removeAt(i)
			return
		} else if v < at {
			return
		}
	}
}

type tokenEntry struct {
	t int64 // latest record time in this entry's slot
	n int64 // tokens
}

// tokWindow is a sliding window of token counts: reservations taken when a
// request is admitted (see ReserveTokens), and usage recorded after responses.
type tokWindow struct {
	q   deque[tokenEntry]
	sum int64
}

func (w *tokWindow) prune(now int64) {
	cutoff := now - int64(rateWindow)
	for w.q.len() > 0 && w.q.at(0).t <= cutoff {
		w.sum -= w.q.at(0).n
		w.q.popFront()
	}
}

// add records n tokens at now and returns the timestamp recorded (clamped,
// like reqWindow.add, so the deque stays sorted).
func (w *tokWindow) add(now, n int64) int64 {
	if w.q.len() > 0 {
		b := w.q.back()
		now = max(now, b.t)
		if now/int64(tokenBucket) == b.t/int64(tokenBucket) {
			b.t, b.n = now, b.n+n
			w.sum += n
			return now
		}
	}
	w.q.push(tokenEntry{t: now, n: n})
	w.sum += n
	return now
}

// remove takes back n tokens recorded at at (a reservation), when they are
// still in the window. They were merged into the entry of at's 100 ms slot,
// whose timestamp may since have moved within that slot; an entry left empty
// is dropped.
func (w *tokWindow) remove(at, n int64) {
	slot := at / int64(tokenBucket)
	for i := w.q.len() - 1; i >= 0; i-- {
		e := w.q.ptr(i)
		if s := e.t / int64(tokenBucket); s < slot {
			return
		} else if s > slot {
			continue
		}
		d := min(n, e.n)
		e.n -= d
		w.sum -= d
		if e.n == 0 {
			w.q.removeAt(i)
		}
		return
	}
}

// wait is how long until the sum in the window drops below limit: 0 when it
// already is. Call after prune.
func (w *tokWindow) wait(limit int, now int64) time.Duration {
	return w.waitAtMost(int64(limit)-1, now)
}

// waitAtMost is how long until the sum in the window is at most target: 0
// when it already is. Call after prune.
func (w *tokWindow) waitAtMost(target, now int64) time.Duration {
	s := w.sum
	if s <= target {
		return 0
	}
	for i := 0; i < w.q.len(); i++ {
		e := w.q.at(i)
		s -= e.n
		if s <= target {
			return time.Duration(e.t + int64(rateWindow) - now)
		}
	}
	return 0 // unreachable for target >= 0: s reaches 0
}

// reset is the time until the window can next admit a request when it is
// over limit, else until its oldest entry leaves; 0 when empty.
func (w *tokWindow) reset(limit int, now int64) time.Duration {
	if d := w.wait(limit, now); d > 0 {
		return d
	}
	if w.q.len() == 0 {
		return 0
	}
	return time.Duration(w.q.at(0).t + int64(rateWindow) - now)
}

// counters is the state behind one set of limits: a key, or the whole gateway.
type counters struct {
	mu       sync.Mutex
	reqs     reqWindow
	toks     tokWindow // unused for the global counters
	inflight int
	// dead is set (under mu) when a sweep removed this state from the
	// map; a request that finds it must look the key up again, or its
	// counts would go to an orphan.
	dead bool
}

// idle reports, after pruning, whether the state holds nothing worth keeping.
func (c *counters) idle(now int64) bool {
	c.prune(now)
	return c.inflight == 0 && c.reqs.count() == 0 && c.toks.q.len() == 0
}

// MemoryLimits is the in-memory LimitStore: exact sliding windows of one
// minute in this process (each admission and each token record is
// timestamped), not approximating fixed or weighted windows: at these
// limits exactness matters more than memory. Create it with
// NewMemoryLimits.
//
// All its time comes from one clock: it has no timer or goroutine of its
// own. Idle keys' state is swept from the admission path once the clock says
// sweepInterval has passed.
type MemoryLimits struct {
	now    func() time.Time
	epoch  time.Time
	global counters
	// keys maps a key id to its *counters. A sync.Map fits: the set of keys
	// is small and stable, so lookups are read-only and lock-free; each
	// key's windows are then guarded by that key's own mutex.
	keys sync.Map
	// sweepAt is when (on the elapsed clock) the next sweep is due.
	sweepAt atomic.Int64
}

var _ LimitStore = (*MemoryLimits)(nil)

// NewMemoryLimits returns an empty in-memory store on the clock now (nil:
// time.Now).
func NewMemoryLimits(now func() time.Time) *MemoryLimits {
	if now == nil {
		now = time.Now
	}
	m := &MemoryLimits{now: now, epoch: now()}
	m.sweepAt.Store(int64(sweepInterval))
	return m
}

// memTicket is what a request admitted by MemoryLimits holds until it is
// released. Only the request's handler goroutine touches it.
type memTicket struct {
	m      *MemoryLimits
	key    *counters // nil when no per-key state is tracked
	lim    KeyLimits
	global bool // whether the global in-flight count was taken
	// keyAt and globalAt are the admissions recorded in the key's and the
	// global request windows (-1: none), so a refund can take them back.
	keyAt, globalAt int64
	// resAt and resN are the token reservation (resN 0: none), which
	// Release replaces with the real usage.
	resAt, resN int64
}

// state returns the live counters for keyID, creating them on first use.
func (m *MemoryLimits) state(keyID string) *counters {
	if v, ok := m.keys.Load(keyID); ok {
		return v.(*counters)
	}
	v, _ := m.keys.LoadOrStore(keyID, new(counters))
	return v.(*counters)
}

// Admit decides on one request and, if it passes, takes its reservations.
// Every check happens under the locks of all the counters involved, and
// nothing is reserved until every check has passed. So a burst is counted
// exactly, and a request refused by a later check never holds, even briefly,
// a slot of an earlier one: there is nothing to roll back.
//
// The steps: lock the counters, check the global limits, then the key's,
// commit the reservations if all passed, and read the key's windows for the
// headers; then, outside the locks, sweep idle keys if one is due.
func (m *MemoryLimits) Admit(_ context.Context, req AdmitRequest) (LimitTicket, LimitSnapshot, *LimitRejection, error) {
	lim := req.Key
	g, k := m.lockCounters(req)
	// Read the clock under the locks so timestamps enter each window in order.
	now := m.elapsed()
	rej := checkGlobal(g, req, now)
	if k != nil {
		// Pruned even after a global refusal: the snapshot reports the key.
		k.prune(now)
		if rej == nil {
			rej = k.checkKey(lim, now)
		}
	}
	var t LimitTicket
	if rej == nil {
		t = m.commit(g, k, req, now)
	}
	snap := keySnapshot(k, lim, now)
	unlockCounters(g, k)
	// Only once the locks are released: a sweep takes each key's lock.
	m.sweepIfDue(now)
	return t, snap, rej, nil
}

// lockCounters locks the counters a request is decided by: the global ones
// when a global limit is set, then the key's when a key limit is (always
// in that order, so there is no deadlock). It returns nil for counters not
// involved.
func (m *MemoryLimits) lockCounters(req AdmitRequest) (g, k *counters) {
	if req.GlobalConcurrency > 0 || req.GlobalRPM > 0 {
		g = &m.global
	}
	useKey := req.Key.Any()
	for {
		if useKey {
			k = m.state(req.KeyID)
		}
		if g != nil {
			g.mu.Lock()
		}
		if k == nil {
			return g, nil
		}
		k.mu.Lock()
		if !k.dead {
			return g, k
		}
		// A sweep removed this state after the lookup: counting on it
		// would lose the request, so look the key up again.
		unlockCounters(g, k)
	}
}

// unlockCounters releases what lockCounters locked, in reverse order.
func unlockCounters(g, k *counters) {
	if k != nil {
		k.mu.Unlock()
	}
	if g != nil {
		g.mu.Unlock()
	}
}

// checkGlobal applies the gateway-wide limits, concurrency first; g is nil
// when none is set.
func checkGlobal(g *counters, req AdmitRequest, now int64) *LimitRejection {
	if g == nil {
		return nil
	}
	g.reqs.prune(now)
	gc, grpm := req.GlobalConcurrency, req.GlobalRPM
	switch {
	case gc > 0 && g.inflight >= gc:
		return &LimitRejection{Reason: ReasonGlobalConcurrency, Limit: gc, Wait: concurrencyRetry}
	case grpm > 0 && g.reqs.count() >= grpm:
		return &LimitRejection{Reason: ReasonGlobalRPM, Limit: grpm, Wait: g.reqs.wait(grpm, now)}
	}
	return nil
}

// prune drops what has left the key's windows by now.
func (c *counters) prune(now int64) {
	c.reqs.prune(now)
	c.toks.prune(now)
}

// checkKey applies a key's own limits, in the order concurrency, requests,
// tokens. Call after prune.
func (c *counters) checkKey(lim KeyLimits, now int64) *LimitRejection {
	switch {
	case lim.Concurrency > 0 && c.inflight >= lim.Concurrency:
		return &LimitRejection{Reason: ReasonConcurrency, Limit: lim.Concurrency, Wait: concurrencyRetry}
	case lim.RPM > 0 && c.reqs.count() >= lim.RPM:
		return &LimitRejection{Reason: ReasonRPM, Limit: lim.RPM, Wait: c.reqs.wait(lim.RPM, now)}
	case lim.TPM > 0 && c.toks.sum >= int64(lim.TPM):
		return &LimitRejection{Reason: ReasonTPM, Limit: lim.TPM, Wait: c.toks.wait(lim.TPM, now)}
	}
	return nil
}

// commit takes an admitted request's reservations: an in-flight slot and a
// window entry for each limit that counts them. The key's in-flight count is
// taken even without a concurrency limit, so no sweep drops its state
// while the request runs (release records its tokens there).
func (m *MemoryLimits) commit(g, k *counters, req AdmitRequest, now int64) *memTicket {
	t := &memTicket{m: m, lim: req.Key, keyAt: -1, globalAt: -1}
	if g != nil {
		if req.GlobalConcurrency > 0 {
			g.inflight++
			t.global = true
		}
		if req.GlobalRPM > 0 {
			t.globalAt = g.reqs.add(now)
		}
	}
	if k != nil {
		k.inflight++
		t.key = k
		if req.Key.RPM > 0 {
			t.keyAt = k.reqs.add(now)
		}
	}
	return t
}

// keySnapshot reads the key's windows for the x-ratelimit-* headers, after
// the request's own admission; zero when no key state is tracked.
func keySnapshot(k *counters, lim KeyLimits, now int64) LimitSnapshot {
	var s LimitSnapshot
	if k == nil {
		return s
	}
	if lim.RPM > 0 {
		s.RPM = lim.RPM
		s.ReqRemaining = max(0, lim.RPM-k.reqs.count())
		s.ReqReset = k.reqs.reset(now)
	}
	if lim.TPM > 0 {
		s.TPM = lim.TPM
		s.TokRemaining = int(max(0, int64(lim.TPM)-k.toks.sum))
		s.TokReset = k.toks.reset(lim.TPM, now)
	}
	return s
}

// ReserveTokens takes need tokens in the key's window when the sum stays
// within the limit, else says when it will.
func (t *memTicket) ReserveTokens(_ context.Context, need int64) (LimitSnapshot, *LimitRejection, error) {
	k := t.key
	if k == nil || t.lim.TPM <= 0 {
		return LimitSnapshot{}, nil, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	now := t.m.elapsed()
	k.prune(now)
	limit := int64(t.lim.TPM)
	var rej *LimitRejection
	if k.toks.sum+need > limit {
		rej = &LimitRejection{Reason: ReasonTPM, Limit: t.lim.TPM, Wait: k.toks.waitAtMost(limit-need, now)}
	} else {
		t.resAt, t.resN = k.toks.add(now, need), need
	}
	return keySnapshot(k, t.lim, now), rej, nil
}

// Release gives back an admitted request's slots, first settling its
// tokens: the reservation, if any, leaves the window and the real usage
// enters it (done here, while the key is still in flight, so no sweep can
// have removed its state). With refund, the request's admissions leave the
// request windows too.
func (t *memTicket) Release(tokens int64, refund bool) {
	if k := t.key; k != nil {
		k.mu.Lock()
		if t.resN > 0 {
			k.toks.remove(t.resAt, t.resN)
		}
		if tokens > 0 {
			k.toks.add(t.m.elapsed(), tokens)
		}
		if refund && t.keyAt >= 0 {
			k.reqs.remove(t.keyAt)
		}
		k.inflight--
		k.mu.Unlock()
	}
	if t.global || (refund && t.globalAt >= 0) {
		g := &t.m.global
		g.mu.Lock()
		if t.global {
			g.inflight--
		}
		if refund && t.globalAt >= 0 {
			g.reqs.remove(t.globalAt)
		}
		g.mu.Unlock()
	}
}

// sweepIfDue sweeps when the store's clock (now, from elapsed) says
// sweepInterval has passed since the last sweep. It runs on the admission
// path instead of on a timer so that the injected clock is the store's only
// clock; the one caller that wins the CompareAndSwap does the pass and the
// others go on at once, so the cost is one pass over the keys per interval.
func (m *MemoryLimits) sweepIfDue(now int64) {
	due := m.sweepAt.Load()
	if now < due || !m.sweepAt.CompareAndSwap(due, now+int64(sweepInterval)) {
		return
	}
	m.sweep()
}

// sweep removes the state of keys with nothing in flight and nothing left in
// their windows. Such state carries no information, so removing it changes no
// decision; it only bounds memory to the keys active in the last minute.
func (m *MemoryLimits) sweep() {
	now := m.elapsed()
	m.keys.Range(func(key, v any) bool {
		c := v.(*counters)
		c.mu.Lock()
		if c.idle(now) {
			c.dead = true
			m.keys.CompareAndDelete(key, c)
		}
		c.mu.Unlock()
		return true
	})
}

// elapsed is the store's clock: nanoseconds since its creation. With the
// real clock the subtraction uses the monotonic reading, so wall-clock steps
// do not move the windows.
func (m *MemoryLimits) elapsed() int64 { return int64(m.now().Sub(m.epoch)) }
