package redislimits

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// openAfter is how many failed calls in a row open the breaker. One slow
// call (a GC pause, a long script) must not refuse every limited request
// for ProbeInterval; a connection failure opens it at once (connFailure).
const openAfter = 3

// breaker keeps calls away from an unreachable Redis. It opens after
// openAfter failed calls in a row, or at once on a connection failure
// (refused, reset, a failed dial); then it refuses every call for interval
// and lets one call through as a probe, until one succeeds.
//
// Each opening starts a new generation. allow hands a call the current
// one, and done ignores the outcome of a call from an older generation: a
// call admitted before the outage, finishing during it or after, neither
// closes the breaker nor counts as a new failure. While open, only a call
// of the current generation (the probe, or a Ping) closes it. So each
// outage is reported once as down and once as back to onChange, which must
// not call the breaker.
type breaker struct {
	interval time.Duration
	onChange func(down bool, err error)

	mu      sync.Mutex
	gen     uint64 // incremented at each opening
	down    bool
	fails   int // failed calls in a row while closed
	probeAt time.Time
	probing bool
}

// allow reports whether a call may go to Redis now and, if so, the
// generation to pass to done.
func (b *breaker) allow() (uint64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.down {
		return b.gen, true
	}
	if b.probing || time.Now().Before(b.probeAt) {
		return 0, false
	}
	b.probing = true
	return b.gen, true
}

// current is the generation of a call made without allow (Ping: readiness
// must ask Redis even while the breaker refuses).
func (b *breaker) current() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.gen
}

// isDown reports whether Redis is considered unreachable.
func (b *breaker) isDown() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.down
}

// done records the outcome of a call of generation gen.
func (b *breaker) done(gen uint64, err error) {
	b.mu.Lock()
	defer b.mu.Unlock() // changes are reported under the lock, so in order
	if gen != b.gen {
		return // admitted before the current opening: says nothing about now
	}
	switch {
	case b.down && err == nil:
		b.down, b.probing, b.fails = false, false, 0
		b.report(false, nil)
	case b.down:
		b.probing = false
		b.probeAt = time.Now().Add(b.interval)
	case err == nil:
		b.fails = 0
	default:
		b.fails++
		if b.fails >= openAfter || connFailure(err) {
			b.gen++
			b.down, b.fails = true, 0
			b.probeAt = time.Now().Add(b.interval)
			b.report(true, err)
		}
	}
}

func (b *breaker) report(down bool, err error) {
	if b.onChange != nil {
		b.onChange(down, err)
	}
}

// connFailure reports whether err means Redis cannot be reached at all,
// rather than that one call was slow or refused by a script.
func connFailure(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
