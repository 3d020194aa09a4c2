package middleware

import (
	"context"
	"net/http"
	"time"

	"github.com/copilot-proxy/copilot-proxy/api"
)

type entryKey struct{}

// Entry holds per-request annotations that handlers fill in and the access log
// prints. Its setters are meant to be called from the request's handler
// goroutine (or from a goroutine whose writes happen-before the handler
// returns, e.g. one the handler waits for), or from the detached run of its
// response (see Detach), which owns the Entry from then on; the access log
// reads the fields at the request's end (see AtEnd), so no locking is done.
// An Entry must not be written once the request has ended.
type Entry struct {
	model          string
	keyID          string
	errorCode      string
	errorShape     api.Shape
	upstreamStatus int
	upstreamDur    time.Duration
	limitReason    LimitReason
	usage          api.Usage
	reportedCost   int64 // nano-credits, when costReported
	cost           int64 // nano-credits, when costSource != ""
	costSource     string
	promptEstimate int64
	stream         bool
	costReported   bool
	streamSet      bool
	upstreamSet    bool
}

// Entries installs the request's Entry. It is the outermost middleware:
// every other one, and every handler, may annotate the Entry, and the access
// log and the metrics read it once the request is done.
func Entries(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(&entryCtx{Context: r.Context()}))
	})
}

// entryCtx carries the Entry in the same allocation as the context.
type entryCtx struct {
	context.Context
	entry Entry
}

func (c *entryCtx) Value(key any) any {
	if _, ok := key.(entryKey); ok {
		return &c.entry
	}
	return c.Context.Value(key)
}

// EntryFrom returns the request's Entry. A request without one (Entries not
// installed) is a wiring bug: it panics, so a test finds it at once instead
// of a handler annotating a throwaway.
func EntryFrom(ctx context.Context) *Entry {
	if e, ok := ctx.Value(entryKey{}).(*Entry); ok {
		return e
	}
	panic("middleware: no Entry in the request context; install middleware.Entries first")
}

// SetModel records the requested model.
//
// The name comes from the client, so it is clipped to maxModelName bytes:
// a megabyte "model" must not reach every log line and usage row.
func (e *Entry) SetModel(model string) {
	e.model = api.Clip(model, maxModelName)
}

// maxModelName bounds a model name as logged and accounted; real ids are
// a few dozen bytes.
const maxModelName = 200

// SetStream records whether the request asked for a streamed response.
func (e *Entry) SetStream(stream bool) { e.stream, e.streamSet = stream, true }

// SetUpstream records the upstream response status and the time until the
// upstream response headers arrived.
func (e *Entry) SetUpstream(status int, d time.Duration) {
	e.upstreamStatus, e.upstreamDur, e.upstreamSet = status, d, true
}

// SetKeyID records the id (never the secret) of the client API key used.
func (e *Entry) SetKeyID(id string) { e.keyID = id }

// SetErrorShape sets the format WriteError answers this request's errors
// in (see ErrorShape).
func (e *Entry) SetErrorShape(s api.Shape) { e.errorShape = s }

// ErrorShape returns the request's error format (ShapeOpenAI unless set).
func (e *Entry) ErrorShape() api.Shape { return e.errorShape }

// SetErrorCode records the machine error code the request failed with, e.g.
// "upstream_timeout"; the access log prints it as error_code.
func (e *Entry) SetErrorCode(code string) { e.errorCode = code }

// Model returns the recorded model.
func (e *Entry) Model() string { return e.model }

// UpstreamStatus returns the recorded upstream status (0 if none).
func (e *Entry) UpstreamStatus() int { return e.upstreamStatus }

// UpstreamDuration returns the recorded time to upstream response headers.
func (e *Entry) UpstreamDuration() time.Duration { return e.upstreamDur }

// KeyID returns the recorded client key id.
func (e *Entry) KeyID() string { return e.keyID }

// ErrorCode returns the recorded error code.
func (e *Entry) ErrorCode() string { return e.errorCode }

// SetUsage records the request's token usage as reported upstream; the rate
// limiter adds it to the key's tokens per minute window after the handler
// returns.
func (e *Entry) SetUsage(u api.Usage) { e.usage = u }

// Usage returns the recorded usage (zero if none).
func (e *Entry) Usage() api.Usage { return e.usage }

// Tokens returns the recorded prompt plus completion tokens.
func (e *Entry) Tokens() int64 { return e.usage.PromptTokens + e.usage.CompletionTokens }

// SetReportedCost records the cost Copilot reported for the request, in
// nano-credits (a later report replaces an earlier one).
func (e *Entry) SetReportedCost(nano int64) { e.reportedCost, e.costReported = nano, true }

// ReportedCost returns the cost Copilot reported; ok is false without one.
func (e *Entry) ReportedCost() (nano int64, ok bool) { return e.reportedCost, e.costReported }

// SetCost records what the request cost in nano-credits and how that was
// known (see package credits), once its handler is done.
func (e *Entry) SetCost(nano int64, source string) { e.cost, e.costSource = nano, source }

// Cost returns the recorded cost and its source ("" when not priced: the
// request never got an answer from Copilot).
func (e *Entry) Cost() (nano int64, source string) { return e.cost, e.costSource }

// SetPromptEstimate records the prompt tokens estimated from the request
// body at admission: what a stream cut before its usage is charged for.
func (e *Entry) SetPromptEstimate(n int64) { e.promptEstimate = n }

// PromptEstimate returns the estimate of SetPromptEstimate (0 if none).
func (e *Entry) PromptEstimate() int64 { return e.promptEstimate }

// SetLimitReason records which limit refused the request.
func (e *Entry) SetLimitReason(r LimitReason) { e.limitReason = r }

// LimitReason returns the limit that refused the request ("" if none).
func (e *Entry) LimitReason() LimitReason { return e.limitReason }
