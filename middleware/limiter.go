package middleware

import (
	"sync"
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

// keyLimits are one request's resolved per-key limits; 0 = unlimited.
type keyLimits struct {
	rpm, tpm, conc int
}

func (k keyLimits) any() bool { return k.rpm > 0 || k.tpm > 0 || k.conc > 0 }

// rejection says which limit refused a request and when to retry.
type rejection struct {
	reason LimitReason
	limit  int
	wait   time.Duration
}

// snapshot is a key's request and token window as reported in the
// x-ratelimit-* headers.
type snapshot struct {
	rpm, reqRemaining int
	reqReset          time.Duration
	tpm, tokRemaining int
	tokReset          time.Duration
}

// ticket is what an admitted request holds until it is released.
type ticket struct {
	key    *counters // nil when no per-key state is tracked
	global bool      // whether the global in-flight count was taken
	// keyAt and globalAt are the admissions recorded in the key's and the
	// global request windows (-1: none), so a refund can take them back.
	keyAt, globalAt int64
	// res is the request's token reservation (nil without a token limit);
	// release replaces what it reserved with the real usage.
	res *reservation
}

// state returns the live counters for keyID, creating them on first use.
func (l *Limiter) state(keyID string) *counters {
	if v, ok := l.keys.Load(keyID); ok {
		return v.(*counters)
	}
	v, _ := l.keys.LoadOrStore(keyID, new(counters))
	return v.(*counters)
}

// admit decides on one request and, if it passes, takes its reservations.
// Every check happens under the locks of all the counters involved, and
// nothing is reserved until every check has passed. So a burst is counted
// exactly, and a request refused by a later check never holds, even briefly,
// a slot of an earlier one: there is nothing to roll back.
//
// The steps: lock the counters, check the global limits, then the key's,
// commit the reservations if all passed, and read the key's windows for the
// headers; then, outside the locks, sweep idle keys if one is due.
//
// keyID is used only when useKey is set (a principal with at least one
// limited dimension).
func (l *Limiter) admit(keyID string, useKey bool, lim keyLimits) (ticket, snapshot, *rejection) {
	g, k := l.lockCounters(keyID, useKey)
	// Read the clock under the locks so timestamps enter each window in order.
	now := l.elapsed()
	rej := l.checkGlobal(g, now)
	if k != nil {
		// Pruned even after a global refusal: the snapshot reports the key.
		k.prune(now)
		if rej == nil {
			rej = k.checkKey(lim, now)
		}
	}
	var t ticket
	if rej == nil {
		t = l.commit(g, k, lim, now)
	}
	snap := keySnapshot(k, lim, now)
	unlockCounters(g, k)
	// Only once the locks are released: a sweep takes each key's lock.
	l.sweepIfDue(now)
	return t, snap, rej
}

// lockCounters locks the counters a request is decided by: the global ones
// when a global limit is set, then keyID's when useKey (always in that
// order, so there is no deadlock). It returns nil for counters not involved.
func (l *Limiter) lockCounters(keyID string, useKey bool) (g, k *counters) {
	if l.cfg.GlobalConcurrency > 0 || l.cfg.GlobalRPM > 0 {
		g = &l.global
	}
	for {
		if useKey {
			k = l.state(keyID)
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
func (l *Limiter) checkGlobal(g *counters, now int64) *rejection {
	if g == nil {
		return nil
	}
	g.reqs.prune(now)
	gc, grpm := l.cfg.GlobalConcurrency, l.cfg.GlobalRPM
	switch {
	case gc > 0 && g.inflight >= gc:
		return &rejection{reason: ReasonGlobalConcurrency, limit: gc, wait: concurrencyRetry}
	case grpm > 0 && g.reqs.count() >= grpm:
		return &rejection{reason: ReasonGlobalRPM, limit: grpm, wait: g.reqs.wait(grpm, now)}
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
func (c *counters) checkKey(lim keyLimits, now int64) *rejection {
	switch {
	case lim.conc > 0 && c.inflight >= lim.conc:
		return &rejection{reason: ReasonConcurrency, limit: lim.conc, wait: concurrencyRetry}
	case lim.rpm > 0 && c.reqs.count() >= lim.rpm:
		return &rejection{reason: ReasonRPM, limit: lim.rpm, wait: c.reqs.wait(lim.rpm, now)}
	case lim.tpm > 0 && c.toks.sum >= int64(lim.tpm):
		return &rejection{reason: ReasonTPM, limit: lim.tpm, wait: c.toks.wait(lim.tpm, now)}
	}
	return nil
}

// commit takes an admitted request's reservations: an in-flight slot and a
// window entry for each limit that counts them. The key's in-flight count is
// taken even without a concurrency limit, so no sweep drops its state
// while the request runs (release records its tokens there).
func (l *Limiter) commit(g, k *counters, lim keyLimits, now int64) ticket {
	t := ticket{keyAt: -1, globalAt: -1}
	if g != nil {
		if l.cfg.GlobalConcurrency > 0 {
			g.inflight++
			t.global = true
		}
		if l.cfg.GlobalRPM > 0 {
			t.globalAt = g.reqs.add(now)
		}
	}
	if k != nil {
		k.inflight++
		t.key = k
		if lim.rpm > 0 {
			t.keyAt = k.reqs.add(now)
		}
	}
	return t
}

// keySnapshot reads the key's windows for the x-ratelimit-* headers, after
// the request's own admission; zero when no key state is tracked.
func keySnapshot(k *counters, lim keyLimits, now int64) snapshot {
	var s snapshot
	if k == nil {
		return s
	}
	if lim.rpm > 0 {
		s.rpm = lim.rpm
		s.reqRemaining = max(0, lim.rpm-k.reqs.count())
		s.reqReset = k.reqs.reset(now)
	}
	if lim.tpm > 0 {
		s.tpm = lim.tpm
		s.tokRemaining = int(max(0, int64(lim.tpm)-k.toks.sum))
		s.tokReset = k.toks.reset(lim.tpm, now)
	}
	return s
}

// release gives back an admitted request's slots, first settling its tokens:
// the reservation taken by ReserveTokens, if any, leaves the window and the
// real usage (tokens; 0 for a request that never reached Copilot) enters it
// (done here, while the key is still in flight, so no sweep can have
// removed its state). With refund, the request's admissions leave the
// request windows too: it was refused before it reached Copilot.
func (l *Limiter) release(t ticket, tokens int, refund bool) {
	if k := t.key; k != nil {
		k.mu.Lock()
		if r := t.res; r != nil && r.n > 0 {
			k.toks.remove(r.at, r.n)
		}
		if tokens > 0 {
			k.toks.add(l.elapsed(), int64(tokens))
		}
		if refund && t.keyAt >= 0 {
			k.reqs.remove(t.keyAt)
		}
		k.inflight--
		k.mu.Unlock()
	}
	if t.global || (refund && t.globalAt >= 0) {
		l.global.mu.Lock()
		if t.global {
			l.global.inflight--
		}
		if refund && t.globalAt >= 0 {
			l.global.reqs.remove(t.globalAt)
		}
		l.global.mu.Unlock()
	}
}

// sweepIfDue sweeps when the limiter's clock (now, from elapsed) says
// sweepInterval has passed since the last sweep. It runs on the admission
// path instead of on a timer so that the injected clock is the limiter's only
// clock; the one caller that wins the CompareAndSwap does the pass and the
// others go on at once, so the cost is one pass over the keys per interval.
func (l *Limiter) sweepIfDue(now int64) {
	due := l.sweepAt.Load()
	if now < due || !l.sweepAt.CompareAndSwap(due, now+int64(sweepInterval)) {
		return
	}
	l.sweep()
}

// sweep removes the state of keys with nothing in flight and nothing left in
// their windows. Such state carries no information, so removing it changes no
// decision; it only bounds memory to the keys active in the last minute.
func (l *Limiter) sweep() {
	now := l.elapsed()
	l.keys.Range(func(key, v any) bool {
		c := v.(*counters)
		c.mu.Lock()
		if c.idle(now) {
			c.dead = true
			l.keys.CompareAndDelete(key, c)
		}
		c.mu.Unlock()
		return true
	})
}

// elapsed is the limiter's clock: nanoseconds since its creation. With the
// real clock the subtraction uses the monotonic reading, so wall-clock steps
// do not move the windows.
func (l *Limiter) elapsed() int64 { return int64(l.now().Sub(l.epoch)) }
