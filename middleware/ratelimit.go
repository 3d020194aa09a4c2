package middleware

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// Suggested server defaults for LimitConfig (a zero LimitConfig means
// "everything unlimited", so the command line applies these).
//
// The global ones protect the single Copilot account behind the gateway: 300
// requests a minute is a sustained 5 per second, far beyond what one person's
// editor produces, yet room for a team of about ten at typical use; 32
// concurrent requests is four keys streaming at the default per-key cap.
const (
	DefaultKeyRPM            = 60
	DefaultKeyTPM            = 0
	DefaultKeyConcurrency    = 8
	DefaultGlobalRPM         = 300
	DefaultGlobalConcurrency = 32
)

// LimitReason names the limit that refused a request. It is recorded on the
// request's Entry (see Entry.LimitReason) for metrics.
type LimitReason string

// The limits a request can be refused by.
const (
	ReasonRPM               LimitReason = "rpm"
	ReasonTPM               LimitReason = "tpm"
	ReasonConcurrency       LimitReason = "concurrency"
	ReasonGlobalRPM         LimitReason = "global_rpm"
	ReasonGlobalConcurrency LimitReason = "global_concurrency"
	ReasonBudget            LimitReason = "budget"
	ReasonGlobalBudget      LimitReason = "global_budget"
	// ReasonAuthFailures is Auth's per-address limit on failed key attempts.
	ReasonAuthFailures LimitReason = "auth_failures"
	// ReasonAuth is Auth's 401 for a missing or invalid client key (not a
	// limit, but a rejection metrics count alongside the limits).
	ReasonAuth LimitReason = "auth"
)

// maxLimit bounds a token count before it becomes an int window entry.
const maxLimit = 1 << 40

// Rate limit response headers, OpenAI style.
const (
	headerRetryAfter        = "Retry-After"
	headerRetryAfterMs      = "Retry-After-Ms"
	headerLimitRequests     = "X-Ratelimit-Limit-Requests"
	headerRemainingRequests = "X-Ratelimit-Remaining-Requests"
	headerResetRequests     = "X-Ratelimit-Reset-Requests"
	headerLimitTokens       = "X-Ratelimit-Limit-Tokens"
	headerRemainingTokens   = "X-Ratelimit-Remaining-Tokens"
	headerResetTokens       = "X-Ratelimit-Reset-Tokens"
)

const (
	// sweepInterval is how often idle keys' state is dropped (at most once
	// per interval, on the next admission after it).
	sweepInterval = rateWindow
	// concurrencyRetry is the Retry-After for a concurrency refusal: when a
	// slot frees cannot be known, and a second is a polite first backoff.
	concurrencyRetry = time.Second
)

// LimitConfig holds the server-wide limits. For every field 0 means
// unlimited (a negative value is treated as 0).
type LimitConfig struct {
	// Defaults for keys that do not set their own value (see Principal).
	KeyRPM, KeyTPM, KeyConcurrency int
	// Limits across all keys (and unauthenticated requests), protecting the
	// one Copilot account.
	GlobalRPM, GlobalConcurrency int
	// Now is the clock of the in-memory store; nil means time.Now. Tests
	// inject a fake one. Unused with Store.
	Now func() time.Time
	// Store holds the counters; nil means a MemoryLimits on Now (this
	// process only). Package redislimits shares them between instances.
	Store LimitStore
}

// Limiter enforces per-key and global limits on requests per minute, tokens
// per minute and concurrent requests over exact sliding windows of one
// minute. It decides which limits apply and answers; its LimitStore counts.
// Create it with NewLimiter.
type Limiter struct {
	cfg   LimitConfig
	store LimitStore
}

// NewLimiter returns a Limiter for cfg. The in-memory store drops idle
// keys' state about once a minute, as requests arrive, and starts nothing in
// the background.
func NewLimiter(cfg LimitConfig) *Limiter {
	cfg.KeyRPM = max(cfg.KeyRPM, 0)
	cfg.KeyTPM = max(cfg.KeyTPM, 0)
	cfg.KeyConcurrency = max(cfg.KeyConcurrency, 0)
	cfg.GlobalRPM = max(cfg.GlobalRPM, 0)
	cfg.GlobalConcurrency = max(cfg.GlobalConcurrency, 0)
	store := cfg.Store
	if store == nil {
		store = NewMemoryLimits(cfg.Now)
	}
	return &Limiter{cfg: cfg, store: store}
}

// Close releases the Limiter's resources. It has none (a shared store is
// closed by its owner), so Close does nothing; it stays so callers can keep
// treating the Limiter as closable. It is safe to call more than once, and
// the Limiter keeps working after it.
func (l *Limiter) Close() {}

// Middleware enforces the limits. Install it after Auth (and inside
// AccessLog, whose Entry carries the usage it counts): the key and its own
// limits come from PrincipalFrom; without a principal (auth off) only the
// global limits apply.
//
// Admission checks, in order, global concurrency, global requests per minute,
// then the key's concurrency, requests per minute and tokens per minute,
// atomically (a burst of 100 against a limit of 10 lets exactly 10 through).
// A refused request gets a 429 rate_limit_exceeded envelope naming the limit,
// with Retry-After (whole seconds, rounded up, at least 1) and retry-after-ms:
// the time until the window has room again, or 1 s for a concurrency cap
// (when a slot frees is unknowable). Nothing queues: like OpenAI, a request
// over a limit is refused at once with the time to retry, including a key
// over its tokens per minute, which is refused until enough recorded tokens
// have left the window.
//
// A request with a principal carries, success or not, the
// x-ratelimit-{limit,remaining,reset}-requests headers when a request limit
// applies to its key and the -tokens trio when a token limit does; an
// unlimited dimension gets no headers. The reset values are Go duration
// strings rounded up to the millisecond ("20ms", "6.5s", "1m0s"): the time
// until the oldest request (or token record) in the window leaves it, i.e.
// until "remaining" next goes up; for tokens over their limit, the time until
// requests are admitted again.
//
// The concurrency slot is held until next returns (for a stream, after its
// last byte) and released even if next panics. Then the usage the handler
// recorded with Entry.SetUsage is added to the key's tokens window when a
// token limit applies to the request, replacing the estimate the handler
// reserved there with ReserveTokens (which puts the tokens limit on the
// requests in flight too, not only on those finished).
//
// When the store cannot be reached (a shared one, in its closed failure
// mode) the request gets 503 limits_unavailable in the route's error shape.
func (l *Limiter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, r2, answered := l.admit(w, r)
		switch {
		case answered:
		case a == nil:
			next.ServeHTTP(w, r)
		default:
			defer AtEnd(a.ctx, a)
			next.ServeHTTP(a.sw, r2)
		}
	})
}

// admission is a request the limits admitted: its ticket, released with
// the tokens it used when it ends.
type admission struct {
	t     LimitTicket
	lim   KeyLimits
	entry *Entry
	sw    StatusWriter
	ctx   context.Context // the request's, with its reservation
}

// admit checks the request against its limits. It returns the admission
// and the request carrying its reservation; nil and false when no limit
// applies, and true when it answered the request (refused, or the counters
// are unreachable).
//
// It is kept out of the middleware's frame (noinline), which stays on the
// stack for a whole stream (see Auth's admit).
//
//go:noinline
func (l *Limiter) admit(w http.ResponseWriter, r *http.Request) (*admission, *http.Request, bool) {
	ctx := r.Context()
	p, hasP := PrincipalFrom(ctx)
	var lim KeyLimits
	if hasP {
		lim = l.resolveLimits(p)
	}
	useKey := lim.Any()
	if !useKey && l.cfg.GlobalRPM == 0 && l.cfg.GlobalConcurrency == 0 {
		return nil, nil, false
	}
	t, snap, rej, err := l.store.Admit(ctx, AdmitRequest{KeyID: p.KeyID, Key: lim,
		GlobalRPM: l.cfg.GlobalRPM, GlobalConcurrency: l.cfg.GlobalConcurrency})
	if err != nil {
		writeLimitsUnavailable(w, r, err)
		return nil, nil, true
	}
	if useKey {
		setLimitHeaders(w.Header(), snap)
	}
	if rej != nil {
		writeLimited(w, r, rej, p)
		return nil, nil, true
	}
	r = withReservation(r, t, lim, p)
	return &admission{t: t, lim: lim, entry: EntryFrom(ctx), sw: Wrap(w), ctx: r.Context()}, r, false
}

// End gives the admission back with the tokens the request used.
func (a *admission) End() {
	var tokens int64
	if a.lim.TPM > 0 {
		tokens = min(a.entry.Tokens(), maxLimit)
	}
	a.t.Release(tokens, refunded(a.sw.Status(), a.entry))
}

// writeLimited answers a request a limit refused: 429 rate_limit_exceeded
// naming the limit, with the retry headers.
func writeLimited(w http.ResponseWriter, r *http.Request, rej *LimitRejection, p Principal) {
	entry := EntryFrom(r.Context())
	entry.SetErrorCode(string(api.CodeRateLimitExceeded))
	entry.SetLimitReason(rej.Reason)
	wait := rej.Wait
	if rej.Reason == ReasonConcurrency || rej.Reason == ReasonGlobalConcurrency {
		wait = concurrencyRetry
	}
	writeRateLimited(w, r, wait, limitMessage(rej, p))
}

// writeLimitsUnavailable answers 503 limits_unavailable: the store the
// limits are counted in cannot be reached, and an unchecked request could
// break the limits protecting the Copilot account. The store reports the
// outage itself, once; WriteError logs each answer.
func writeLimitsUnavailable(w http.ResponseWriter, r *http.Request, err error) {
	LoggerFrom(r.Context()).Debug().Str("error", api.Redact(err.Error())).Msg("limits: the limit counters cannot be reached")
	WriteError(w, r, api.NewError(api.CodeLimitsUnavailable, "The gateway cannot reach the counters its limits are kept in; try again shortly."))
}

// resolveLimits is the limits that apply to p's key: its own where set, else
// the server defaults.
func (l *Limiter) resolveLimits(p Principal) KeyLimits {
	return KeyLimits{
		RPM:         resolveLimit(p.RPM, l.cfg.KeyRPM),
		TPM:         resolveLimit(p.TPM, l.cfg.KeyTPM),
		Concurrency: resolveLimit(p.Concurrency, l.cfg.KeyConcurrency),
	}
}

// refunded reports a request refused for its own input before it reached
// Copilot (400, 404, 405, 413, 415 with no upstream answer): it does not
// count against the request limits.
func refunded(status int, e *Entry) bool {
	if e.UpstreamStatus() != 0 {
		return false
	}
	switch status {
	case http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed,
		http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		return true
	}
	return false
}

// resolveLimit is the key's own limit when set (0 = unlimited), else the
// server default. A negative own value is treated as unset.
func resolveLimit(own *int, def int) int {
	if own != nil && *own >= 0 {
		return *own
	}
	return def
}

func setLimitHeaders(h http.Header, s LimitSnapshot) {
	if s.RPM > 0 {
		h.Set(headerLimitRequests, strconv.Itoa(s.RPM))
		h.Set(headerRemainingRequests, strconv.Itoa(s.ReqRemaining))
		h.Set(headerResetRequests, formatReset(s.ReqReset))
	}
	if s.TPM > 0 {
		h.Set(headerLimitTokens, strconv.Itoa(s.TPM))
		h.Set(headerRemainingTokens, strconv.Itoa(s.TokRemaining))
		h.Set(headerResetTokens, formatReset(s.TokReset))
	}
}

// formatReset renders d the way OpenAI's x-ratelimit-reset-* headers do: a
// Go duration string, here rounded up to the millisecond ("20ms", "6.5s",
// "1m0s").
func formatReset(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	return ceilDur(d, time.Millisecond).String()
}

// ceilDur rounds d up to a multiple of unit.
func ceilDur(d, unit time.Duration) time.Duration {
	return (d + unit - 1) / unit * unit
}

// retryAfter returns the Retry-After seconds (rounded up, at least 1) and
// retry-after-ms (rounded up, at least 1) for a wait of d.
func retryAfter(d time.Duration) (secs, ms int64) {
	secs = max(1, int64(ceilDur(d, time.Second)/time.Second))
	ms = max(1, int64(ceilDur(d, time.Millisecond)/time.Millisecond))
	return secs, ms
}

// writeRateLimited sends a 429 rate_limit_exceeded envelope with the retry
// headers; msg gets the retry advice appended.
func writeRateLimited(w http.ResponseWriter, r *http.Request, wait time.Duration, msg string) {
	secs, ms := retryAfter(wait)
	h := w.Header()
	h.Set(headerRetryAfter, strconv.FormatInt(secs, 10))
	h.Set(headerRetryAfterMs, strconv.FormatInt(ms, 10))
	WriteError(w, r, api.NewError(api.CodeRateLimitExceeded, msg+" Retry after "+strconv.FormatInt(secs, 10)+"s."))
}

// limitMessage names the limit that refused the request. The key is named by
// its name (or id), never its secret.
func limitMessage(rej *LimitRejection, p Principal) string {
	var what string
	switch rej.Reason {
	case ReasonRPM, ReasonGlobalRPM:
		what = count(rej.Limit, "request") + " per minute."
	case ReasonTPM:
		what = count(rej.Limit, "token") + " per minute."
	default:
		what = count(rej.Limit, "concurrent request") + "."
	}
	if rej.Reason == ReasonGlobalRPM || rej.Reason == ReasonGlobalConcurrency {
		return "The gateway is at its global limit of " + what
	}
	name := p.KeyName
	if name == "" {
		name = p.KeyID
	}
	return "Rate limit reached for key '" + name + "': " + what
}

// count renders "1 request", "10 requests".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
