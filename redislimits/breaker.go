package redislimits

import (
	"sync"
	"time"
)

// breaker keeps calls away from an unreachable Redis: after a failure it
// refuses every call for interval, then lets one call through as a probe;
// a success closes it. Each change is reported once to onChange, which
// must not call the breaker.
type breaker struct {
	interval time.Duration
	onChange func(down bool, err error)

	mu      sync.Mutex
	down    bool
	probeAt time.Time
	probing bool
}

// allow reports whether a call may go to Redis now.
func (b *breaker) allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.down {
		return true
	}
	if b.probing || time.Now().Before(b.probeAt) {
		return false
	}
	b.probing = true
	return true
}

// isDown reports whether Redis is considered unreachable.
func (b *breaker) isDown() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.down
}

// done records the outcome of a call allow let through.
func (b *breaker) done(err error) {
	b.mu.Lock()
	was := b.down
	b.probing = false
	b.down = err != nil
	if b.down {
		b.probeAt = time.Now().Add(b.interval)
	}
	// Reported under the lock so changes are reported in order.
	if was != b.down && b.onChange != nil {
		b.onChange(b.down, err)
	}
	b.mu.Unlock()
}
