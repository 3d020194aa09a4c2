package gateway

import (
	"context"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

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
func (s *Server) recordMetrics(next http.Handler) http.Handler {
	m := s.metrics
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mc := &metricsCtx{Context: r.Context(), start: s.now()}
		sw := middleware.Wrap(w)
		r = r.WithContext(mc)
		defer func() {
			e := middleware.EntryFrom(mc)
			total := s.now().Sub(mc.start)
			status := sw.Status()
			if status == 0 {
				status = http.StatusOK
			}
			rq := metrics.Request{
				Route:          routeLabel(r),
				Status:         status,
				Model:          s.modelLabel(e.Model()),
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
			rq.PromptTokens, rq.CompletionTokens = e.Usage()
			m.ObserveRequest(&rq)
		}()
		next.ServeHTTP(sw, r)
	})
}

// streamStarted notes that a stream's headers are about to be sent; call
// streamEnded with the relay's result.
func (s *Server) streamStarted(r *http.Request) {
	if s.metrics == nil {
		return
	}
	if mc := metricsFrom(r.Context()); mc != nil {
		mc.headers = s.now()
	}
	s.metrics.StreamStarted()
}

// streamEnded records a finished stream.
func (s *Server) streamEnded(r *http.Request, res relayResult) {
	if s.metrics == nil {
		return
	}
	start := s.now()
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
	s.metrics.StreamEnded(ttfb, s.now().Sub(start), res.Events, reason)
}

// modelLabel bounds the model label to the models the upstream lists, read
// from the cached list (never fetched here, so a request is never held up):
// "none" without a model, "other" for a model not listed or before any list
// was fetched.
func (s *Server) modelLabel(model string) string {
	if model == "" {
		return metrics.None
	}
	s.models.mu.Lock()
	snap := s.models.snap
	s.models.mu.Unlock()
	if snap == nil || s.now().Sub(snap.fetched) >= s.cfg.ModelsTTL {
		s.refreshModelsInBackground()
	}
	if snap == nil {
		return metrics.Other
	}
	i, ok := snap.byID[model]
	if !ok {
		return metrics.Other
	}
	return snap.models[i].ID // the list's string, not the client's copy
}

// refreshModelsInBackground keeps the model list the labels are checked
// against current without making a request wait for it: at most one
// refresh runs, and at most one starts per modelsRetryDelay, so a failing
// upstream is not asked again on every request.
//
// The refresh runs under the server's lifetime and Close waits for it.
func (s *Server) refreshModelsInBackground() {
	if s.life.Err() != nil {
		return // closed
	}
	now := s.now().UnixNano()
	last := s.modelsTried.Load()
	if now-last < int64(modelsRetryDelay) || !s.modelsTried.CompareAndSwap(last, now) {
		return
	}
	// Wait for the fetch itself, not just until Close: Close cancels the
	// fetch, so it ends promptly, and waiting for it leaves nothing running.
	s.bg.Go(func() { _, _ = s.modelSnapshot(context.WithoutCancel(s.life)) })
}

// routeLabel is the matched chi route pattern, "unmatched" when none.
func routeLabel(r *http.Request) string {
	if rctx := chi.RouteContext(r.Context()); rctx != nil {
		if p := rctx.RoutePattern(); p != "" {
			return p
		}
	}
	return "unmatched"
}

func orNone(s string) string {
	if s == "" {
		return metrics.None
	}
	return s
}

// handleMetrics serves the Prometheus scrape.
func handleMetrics(s *Server) http.Handler {
	return s.metrics.Handler()
}
