package copilotfake

import (
	"fmt"
	"sync"
	"time"
)

// Clock is a manually driven clock for tests. Time only moves when Advance or
// Set is called, so code that schedules work with After can be tested without
// sleeping. It structurally satisfies
// interface{ Now() time.Time; After(time.Duration) <-chan time.Time }.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []clockWaiter
}

type clockWaiter struct {
	at time.Time
	ch chan time.Time
}

// NewClock returns a Clock whose current time is start.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start}
}

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After returns a channel (buffered, capacity 1) that receives the clock's
// time once the clock has been advanced to at least Now()+d. A d <= 0 fires
// immediately.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, clockWaiter{at: c.now.Add(d), ch: ch})
	return ch
}

// Advance moves the clock forward by d and fires every waiter that is due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.fireLocked()
}

// Set moves the clock to t (forwards or backwards) and fires every waiter
// that is due.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	c.fireLocked()
}

// Waiters reports how many After channels are pending (not yet fired).
func (c *Clock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// BlockUntilWaiters blocks until at least n After channels are pending. It
// panics after 10 s so that a broken test fails instead of hanging.
func (c *Clock) BlockUntilWaiters(n int) {
	deadline := time.Now().Add(10 * time.Second)
	for c.Waiters() < n {
		if time.Now().After(deadline) {
			panic(fmt.Sprintf("copilotfake.Clock: waited 10s for %d pending After calls, have %d", n, c.Waiters()))
		}
		time.Sleep(time.Millisecond)
	}
}

func (c *Clock) fireLocked() {
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now // cannot block: capacity 1, sent at most once
			continue
		}
		kept = append(kept, w)
	}
	// Drop references to fired channels held in the tail of the backing array.
	for i := len(kept); i < len(c.waiters); i++ {
		c.waiters[i] = clockWaiter{}
	}
	c.waiters = kept
}
