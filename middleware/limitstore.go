package middleware

import (
	"context"
	"time"
)

// LimitStore holds the counting state behind a Limiter: the request, token
// and concurrency counters of every key and of the whole gateway. The
// Limiter owns the HTTP side (which limits apply, headers, answers); a store
// only counts. MemoryLimits counts in this process; package redislimits
// shares the counts between instances through Redis.
//
// The contract, for every implementation: Admit decides on all the limits
// of a request atomically (a burst of 100 against a limit of 10 admits
// exactly 10, and a request refused by one limit holds no slot of another,
// not even briefly); an admitted request gets a LimitTicket that reserves its
// tokens (LimitTicket.ReserveTokens) and is released exactly once when the
// request ends (LimitTicket.Release). An error means the state could not be
// reached: the Limiter answers 503 limits_unavailable.
type LimitStore interface {
	// Admit checks, in order, global concurrency, global requests per
	// minute, then the key's concurrency, requests and tokens per minute,
	// and takes the request's slots when all pass. The snapshot describes
	// the key's windows after the decision (zero without key limits); the
	// ticket is nil when rej is not.
	Admit(ctx context.Context, req AdmitRequest) (t LimitTicket, snap LimitSnapshot, rej *LimitRejection, err error)
}

// LimitTicket is an admitted request's hold on its counters.
type LimitTicket interface {
	// ReserveTokens reserves need tokens (1 ≤ need ≤ the key's tokens per
	// minute) in the key's tokens window when the window stays within the
	// limit, else it says when it will. Called at most once with success,
	// and only for a key with a tokens limit.
	ReserveTokens(ctx context.Context, need int64) (LimitSnapshot, *LimitRejection, error)
	// Release ends the request: the reservation leaves the tokens window
	// and tokens (the real usage, 0 for none) enter it, the concurrency
	// slots are freed and, with refund, the request's admissions leave the
	// request windows (it was refused for its own input before reaching
	// Copilot). It reports no error: a store that cannot be reached lets
	// what it cannot release expire.
	Release(tokens int64, refund bool)
}

// AdmitRequest is what one admission decides on. Limits of 0 are unlimited.
type AdmitRequest struct {
	// KeyID is the key whose counters Key applies to; unused when
	// Key.Any() is false (no principal, or every key limit unlimited).
	KeyID string
	Key   KeyLimits
	// The gateway-wide limits.
	GlobalRPM, GlobalConcurrency int
}

// KeyLimits are one request's resolved per-key limits; 0 = unlimited.
type KeyLimits struct {
	RPM, TPM, Concurrency int
}

// Any reports whether at least one limit is set.
func (k KeyLimits) Any() bool { return k.RPM > 0 || k.TPM > 0 || k.Concurrency > 0 }

// LimitRejection says which limit refused a request and when to retry.
type LimitRejection struct {
	Reason LimitReason
	Limit  int
	// Wait is the time until the limit has room again. A concurrency cap
	// cannot know it: the Limiter answers those with 1 s whatever Wait says.
	Wait time.Duration
}

// LimitSnapshot is a key's request and token window as reported in the
// x-ratelimit-* headers; an unlimited dimension has a zero limit.
type LimitSnapshot struct {
	RPM, ReqRemaining int
	ReqReset          time.Duration
	TPM, TokRemaining int
	TokReset          time.Duration
}
