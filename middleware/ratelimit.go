package middleware

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
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
	// Now is the clock; nil means time.Now. Tests inject a fake one.
	Now func() time.Time
}

// Limiter enforces per-key and global limits on requests per minute, tokens
// per minute and concurrent requests. Windows are exact sliding windows of
// one minute (each admission and each token record is timestamped), not the
// approximating fixed or weighted windows: at these limits exactness matters
// more than memory. Create it with NewLimiter.
//
// All its time comes from one clock, LimitConfig.Now: it has no timer or
// goroutine of its own. Idle keys' state is swept from the admission path
// once the clock says sweepInterval has passed.
type Limiter struct {
	cfg    LimitConfig
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

// NewLimiter returns a Limiter for cfg. It drops idle keys' state about once
// a minute, as requests arrive, and starts nothing in the background.
func NewLimiter(cfg LimitConfig) *Limiter {
	cfg.KeyRPM = max(cfg.KeyRPM, 0)
	cfg.KeyTPM = max(cfg.KeyTPM, 0)
	cfg.KeyConcurrency = max(cfg.KeyConcurrency, 0)
	cfg.GlobalRPM = max(cfg.GlobalRPM, 0)
	cfg.GlobalConcurrency = max(cfg.GlobalConcurrency, 0)
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	l := &Limiter{cfg: cfg, now: now, epoch: now()}
	l.sweepAt.Store(int64(sweepInterval))
	return l
}

// Close releases the Limiter's resources. It has none left to release (it
// no longer runs a background sweeper), so Close does nothing; it stays so
// callers can keep treating the Limiter as closable. It is safe to call more
// than once, and the Limiter keeps working, sweeping included, after it.
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
func (l *Limiter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		p, hasP := PrincipalFrom(ctx)
		var lim keyLimits
		if hasP {
			lim = l.resolveLimits(p)
		}
		useKey := lim.any()
		if !useKey && l.cfg.GlobalRPM == 0 && l.cfg.GlobalConcurrency == 0 {
			next.ServeHTTP(w, r)
			return
		}

		t, snap, rej := l.admit(p.KeyID, useKey, lim)
		if useKey {
			setLimitHeaders(w.Header(), snap)
		}
		entry := EntryFrom(ctx)
		if rej != nil {
			entry.SetErrorCode(string(api.CodeRateLimitExceeded))
			entry.SetLimitReason(rej.reason)
			writeRateLimited(w, r, rej.wait, limitMessage(rej, p))
			return
		}
		r = l.withReservation(r, &t, lim, p)
		sw := Wrap(w)
		defer func() {
			tokens := 0
			if lim.tpm > 0 {
				tokens = int(min(entry.Tokens(), maxLimit))
			}
			l.release(t, tokens, refunded(sw.Status(), entry))
		}()
		next.ServeHTTP(sw, r)
	})
}

// resolveLimits is the limits that apply to p's key: its own where set, else
// the server defaults.
func (l *Limiter) resolveLimits(p Principal) keyLimits {
	return keyLimits{
		rpm:  resolveLimit(p.RPM, l.cfg.KeyRPM),
		tpm:  resolveLimit(p.TPM, l.cfg.KeyTPM),
		conc: resolveLimit(p.Concurrency, l.cfg.KeyConcurrency),
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

func setLimitHeaders(h http.Header, s snapshot) {
	if s.rpm > 0 {
		h.Set(headerLimitRequests, strconv.Itoa(s.rpm))
		h.Set(headerRemainingRequests, strconv.Itoa(s.reqRemaining))
		h.Set(headerResetRequests, formatReset(s.reqReset))
	}
	if s.tpm > 0 {
		h.Set(headerLimitTokens, strconv.Itoa(s.tpm))
		h.Set(headerRemainingTokens, strconv.Itoa(s.tokRemaining))
		h.Set(headerResetTokens, formatReset(s.tokReset))
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
func limitMessage(rej *rejection, p Principal) string {
	var what string
	switch rej.reason {
	case ReasonRPM, ReasonGlobalRPM:
		what = count(rej.limit, "request") + " per minute."
	case ReasonTPM:
		what = count(rej.limit, "token") + " per minute."
	default:
		what = count(rej.limit, "concurrent request") + "."
	}
	if rej.reason == ReasonGlobalRPM || rej.reason == ReasonGlobalConcurrency {
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
