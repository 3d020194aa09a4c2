package middleware

import (
	"context"
	"net/http"
)

// DefaultOutputEstimate is the output a token reservation assumes for a
// request that names no output limit (max_tokens, max_completion_tokens,
// max_output_tokens): 1,024 tokens, about a long chat answer.
const DefaultOutputEstimate = 1024

// bytesPerToken is the prompt estimate's ratio: about four bytes of JSON
// body per token. Base64 images inflate the estimate, which errs on the safe
// side (and a reservation never exceeds the key's limit, see ReserveTokens).
const bytesPerToken = 4

// PromptEstimate is the prompt tokens a body of bodyLen bytes is assumed to
// hold (see bytesPerToken).
func PromptEstimate(bodyLen int) int64 {
	return int64(bodyLen+bytesPerToken-1) / bytesPerToken
}

// OutputEstimate is the output a reservation assumes for a request asking for
// at most requested tokens: requested when positive, else
// DefaultOutputEstimate.
func OutputEstimate(requested int64) int64 {
	if requested > 0 {
		return requested
	}
	return DefaultOutputEstimate
}

type reservationKey struct{}

// reservation is an admitted request's claim on its key's tokens window,
// installed by the limiter for keys with a tokens-per-minute limit and taken
// by ReserveTokens. Only the request's handler goroutine touches it.
type reservation struct {
	t        LimitTicket
	tpm      int
	p        Principal
	reserved bool // ReserveTokens succeeded
}

// withReservation returns r carrying a reservation slot for an admitted
// request; r unchanged when no token limit applies to the request.
func withReservation(r *http.Request, t LimitTicket, lim KeyLimits, p Principal) *http.Request {
	if lim.TPM <= 0 {
		return r
	}
	res := &reservation{t: t, tpm: lim.TPM, p: p}
	return r.WithContext(context.WithValue(r.Context(), reservationKey{}, res))
}

// ReserveTokens reserves, in the tokens-per-minute window of the request's
// key, an estimate of what the request will use: bodyLen/4 tokens of prompt
// (see bytesPerToken) plus output() (nil: none, e.g. embeddings; handlers
// pass OutputEstimate of the request's output limit), called only when a
// token limit applies. The reservation is min(estimate, limit), so a request
// larger than the whole limit still passes on an empty window. When the
// window cannot take it, the request is answered 429 rate_limit_exceeded
// with Retry-After and the x-ratelimit-* headers, and false returned; call it
// before anything is sent upstream. When the request ends the limiter
// replaces the reservation with the real usage, so concurrent requests
// cannot overshoot the limit by more than one request's misestimate. When
// the limit counters cannot be reached the answer is 503
// limits_unavailable.
//
// Without a token limit (or without the limiter) it does nothing and
// returns true; a second call for the same request does nothing either.
func ReserveTokens(w http.ResponseWriter, r *http.Request, bodyLen int, output func() int64) bool {
	res, _ := r.Context().Value(reservationKey{}).(*reservation)
	if res == nil || res.reserved {
		return true
	}
	est := PromptEstimate(bodyLen)
	if output != nil {
		est += max(output(), 0)
	}
	need := min(max(est, 1), int64(res.tpm))
	snap, rej, err := res.t.ReserveTokens(r.Context(), need)
	if err != nil {
		writeLimitsUnavailable(w, r, err)
		return false
	}
	setLimitHeaders(w.Header(), snap)
	if rej != nil {
		writeLimited(w, r, rej, res.p)
		return false
	}
	res.reserved = true
	return true
}
