package copilot

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Clock is the time source of TokenManager, injected so tests can move time
// by hand instead of sleeping.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// SystemClock returns the real clock.
func SystemClock() Clock { return systemClock{} }

// ErrClosed is the cause of the UnavailableError returned by Token after Close.
var ErrClosed = errors.New("token manager closed")

// errNotStarted is the cause when Token is called before Start: nobody would
// ever run the exchange the caller waits for.
var errNotStarted = errors.New("token manager not started")

// UnavailableError means Copilot cannot be called now: TokenManager.Token
// has no valid token, or the Transport refuses the endpoint (a
// *HostNotAllowedError cause). The gateway answers 503 with its message. It
// is the one "unavailable" error of the project.
type UnavailableError struct {
	Cause error // the last exchange error (often an *ExchangeError), ErrClosed, or a *HostNotAllowedError
}

// Error says why, in words a person can act on.
func (e *UnavailableError) Error() string {
	switch c := e.Cause.(type) {
	case nil:
		return "no valid Copilot token"
	case *HostNotAllowedError:
		return "no allowed Copilot endpoint: " + c.Error()
	}
	return "no valid Copilot token: " + e.Cause.Error()
}

// Unwrap returns the cause.
func (e *UnavailableError) Unwrap() error { return e.Cause }

// Defaults of TokenManagerConfig.
const (
	DefaultMinBackoff      = time.Second
	DefaultMaxBackoff      = 2 * time.Minute
	DefaultHardBackoff     = 5 * time.Minute
	DefaultExchangeTimeout = time.Minute

	// refreshLead is how long before refresh_in the seed design refreshes.
	refreshLead = 60 * time.Second
	// maxValidityMargin is the most a token's validity is cut short to absorb
	// clock skew and request latency.
	maxValidityMargin = 30 * time.Second
	// minRefreshDelay keeps a tiny or broken lifetime from making the loop spin.
	minRefreshDelay = time.Second
)

// TokenManagerConfig configures NewTokenManager.
type TokenManagerConfig struct {
	// Exchange obtains a fresh token; usually (*Auth).Exchange. Required.
	Exchange func(ctx context.Context) (*Token, error)
	// Clock is the time source; nil means the system clock.
	Clock Clock
	// Logger receives refresh and failure lines (never a token).
	Logger zerolog.Logger
	// Rand is the jitter source, returning values in [0,1); nil means math/rand/v2.
	Rand func() float64
	// MinBackoff and MaxBackoff bound the retry delay after transient failures:
	// MinBackoff doubling per consecutive failure up to MaxBackoff, ±20 % jitter.
	// Zero means 1 s and 2 min.
	MinBackoff, MaxBackoff time.Duration
	// HardBackoff is the retry delay after a hard failure (401/403/404 from the
	// exchange), jittered up to +20 % and never shorter. Zero means 5 min.
	HardBackoff time.Duration
	// ExchangeTimeout bounds one exchange so a hung GitHub cannot stall the
	// loop. Zero means 1 min.
	ExchangeTimeout time.Duration
	// OnExchange, if set, is called after each exchange attempt (not one
	// cut short by Close) with its duration and its error (nil on success),
	// for metrics. It runs on the refresh loop: it must be quick.
	OnExchange func(d time.Duration, err error)
}

// held is a token with the instant it stops being handed out.
type held struct {
	tok        *Token
	validUntil time.Time
}

// TokenManager keeps one valid Copilot token. A background loop refreshes it
// refresh_in − 60 s after each exchange and retries failures with capped,
// jittered backoff; Token serves the cached token without locking and, when
// there is none, waits for the loop's single in-flight exchange.
type TokenManager struct {
	exchange    func(ctx context.Context) (*Token, error)
	clock       Clock
	log         zerolog.Logger
	rand        func() float64
	minBackoff  time.Duration
	maxBackoff  time.Duration
	hardBackoff time.Duration
	exTimeout   time.Duration
	onExchange  func(time.Duration, error)

	cur      atomic.Pointer[held] // fast path of Token
	kick     chan struct{}        // capacity 1: "a caller needs a token now"
	ctx      context.Context      // cancelled by Close; parent of every exchange
	cancel   context.CancelFunc
	loopDone chan struct{}

	mu          sync.Mutex
	started     bool
	closed      bool
	inFlight    bool
	pending     chan struct{} // closed when the next exchange attempt completes
	lastErr     error
	failures    int
	hardFailing bool // the last failure was hard; the transition has been logged
	lastRefresh time.Time
	nextAttempt time.Time
}

var _ TokenSource = (*TokenManager)(nil)

// NewTokenManager returns a stopped manager; call Start, and Close when done.
// It panics if cfg.Exchange is nil (a wiring bug).
func NewTokenManager(cfg TokenManagerConfig) *TokenManager {
	if cfg.Exchange == nil {
		panic("copilot: TokenManagerConfig.Exchange is nil")
	}
	m := &TokenManager{
		exchange:    cfg.Exchange,
		clock:       cfg.Clock,
		log:         cfg.Logger,
		rand:        cfg.Rand,
		minBackoff:  cfg.MinBackoff,
		maxBackoff:  cfg.MaxBackoff,
		hardBackoff: cfg.HardBackoff,
		exTimeout:   cfg.ExchangeTimeout,
		onExchange:  cfg.OnExchange,
		kick:        make(chan struct{}, 1),
		loopDone:    make(chan struct{}),
	}
	if m.clock == nil {
		m.clock = SystemClock()
	}
	if m.rand == nil {
		m.rand = rand.Float64
	}
	if m.minBackoff <= 0 {
		m.minBackoff = DefaultMinBackoff
	}
	if m.maxBackoff <= 0 {
		m.maxBackoff = DefaultMaxBackoff
	}
	if m.maxBackoff < m.minBackoff {
		m.maxBackoff = m.minBackoff
	}
	if m.hardBackoff <= 0 {
		m.hardBackoff = DefaultHardBackoff
	}
	if m.exTimeout <= 0 {
		m.exTimeout = DefaultExchangeTimeout
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m
}

// Start starts the refresh loop; the first exchange runs at once. Calling it
// again, or after Close, does nothing.
func (m *TokenManager) Start() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started || m.closed {
		return
	}
	m.started = true
	go m.loop()
}

// Close stops the loop, cancelling an exchange in flight, and waits for it.
// Token returns an *UnavailableError wrapping ErrClosed afterwards.
func (m *TokenManager) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	started := m.started
	m.mu.Unlock()

	m.cancel()
	if started {
		<-m.loopDone
	}
	m.cur.Store(nil)
}

// Token returns a valid token: the cached one at once, or else the result of
// the exchange the loop runs for it (one at a time, however many callers
// wait). While the loop backs off after a failure, and no valid token is held,
// it returns *UnavailableError with the last failure at once rather than
// hammering GitHub. It returns ctx.Err() if ctx ends first. The token returned
// is valid (now < ExpiresAt − margin) at the time of the call.
func (m *TokenManager) Token(ctx context.Context) (*Token, error) {
	if h := m.cur.Load(); h != nil && m.clock.Now().Before(h.validUntil) {
		return h.tok, nil
	}
	waited := false
	for {
		m.mu.Lock()
		now := m.clock.Now()
		if m.closed {
			m.mu.Unlock()
			return nil, &UnavailableError{Cause: ErrClosed}
		}
		if h := m.cur.Load(); h != nil && now.Before(h.validUntil) {
			m.mu.Unlock()
			return h.tok, nil
		}
		if !m.started {
			m.mu.Unlock()
			return nil, &UnavailableError{Cause: errNotStarted}
		}
		// After waiting for one attempt that failed, report it: the loop is
		// now backing off, and one caller never drives a retry series.
		if m.inBackoffLocked(now) || (waited && m.lastErr != nil) {
			err := &UnavailableError{Cause: m.lastErr}
			m.mu.Unlock()
			return nil, err
		}
		if m.pending == nil {
			m.pending = make(chan struct{})
		}
		w := m.pending
		m.mu.Unlock()
		select {
		case m.kick <- struct{}{}:
		default: // a request is already queued
		}

		select {
		case <-w:
			waited = true
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-m.ctx.Done():
			return nil, &UnavailableError{Cause: ErrClosed}
		}
	}
}

// Invalidate drops the current token if its value is value (the caller got
// an upstream 401 with it) and asks the loop to refresh now. Several callers
// invalidating the same token cause a single exchange; a value that is no
// longer current is ignored. During a failure backoff the token is dropped
// but the retry keeps its schedule.
func (m *TokenManager) Invalidate(value string) {
	if value == "" {
		return
	}
	m.mu.Lock()
	h := m.cur.Load()
	if h == nil || h.tok.Value != value {
		m.mu.Unlock()
		return
	}
	m.cur.Store(nil)
	m.mu.Unlock()
	m.log.Info().Time("expires_at", h.tok.ExpiresAt).Msg("copilot token rejected upstream (401); exchanging a new one")
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// TokenStatus is a snapshot of the manager's state, for /readyz and metrics.
type TokenStatus struct {
	Valid               bool      // a valid token is held now
	ExpiresAt           time.Time // expiry of the held token (zero if none)
	LastRefresh         time.Time // time of the last successful exchange
	LastError           error     // the last exchange error; nil after a success
	ConsecutiveFailures int       // failed exchanges since the last success
	NextAttempt         time.Time // when the loop plans its next exchange
}

// Status returns a snapshot of the manager's state.
func (m *TokenManager) Status() TokenStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := TokenStatus{
		LastRefresh:         m.lastRefresh,
		LastError:           m.lastErr,
		ConsecutiveFailures: m.failures,
		NextAttempt:         m.nextAttempt,
	}
	if h := m.cur.Load(); h != nil {
		st.ExpiresAt = h.tok.ExpiresAt
		st.Valid = m.clock.Now().Before(h.validUntil)
	}
	return st
}

// inBackoffLocked reports whether the loop waits out a failure backoff.
func (m *TokenManager) inBackoffLocked(now time.Time) bool {
	return m.failures > 0 && !m.inFlight && now.Before(m.nextAttempt)
}

// loop runs exchanges: first at once, then when the schedule says so or when
// a caller needs a token. It is the only goroutine that calls exchange, which
// is what makes "one exchange at a time" hold.
func (m *TokenManager) loop() {
	defer m.finish()
	var timer <-chan time.Time
	for first := true; ; first = false {
		if !first {
			select {
			case <-m.ctx.Done():
				return
			case <-timer:
			case <-m.kick:
				if !m.refreshWanted() {
					continue // keep the current schedule
				}
			}
		}
		delay, ok := m.attempt()
		if !ok {
			return
		}
		timer = m.clock.After(delay)
	}
}

// refreshWanted reports whether a kick should start an exchange now: only
// when no valid token is held and no backoff is running.
func (m *TokenManager) refreshWanted() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock.Now()
	if h := m.cur.Load(); h != nil && now.Before(h.validUntil) {
		return false
	}
	return !m.inBackoffLocked(now)
}

// finish wakes every waiter and marks the loop as gone.
func (m *TokenManager) finish() {
	m.mu.Lock()
	m.inFlight = false
	if m.pending != nil {
		close(m.pending)
		m.pending = nil
	}
	m.mu.Unlock()
	close(m.loopDone)
}

// attempt runs one exchange, records its outcome, wakes the waiters and
// returns the delay until the next one. ok is false when the manager closed.
func (m *TokenManager) attempt() (delay time.Duration, ok bool) {
	m.mu.Lock()
	m.inFlight = true
	m.mu.Unlock()

	ctx, cancel := context.WithTimeout(m.ctx, m.exTimeout)
	began := m.clock.Now()
	tok, err := m.exchange(ctx)
	cancel()
	if m.ctx.Err() != nil {
		return 0, false
	}

	now := m.clock.Now()
	if err == nil {
		switch {
		case tok == nil || tok.Value == "":
			err = errors.New("the token exchange returned no token")
		case !tok.ExpiresAt.After(now):
			err = fmt.Errorf("GitHub returned a Copilot token that expired at %s, before the local time %s: check the system clock",
				tok.ExpiresAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
	}
	if m.onExchange != nil {
		m.onExchange(now.Sub(began), err)
	}
	if err != nil {
		return m.failed(now, err), true
	}
	return m.succeeded(now, tok), true
}

// succeeded stores tok and schedules the next refresh.
func (m *TokenManager) succeeded(now time.Time, tok *Token) time.Duration {
	lifetime := tok.ExpiresAt.Sub(now)
	h := &held{tok: tok, validUntil: tok.ExpiresAt.Add(-validityMargin(lifetime))}
	delay := refreshDelay(tok.RefreshIn, lifetime, h.validUntil.Sub(now))

	m.mu.Lock()
	m.cur.Store(h)
	prevFailures, prevErr := m.failures, m.lastErr
	m.failures, m.lastErr, m.hardFailing = 0, nil, false
	m.lastRefresh = now
	m.nextAttempt = now.Add(delay)
	m.inFlight = false
	if m.pending != nil {
		close(m.pending)
		m.pending = nil
	}
	m.mu.Unlock()

	if prevFailures > 0 {
		m.log.Info().Int("failed_attempts", prevFailures).Str("last_error", prevErr.Error()).
			Msg("copilot token exchange recovered")
	}
	ev := m.log.Info().Time("expires_at", tok.ExpiresAt).Stringer("refresh_in", tok.RefreshIn).
		Time("next_refresh", now.Add(delay))
	if tok.APIURL != "" {
		ev = ev.Str("api_url", tok.APIURL)
	}
	ev.Msg("copilot token refreshed")
	return delay
}

// failed records err, keeps any still-valid token, and returns the backoff.
func (m *TokenManager) failed(now time.Time, err error) time.Duration {
	var ee *ExchangeError
	hard := errors.As(err, &ee) && ee.Hard()

	m.mu.Lock()
	m.failures++
	failures := m.failures
	m.lastErr = err
	delay := m.backoff(failures, hard)
	m.nextAttempt = now.Add(delay)
	transition := hard && !m.hardFailing
	m.hardFailing = hard
	m.inFlight = false
	if m.pending != nil {
		close(m.pending)
		m.pending = nil
	}
	h := m.cur.Load()
	m.mu.Unlock()

	var ev *zerolog.Event
	switch {
	case transition:
		// A person must act; say it once loudly, then keep it quieter.
		ev = m.log.Error()
	default:
		ev = m.log.Warn()
	}
	ev = ev.Err(err).Int("consecutive_failures", failures).Stringer("retry_in", delay).
		Time("next_attempt", now.Add(delay))
	if ee != nil {
		ev = ev.Stringer("kind", ee.Kind).Int("status", ee.Status)
	}
	if h != nil && now.Before(h.validUntil) {
		ev = ev.Time("current_token_expires_at", h.tok.ExpiresAt)
	}
	ev.Msg("copilot token exchange failed")
	return delay
}

// backoff returns the delay before the next attempt after failures
// consecutive failures.
func (m *TokenManager) backoff(failures int, hard bool) time.Duration {
	if hard {
		return m.hardBackoff + time.Duration(0.2*m.rand()*float64(m.hardBackoff))
	}
	d := m.minBackoff
	for i := 1; i < failures && d < m.maxBackoff; i++ {
		d *= 2
	}
	d = time.Duration(float64(min(d, m.maxBackoff)) * (0.8 + 0.4*m.rand()))
	return max(min(d, m.maxBackoff), time.Millisecond)
}

// validityMargin is how long before expiry a token stops being handed out:
// 30 s, or a tenth of a short lifetime so that a 3 s test token still works.
func validityMargin(lifetime time.Duration) time.Duration {
	return max(min(maxValidityMargin, lifetime/10), 0)
}

// refreshDelay is when to refresh after a successful exchange: refresh_in −
// 60 s (refresh_in defaults to the lifetime). For short-lived tokens, where
// that would leave less than half of refresh_in, half of it is used instead, so
// that a refresh_in ≤ 60 s cannot make the loop spin. The delay never passes
// the token's validity (validFor) but is at least 1 s.
func refreshDelay(refreshIn, lifetime, validFor time.Duration) time.Duration {
	ri := refreshIn
	if ri <= 0 || ri > lifetime {
		ri = lifetime
	}
	d := max(ri-refreshLead, ri/2)
	d = min(d, validFor)
	return max(d, minRefreshDelay)
}
