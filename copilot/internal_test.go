package copilot

import (
	"context"
	"testing"
	"time"
)

func TestBackoffJitterBounds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		failures int
		hard     bool
		rand     float64
		min, max time.Duration // inclusive
	}{
		{1, false, 0, 800 * time.Millisecond, 800 * time.Millisecond},
		{1, false, 0.5, time.Second, time.Second},
		{1, false, 0.999, 1199 * time.Millisecond, 1200 * time.Millisecond},
		{3, false, 0, 3200 * time.Millisecond, 3200 * time.Millisecond},
		{8, false, 0, 96 * time.Second, 96 * time.Second}, // 128s capped to 120s, then -20%
		{8, false, 0.999, 2 * time.Minute, 2 * time.Minute},
		{1000, false, 0.5, 2 * time.Minute, 2 * time.Minute}, // no overflow
		{1, true, 0, 5 * time.Minute, 5 * time.Minute},
		{50, true, 0.999, 5 * time.Minute, 6 * time.Minute},
	}
	for _, tt := range tests {
		m := NewTokenManager(TokenManagerConfig{
			Exchange: func(context.Context) (*Token, error) { return nil, nil },
			Rand:     func() float64 { return tt.rand },
		})
		if got := m.backoff(tt.failures, tt.hard); got < tt.min || got > tt.max {
			t.Errorf("backoff(%d, hard=%v) with rand %v = %v, want [%v, %v]", tt.failures, tt.hard, tt.rand, got, tt.min, tt.max)
		}
	}
}

func TestValidityMargin(t *testing.T) {
	t.Parallel()
	for lifetime, want := range map[time.Duration]time.Duration{
		30 * time.Minute: 30 * time.Second,
		time.Minute:      6 * time.Second,
		3 * time.Second:  300 * time.Millisecond,
		-time.Second:     0,
	} {
		if got := validityMargin(lifetime); got != want {
			t.Errorf("validityMargin(%v) = %v, want %v", lifetime, got, want)
		}
	}
}
