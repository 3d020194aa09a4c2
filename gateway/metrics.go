package gateway

import (
	"context"
	"net/http"
	"time"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/metrics"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// metricsKey finds the request's metricsCtx.
type metricsKey struct{}

// metricsCtx is the per-request state of the metrics middleware. It is itself
// the request context (one allocation, like the access log's state): the
// chat handler finds it to time a stream's headers and first event.
type metricsCtx struct {
	context.Context
	start time.Time
	// headers is when a stream's response headers were sent (zero: not a
	// stream).
	headers time.Time
	sw      middleware.StatusWriter
	r       *http.Request // the request carrying this context, until it returns
	route   string        // the route pattern, read as the handler returns
	m       *metrics.Metrics
	models  *modelCache
	now     func() time.Time
}

func (c *metricsCtx) Value(key any) any {
	if _, ok := key.(metricsKey); ok {
		return c
	}
	return c.Context.Value(key)
}

// metricsFrom returns the request's metrics state, nil when metrics are off.
func metricsFrom(ctx context.Context) *metricsCtx {
	c, _ := ctx.Value(metricsKey{}).(*metricsCtx)
	return c
}

// recordMetrics records one request once it completes: requests by route
// pattern, status, model and key id; durations; upstream status and time;
// tokens; limit and auth rejections. It runs after the access log (so the
// Entry exists and carries what the handlers noted) and before Recover (so a
// recovered panic is counted with its 500). Installed only when metrics are
// on.
func recordMetrics(m *metrics.Metrics, models *modelCache, now func() time.Time) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mc := startMetrics(w, r, m, models, now)
			defer mc.returned()
			next.ServeHTTP(mc.sw, mc.r)
		})
	}
}

// startMetrics is the metrics state of a request starting now. It is kept
// out of the middleware's frame (noinline), which stays on the stack for a
// whole stream (see upstream.do).
//
//go:noinline
func startMetrics(w http.ResponseWriter, r *http.Request, m *metrics.Metrics, models *modelCache, now func() time.Time) *metricsCtx {
	mc := &metricsCtx{Context: r.Context(), start: now(), sw: middleware.Wrap(w), m: m, models: models, now: now}
	mc.r = r.WithContext(mc)
	return mc
}

// returned records the request at its end (see middleware.AtEnd). The
// route pattern is read now: chi's routing context is reused once the
// handler has returned.
func (mc *metricsCtx) returned() {
	mc.route = middleware.RoutePattern(mc.r)
	mc.r = nil // a detached stream would hold it for its whole life
	middleware.AtEnd(mc, mc)
}

// End records the request, which has ended.
func (mc *metricsCtx) End() {
	rq := requestMetrics(mc, mc.sw, mc.models, mc.now())
	mc.m.ObserveRequest(&rq)
}

// requestMetrics is what the metrics record of a request that ended at end.
func requestMetrics(mc *metricsCtx, sw middleware.StatusWriter, models *modelCache, end time.Time) metrics.Request {
	e := middleware.EntryFrom(mc)
	total := end.Sub(mc.start)
	status := sw.Status()
	if status == 0 {
		status = http.StatusOK
	}
	rq := metrics.Request{
		Route:          mc.route,
		Status:         status,
		Model:          modelLabel(models, e.Model()),
		KeyID:          orNone(e.KeyID()),
		Duration:       total,
		UpstreamStatus: e.UpstreamStatus(),
		Upstream:       e.UpstreamDuration(),
		Overhead:       -1,
		Rejected:       string(e.LimitReason()),
	}
	if rq.UpstreamStatus != 0 {
		// For a stream the gateway's part ends when the client has
		// the headers; the rest is the upstream generating.
		end := total
		if !mc.headers.IsZero() {
			end = mc.headers.Sub(mc.start)
		}
		rq.Overhead = max(end-rq.Upstream, 0)
	} else {
		switch c := e.ErrorCode(); api.Code(c) {
		case api.CodeUpstreamTimeout, api.CodeUpstreamError, api.CodeCopilotUnavailable:
			rq.UpstreamError = c
		}
	}
	u := e.Usage()
	rq.PromptTokens, rq.CompletionTokens = int(u.PromptTokens), int(u.CompletionTokens)
	rq.CreditsNano, rq.CreditSource = e.Cost()
	return rq
}

// streamStarted notes that a stream's headers are about to be sent (for
// the usage accounting and the metrics); call
// streamEnded with the relay's result.
func (rl *relayer) streamStarted(r *http.Request) {
	noteStreamStart(r) // usage: a stream is counted as it starts
	if rl.metrics == nil {
		return
	}
	if mc := metricsFrom(r.Context()); mc != nil {
		mc.headers = rl.now()
	}
	rl.metrics.StreamStarted()
}

// streamEnded records a finished stream.
func (rl *relayer) streamEnded(r *http.Request, res *relayResult) {
	if rl.metrics == nil {
		return
	}
	start := rl.now()
	if mc := metricsFrom(r.Context()); mc != nil {
		start = mc.start
	}
	ttfb := time.Duration(-1)
	if !res.FirstEvent.IsZero() {
		ttfb = max(res.FirstEvent.Sub(start), 0)
	}
	reason := metrics.StreamComplete
	switch {
	case res.ClientGone:
		reason = metrics.StreamClientDisconnect
	case res.Err != nil:
		reason = metrics.StreamUpstreamError
	}
	rl.metrics.StreamEnded(ttfb, rl.now().Sub(start), res.Events, reason)
}

// modelLabel bounds the model label to the models the upstream lists, read
// from the cached list: it never fetches, so a request is never held up and
// no label lookup reaches the network. "none" without a model, "other" for
// a model not listed or before any list was fetched (the cmd fetches the
// list at start when metrics are on).
func modelLabel(models *modelCache, model string) string {
	if model == "" {
		return metrics.None
	}
	snap := models.cached()
	if snap == nil {
		return metrics.Other
	}
	i, ok := snap.byID[model]
	if !ok {
		return metrics.Other
	}
	return snap.models[i].ID // the list's string, not the client's copy
}

func orNone(s string) string {
	if s == "" {
		return metrics.None
	}
	return s
}
