package copilotfake

import (
	"testing"
	"time"
)

// Compile-time check that Clock satisfies the clock interface used elsewhere.
var _ interface {
	Now() time.Time
	After(time.Duration) <-chan time.Time
} = (*Clock)(nil)

func fired(ch <-chan time.Time) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestClock(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := NewClock(start)
	if !c.Now().Equal(start) {
		t.Fatalf("Now = %v", c.Now())
	}
	if !fired(c.After(0)) || !fired(c.After(-time.Second)) {
		t.Error("After(<=0) must fire immediately")
	}
	a := c.After(time.Minute)
	b := c.After(2 * time.Minute)
	if c.Waiters() != 2 {
		t.Fatalf("Waiters = %d, want 2", c.Waiters())
	}
	c.Advance(59 * time.Second)
	if fired(a) || fired(b) {
		t.Fatal("fired early")
	}
	c.Advance(time.Second)
	select {
	case at := <-a:
		if !at.Equal(start.Add(time.Minute)) {
			t.Errorf("fired with %v", at)
		}
	default:
		t.Fatal("a did not fire at its deadline")
	}
	if fired(b) || c.Waiters() != 1 {
		t.Fatalf("b fired early or Waiters = %d", c.Waiters())
	}
	c.Set(start.Add(time.Hour))
	if !fired(b) || c.Waiters() != 0 {
		t.Error("Set did not fire the due waiter")
	}
	if !c.Now().Equal(start.Add(time.Hour)) {
		t.Errorf("Now after Set = %v", c.Now())
	}
	c.Set(start) // backwards is allowed
	d := c.After(time.Second)
	c.Advance(time.Second)
	if !fired(d) {
		t.Error("waiter after going back did not fire")
	}
}

func TestClockBlockUntilWaiters(t *testing.T) {
	t.Parallel()
	c := NewClock(time.Unix(0, 0))
	got := make(chan time.Time)
	for range 3 {
		go func() { got <- <-c.After(time.Second) }()
	}
	c.BlockUntilWaiters(3)
	c.Advance(time.Second)
	for range 3 {
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			t.Fatal("waiter goroutine not released")
		}
	}
}
