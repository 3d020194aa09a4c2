package copilot_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/copilot"
	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
)

// tokenPrefix starts every scripted token value; logs must never contain it.
const tokenPrefix = "secret-copilot-token-"

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// script is a scripted Exchange: fn decides the outcome of call n (1-based)
// at the fake clock's current time.
type script struct {
	clock *copilottest.Clock
	calls atomic.Int32
	mu    sync.Mutex
	fn    func(ctx context.Context, n int, now time.Time) (*copilot.Token, error)
}

func (s *script) Exchange(ctx context.Context) (*copilot.Token, error) {
	n := int(s.calls.Add(1))
	s.mu.Lock()
	fn := s.fn
	s.mu.Unlock()
	return fn(ctx, n, s.clock.Now())
}

func (s *script) set(fn func(ctx context.Context, n int, now time.Time) (*copilot.Token, error)) {
	s.mu.Lock()
	s.fn = fn
	s.mu.Unlock()
}

func (s *script) count() int { return int(s.calls.Load()) }

// issue returns a scripted success: token n living lifetime with refresh_in.
func issue(lifetime, refreshIn time.Duration) func(context.Context, int, time.Time) (*copilot.Token, error) {
	return func(_ context.Context, n int, now time.Time) (*copilot.Token, error) {
		return &copilot.Token{Value: tokenValue(n), ExpiresAt: now.Add(lifetime), RefreshIn: refreshIn}, nil
	}
}

// fail returns a scripted failure.
func fail(err error) func(context.Context, int, time.Time) (*copilot.Token, error) {
	return func(context.Context, int, time.Time) (*copilot.Token, error) { return nil, err }
}

// gated makes call number gatedCall wait for gate (or its context) before doing next.
func gated(gatedCall int, gate <-chan struct{}, next func(context.Context, int, time.Time) (*copilot.Token, error)) func(context.Context, int, time.Time) (*copilot.Token, error) {
	return func(ctx context.Context, n int, now time.Time) (*copilot.Token, error) {
		if n == gatedCall {
			select {
			case <-gate:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return next(ctx, n, now)
	}
}

func tokenValue(n int) string { return fmt.Sprintf("%s%d", tokenPrefix, n) }

type tmEnv struct {
	clock *copilottest.Clock
	ex    *script
	logs  *logBuffer
	m     *copilot.TokenManager
}

// newTM builds a manager on a fake clock at t0, not started. Rand is 0.5,
// which makes the transient jitter factor exactly 1.
func newTM(t *testing.T, fn func(context.Context, int, time.Time) (*copilot.Token, error), edit func(*copilot.TokenManagerConfig)) *tmEnv {
	t.Helper()
	e := &tmEnv{clock: copilottest.NewClock(t0), logs: &logBuffer{}}
	e.ex = &script{clock: e.clock, fn: fn}
	cfg := copilot.TokenManagerConfig{
		Exchange: e.ex.Exchange,
		Clock:    e.clock,
		Logger:   zerolog.New(e.logs),
		Rand:     func() float64 { return 0.5 },
	}
	if edit != nil {
		edit(&cfg)
	}
	e.m = copilot.NewTokenManager(cfg)
	t.Cleanup(func() {
		e.m.Close()
		if strings.Contains(e.logs.String(), tokenPrefix) {
			t.Errorf("a token value leaked into the logs:\n%s", e.logs.String())
		}
	})
	return e
}

// settle waits until the loop has made calls exchanges and parked on
// waiters timers.
func (e *tmEnv) settle(t *testing.T, calls, waiters int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d exchanges and %d clock waiters", calls, waiters), func() bool {
		return e.ex.count() == calls && e.clock.Waiters() == waiters
	})
}

// nextIn is how far the planned next attempt is from the fake now.
func (e *tmEnv) nextIn() time.Duration {
	return e.m.Status().NextAttempt.Sub(e.clock.Now())
}

func mustToken(t *testing.T, m *copilot.TokenManager) *copilot.Token {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tok, err := m.Token(ctx)
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	return tok
}

// mustUnavailable asserts Token fails at once with *UnavailableError.
func mustUnavailable(t *testing.T, m *copilot.TokenManager) *copilot.UnavailableError {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tok, err := m.Token(ctx)
	var ue *copilot.UnavailableError
	if !errors.As(err, &ue) {
		t.Fatalf("Token = %v, %v; want *UnavailableError", tok, err)
	}
	if tok != nil {
		t.Fatalf("Token returned a token with an error")
	}
	return ue
}

func TestTokenManagerRefreshSchedule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		lifetime  time.Duration
		refreshIn time.Duration
		want      time.Duration
	}{
		{"refresh_in minus 60s", 30 * time.Minute, 25 * time.Minute, 24 * time.Minute},
		{"refresh_in 2m", 30 * time.Minute, 2 * time.Minute, time.Minute},
		{"refresh_in missing uses lifetime", 30 * time.Minute, 0, 29 * time.Minute},
		{"refresh_in negative counts as missing", 30 * time.Minute, -5 * time.Second, 29 * time.Minute},
		{"refresh_in 100s: half, not 40s", 30 * time.Minute, 100 * time.Second, 50 * time.Second},
		{"refresh_in 60s: no spin", 30 * time.Minute, 60 * time.Second, 30 * time.Second},
		{"refresh_in 30s: no spin", 30 * time.Minute, 30 * time.Second, 15 * time.Second},
		{"missing and short lifetime: no spin", 30 * time.Second, 0, 15 * time.Second},
		{"3s token", 3 * time.Second, 0, 1500 * time.Millisecond},
		{"tiny token: 1s floor", 500 * time.Millisecond, 0, time.Second},
		{"refresh_in beyond expiry: bounded by lifetime", 10 * time.Minute, 25 * time.Minute, 9 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTM(t, issue(tt.lifetime, tt.refreshIn), nil)
			e.m.Start()
			e.settle(t, 1, 1)
			if got := e.nextIn(); got != tt.want {
				t.Fatalf("next refresh in %v, want %v", got, tt.want)
			}
			// No spin: without the clock moving, no second exchange happens.
			time.Sleep(20 * time.Millisecond)
			if n := e.ex.count(); n != 1 {
				t.Fatalf("%d exchanges without time passing, want 1", n)
			}
			// Not a moment early (the fake clock fires due waiters synchronously).
			e.clock.Advance(tt.want - time.Millisecond)
			if w := e.clock.Waiters(); w != 1 {
				t.Fatalf("refresh timer fired %v early", time.Millisecond)
			}
			e.clock.Advance(time.Millisecond)
			e.settle(t, 2, 1)
			if got := mustToken(t, e.m).Value; got != tokenValue(2) {
				t.Fatalf("after refresh Token = %q, want %q", got, tokenValue(2))
			}
		})
	}
}

func TestTokenManagerNoSpinOverTime(t *testing.T) {
	t.Parallel()
	// refresh_in 10s on a 20s token, for 10 minutes of fake time in 1s steps:
	// one exchange per 5s (half of refresh_in), never more.
	e := newTM(t, issue(20*time.Second, 10*time.Second), nil)
	e.m.Start()
	e.settle(t, 1, 1)
	for i := 1; i <= 600; i++ {
		e.clock.Advance(time.Second)
		want := 1 + i/5
		e.settle(t, want, 1)
	}
	if n := e.ex.count(); n != 121 {
		t.Fatalf("%d exchanges in 10 minutes, want 121", n)
	}
}

func TestTokenManagerBackoffKeepsOldToken(t *testing.T) {
	t.Parallel()
	e := newTM(t, issue(10*time.Minute, 5*time.Minute), func(c *copilot.TokenManagerConfig) {
		c.MinBackoff, c.MaxBackoff = time.Second, 8*time.Second
	})
	e.m.Start()
	e.settle(t, 1, 1)
	first := mustToken(t, e.m)
	validUntil := first.ExpiresAt.Add(-30 * time.Second)

	upstreamErr := &copilot.ExchangeError{Kind: copilot.KindTransient, Status: 502}
	e.ex.set(fail(upstreamErr))
	e.clock.Advance(e.nextIn()) // the scheduled refresh fails
	calls := 2
	e.settle(t, calls, 1)

	// Doubling from MinBackoff, capped at MaxBackoff; the old token serves meanwhile.
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second} {
		if got := e.nextIn(); got != want {
			t.Fatalf("failure %d: retry in %v, want %v", i+1, got, want)
		}
		if st := e.m.Status(); st.ConsecutiveFailures != i+1 || !errors.Is(st.LastError, upstreamErr) || !st.Valid {
			t.Fatalf("failure %d: status %+v", i+1, st)
		}
		if got := mustToken(t, e.m); got != first {
			t.Fatalf("failure %d: Token = %v, want the old token", i+1, got)
		}
		e.clock.Advance(want)
		calls++
		e.settle(t, calls, 1)
	}

	// Run the clock to the last instant the old token is valid.
	e.clock.Set(validUntil.Add(-time.Millisecond))
	eventually(t, "retries up to the validity end", func() bool {
		return e.clock.Waiters() == 1 && e.m.Status().NextAttempt.After(e.clock.Now())
	})
	if got := mustToken(t, e.m); got != first {
		t.Fatalf("just before validity end Token = %v, want the old token", got)
	}
	calls = e.ex.count()

	// Now it is no longer valid: never returned, and in backoff Token fails
	// at once without another exchange.
	e.clock.Advance(time.Millisecond)
	if e.clock.Waiters() != 1 {
		t.Fatal("test setup: a retry fired together with the expiry")
	}
	ue := mustUnavailable(t, e.m)
	if !errors.Is(ue, upstreamErr) {
		t.Fatalf("UnavailableError cause = %v, want the last exchange error", ue.Cause)
	}
	if !strings.Contains(ue.Error(), "no valid Copilot token: GitHub returned 502") {
		t.Fatalf("error text %q", ue.Error())
	}
	time.Sleep(10 * time.Millisecond)
	if n := e.ex.count(); n != calls {
		t.Fatalf("Token in backoff caused %d exchanges", n-calls)
	}
	if e.m.Status().Valid {
		t.Fatal("Status.Valid after the validity end")
	}

	// Recovery.
	e.ex.set(issue(10*time.Minute, 5*time.Minute))
	e.clock.Advance(e.nextIn())
	e.settle(t, calls+1, 1)
	if got := mustToken(t, e.m).Value; got != tokenValue(calls+1) {
		t.Fatalf("after recovery Token = %q", got)
	}
	if st := e.m.Status(); st.ConsecutiveFailures != 0 || st.LastError != nil || !st.LastRefresh.Equal(e.clock.Now()) {
		t.Fatalf("status after recovery %+v", st)
	}
	if len(e.logs.lines(`"level":"info"`, "recovered")) != 1 {
		t.Fatalf("recovery not logged:\n%s", e.logs)
	}
	if len(e.logs.lines(`"level":"warn"`, "exchange failed")) == 0 {
		t.Fatalf("transient failures not logged at warn:\n%s", e.logs)
	}
}

func TestTokenManagerNeverReturnsExpiredToken(t *testing.T) {
	t.Parallel()
	// 10s token: refresh at 5s, valid until 9s (margin = lifetime/10).
	gate := make(chan struct{})
	e := newTM(t, gated(2, gate, issue(10*time.Second, 0)), nil)
	e.m.Start()
	e.settle(t, 1, 1)
	first := mustToken(t, e.m)

	e.clock.Advance(5 * time.Second) // the refresh starts and hangs
	e.settle(t, 2, 0)
	if got := mustToken(t, e.m); got != first {
		t.Fatal("old token not served while the refresh is in flight")
	}
	e.clock.Advance(4*time.Second - time.Millisecond)
	if got := mustToken(t, e.m); got != first {
		t.Fatal("old token not served just before its validity end")
	}
	e.clock.Advance(time.Millisecond)

	// Expired: a caller waits for the in-flight exchange and gives up with
	// its context, without getting the expired token.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	tok, err := e.m.Token(ctx)
	cancel()
	if tok != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Token = %v, %v; want no token and the context's error", tok, err)
	}

	// A patient caller gets the new token once the exchange completes.
	got := make(chan *copilot.Token, 1)
	go func() {
		tok, err := e.m.Token(context.Background())
		if err != nil {
			t.Errorf("Token: %v", err)
		}
		got <- tok
	}()
	time.Sleep(5 * time.Millisecond) // let it start waiting
	close(gate)
	select {
	case tok := <-got:
		if tok == nil || tok.Value != tokenValue(2) {
			t.Fatalf("waiting caller got %v, want token 2", tok)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiting caller never got the refreshed token")
	}
	if n := e.ex.count(); n != 2 {
		t.Fatalf("%d exchanges, want 2", n)
	}
}

func TestTokenManagerColdStartConcurrentCallers(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	e := newTM(t, gated(1, gate, issue(30*time.Minute, 25*time.Minute)), nil)
	e.m.Start()

	const callers = 50
	var ready, done sync.WaitGroup
	ready.Add(callers)
	done.Add(callers)
	results := make([]string, callers)
	for i := range callers {
		go func() {
			defer done.Done()
			ready.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			tok, err := e.m.Token(ctx)
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
				return
			}
			results[i] = tok.Value
		}()
	}
	ready.Wait()
	eventually(t, "the first exchange to start", func() bool { return e.ex.count() == 1 })
	time.Sleep(10 * time.Millisecond) // let the callers queue up
	close(gate)
	done.Wait()

	if n := e.ex.count(); n != 1 {
		t.Fatalf("%d callers on a cold start caused %d exchanges, want 1", callers, n)
	}
	for i, v := range results {
		if v != tokenValue(1) {
			t.Fatalf("caller %d got %q", i, v)
		}
	}
}

func TestTokenManagerInvalidate(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	e := newTM(t, gated(2, gate, issue(30*time.Minute, 25*time.Minute)), nil)
	e.m.Start()
	e.settle(t, 1, 1)
	old := mustToken(t, e.m)

	// Many requests get a 401 with the same token at once.
	const callers = 20
	var invalidated, done sync.WaitGroup
	invalidated.Add(callers)
	done.Add(callers)
	results := make([]string, callers)
	for i := range callers {
		go func() {
			defer done.Done()
			e.m.Invalidate(old.Value)
			invalidated.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			tok, err := e.m.Token(ctx)
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
				return
			}
			results[i] = tok.Value
		}()
	}
	invalidated.Wait()
	eventually(t, "the re-exchange to start", func() bool { return e.ex.count() == 2 })
	if e.m.Status().Valid {
		t.Fatal("Status.Valid after Invalidate")
	}
	time.Sleep(5 * time.Millisecond)
	close(gate)
	done.Wait()
	if n := e.ex.count(); n != 2 {
		t.Fatalf("%d Invalidate calls caused %d re-exchanges, want 1", callers, n-1)
	}
	for i, v := range results {
		if v != tokenValue(2) {
			t.Fatalf("caller %d got %q, want the new token", i, v)
		}
	}

	// A stale or empty value is ignored: the current token stays.
	e.m.Invalidate(old.Value)
	e.m.Invalidate("")
	time.Sleep(10 * time.Millisecond)
	if n := e.ex.count(); n != 2 {
		t.Fatalf("stale Invalidate caused an exchange (%d)", n)
	}
	if got := mustToken(t, e.m).Value; got != tokenValue(2) {
		t.Fatalf("Token = %q after a stale Invalidate", got)
	}
	if len(e.logs.lines("rejected upstream")) != 1 {
		t.Fatalf("want one invalidation log line:\n%s", e.logs)
	}
}

func TestTokenManagerHardFailure(t *testing.T) {
	t.Parallel()
	badToken := &copilot.ExchangeError{Kind: copilot.KindBadToken, Status: 401, Message: "Bad credentials"}
	e := newTM(t, fail(badToken), func(c *copilot.TokenManagerConfig) {
		c.Rand = func() float64 { return 0 } // hard backoff exactly HardBackoff
		c.MinBackoff = time.Second
	})
	e.m.Start()
	e.settle(t, 1, 1)
	if got := e.nextIn(); got != copilot.DefaultHardBackoff {
		t.Fatalf("retry after a 401 in %v, want %v", got, copilot.DefaultHardBackoff)
	}

	// Callers fail at once with the clear reason and do not cause exchanges.
	for range 10 {
		ue := mustUnavailable(t, e.m)
		var ee *copilot.ExchangeError
		if !errors.As(ue, &ee) || ee.Kind != copilot.KindBadToken {
			t.Fatalf("cause = %v, want the bad-token ExchangeError", ue.Cause)
		}
		if !strings.Contains(ue.Error(), "GitHub rejected the GitHub token (401") {
			t.Fatalf("error text %q", ue.Error())
		}
	}
	e.clock.Advance(copilot.DefaultHardBackoff - time.Millisecond)
	time.Sleep(10 * time.Millisecond)
	if n, w := e.ex.count(), e.clock.Waiters(); n != 1 || w != 1 {
		t.Fatalf("before HardBackoff: %d exchanges, %d waiters", n, w)
	}
	e.clock.Advance(time.Millisecond)
	e.settle(t, 2, 1)
	if st := e.m.Status(); st.ConsecutiveFailures != 2 || st.Valid {
		t.Fatalf("status %+v", st)
	}

	// 403 is hard too; still in the same hard state.
	e.ex.set(fail(&copilot.ExchangeError{Kind: copilot.KindNoAccess, Status: 403, Message: "flagged"}))
	e.clock.Advance(e.nextIn())
	e.settle(t, 3, 1)
	if got := e.nextIn(); got != copilot.DefaultHardBackoff {
		t.Fatalf("retry after a 403 in %v", got)
	}
	if n := len(e.logs.lines(`"level":"error"`)); n != 1 {
		t.Fatalf("%d error-level lines for one hard-failure episode, want 1:\n%s", n, e.logs)
	}
	if len(e.logs.lines(`"level":"error"`, "Bad credentials", "401")) != 1 {
		t.Fatalf("the error line lacks GitHub's message:\n%s", e.logs)
	}

	// Recovery, then a new episode is logged at error again.
	e.ex.set(issue(30*time.Minute, 25*time.Minute))
	e.clock.Advance(e.nextIn())
	e.settle(t, 4, 1)
	mustToken(t, e.m)
	e.ex.set(fail(badToken))
	e.clock.Advance(e.nextIn())
	e.settle(t, 5, 1)
	if n := len(e.logs.lines(`"level":"error"`)); n != 2 {
		t.Fatalf("%d error-level lines after a second episode, want 2:\n%s", n, e.logs)
	}
	// The still-valid token is kept through a hard failure.
	if got := mustToken(t, e.m).Value; got != tokenValue(4) {
		t.Fatalf("Token = %q during a hard failure with a valid token", got)
	}
}

func TestTokenManagerHardBackoffJitter(t *testing.T) {
	t.Parallel()
	e := newTM(t, fail(&copilot.ExchangeError{Kind: copilot.KindNoAccess, Status: 404}), func(c *copilot.TokenManagerConfig) {
		c.Rand = func() float64 { return 0.999 }
		c.HardBackoff = time.Minute
	})
	e.m.Start()
	e.settle(t, 1, 1)
	if got := e.nextIn(); got < time.Minute || got >= 72*time.Second {
		t.Fatalf("hard retry in %v, want within [1m, 1m12s)", got)
	}
}

func TestTokenManagerFailureWhileWaiting(t *testing.T) {
	t.Parallel()
	// A caller waiting on a cold start gets the failure, not a hang.
	gate := make(chan struct{})
	e := newTM(t, gated(1, gate, fail(&copilot.ExchangeError{Kind: copilot.KindTransient, Err: errors.New("connection refused")})), nil)
	e.m.Start()
	errc := make(chan error, 1)
	go func() {
		_, err := e.m.Token(context.Background())
		errc <- err
	}()
	eventually(t, "the first exchange", func() bool { return e.ex.count() == 1 })
	time.Sleep(5 * time.Millisecond)
	close(gate)
	select {
	case err := <-errc:
		var ue *copilot.UnavailableError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "GitHub unreachable: connection refused") {
			t.Fatalf("Token error = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiting caller hung after a failed exchange")
	}
	if n := e.ex.count(); n != 1 {
		t.Fatalf("%d exchanges, want 1", n)
	}
}

func TestTokenManagerExpiredOnArrival(t *testing.T) {
	t.Parallel()
	// A token already expired by the local clock (skew) is a failure with a
	// clear message and a backoff, not a spin.
	e := newTM(t, issue(-time.Second, 0), nil)
	e.m.Start()
	e.settle(t, 1, 1)
	time.Sleep(10 * time.Millisecond)
	if n := e.ex.count(); n != 1 {
		t.Fatalf("%d exchanges, want 1", n)
	}
	ue := mustUnavailable(t, e.m)
	if !strings.Contains(ue.Error(), "system clock") {
		t.Fatalf("error %q does not mention the clock", ue.Error())
	}
	if got := e.nextIn(); got != copilot.DefaultMinBackoff {
		t.Fatalf("retry in %v, want %v", got, copilot.DefaultMinBackoff)
	}
}

func TestTokenManagerStatus(t *testing.T) {
	t.Parallel()
	e := newTM(t, issue(30*time.Minute, 25*time.Minute), nil)
	if st := e.m.Status(); st.Valid || !st.LastRefresh.IsZero() {
		t.Fatalf("status before Start %+v", st)
	}
	e.m.Start()
	e.m.Start() // idempotent
	e.settle(t, 1, 1)
	st := e.m.Status()
	want := copilot.TokenStatus{
		Valid:       true,
		ExpiresAt:   t0.Add(30 * time.Minute),
		LastRefresh: t0,
		NextAttempt: t0.Add(24 * time.Minute),
	}
	if st != want {
		t.Fatalf("Status = %+v, want %+v", st, want)
	}
	if lines := e.logs.lines(`"level":"info"`, "copilot token refreshed", `"expires_at"`, `"refresh_in":"25m0s"`); len(lines) != 1 {
		t.Fatalf("refresh not logged with expiry:\n%s", e.logs)
	}
}

func TestTokenManagerClose(t *testing.T) {
	t.Parallel()

	t.Run("cancels the exchange in flight and wakes waiters", func(t *testing.T) {
		t.Parallel()
		sawCancel := make(chan error, 1)
		e := newTM(t, func(ctx context.Context, _ int, _ time.Time) (*copilot.Token, error) {
			<-ctx.Done()
			sawCancel <- ctx.Err()
			return nil, ctx.Err()
		}, nil)
		e.m.Start()
		eventually(t, "the exchange to start", func() bool { return e.ex.count() == 1 })
		errc := make(chan error, 1)
		go func() {
			_, err := e.m.Token(context.Background())
			errc <- err
		}()
		time.Sleep(5 * time.Millisecond)
		e.m.Close()
		select {
		case err := <-sawCancel:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("exchange context error %v", err)
			}
		default:
			t.Fatal("Close returned before the exchange saw its context cancelled")
		}
		select {
		case err := <-errc:
			if !errors.Is(err, copilot.ErrClosed) {
				t.Fatalf("waiting Token error = %v, want ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("waiting caller not released by Close")
		}
		e.m.Close() // idempotent
	})

	t.Run("no token after Close", func(t *testing.T) {
		t.Parallel()
		e := newTM(t, issue(30*time.Minute, 25*time.Minute), nil)
		e.m.Start()
		e.settle(t, 1, 1)
		mustToken(t, e.m)
		e.m.Close()
		if ue := mustUnavailable(t, e.m); !errors.Is(ue, copilot.ErrClosed) {
			t.Fatalf("Token after Close: %v", ue)
		}
		e.m.Start() // no effect after Close
		mustUnavailable(t, e.m)
	})

	t.Run("before Start", func(t *testing.T) {
		t.Parallel()
		e := newTM(t, issue(30*time.Minute, 25*time.Minute), nil)
		if ue := mustUnavailable(t, e.m); !strings.Contains(ue.Error(), "not started") {
			t.Fatalf("Token before Start: %v", ue)
		}
		e.m.Close()
		if n := e.ex.count(); n != 0 {
			t.Fatalf("%d exchanges without Start", n)
		}
	})
}

func TestTokenManagerTokenContext(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	defer close(gate)
	e := newTM(t, gated(1, gate, issue(30*time.Minute, 25*time.Minute)), nil)
	e.m.Start()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := e.m.Token(ctx)
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Token = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Token ignored its context")
	}
}

func TestNewTokenManagerNeedsExchange(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Fatal("no panic without Exchange")
		}
	}()
	copilot.NewTokenManager(copilot.TokenManagerConfig{})
}

func TestSystemClock(t *testing.T) {
	t.Parallel()
	c := copilot.SystemClock()
	if d := time.Since(c.Now()); d < 0 || d > time.Minute {
		t.Fatalf("SystemClock().Now off by %v", d)
	}
	select {
	case <-c.After(time.Millisecond):
	case <-time.After(5 * time.Second):
		t.Fatal("SystemClock().After never fired")
	}
}
