package main

import (
	"context"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/copilot"
	"github.com/copilot-proxy/copilot-proxy/gateway"
	"github.com/copilot-proxy/copilot-proxy/metrics"
)

// newMetrics returns the gateway's metrics when --metrics or --metrics-addr
// asks for them, else nil (metrics off, nothing recorded).
func newMetrics(cfg *serveConfig) *metrics.Metrics {
	if !cfg.Metrics && cfg.MetricsAddr == "" {
		return nil
	}
	return metrics.New(metrics.Config{})
}

// exchangeHook is the token manager's OnExchange for m (nil when off).
func exchangeHook(m *metrics.Metrics) func(time.Duration, error) {
	if m == nil {
		return nil
	}
	return m.TokenExchange
}

// watchMetrics wires the scrape-time gauges: the Copilot token and the quota.
func watchMetrics(m *metrics.Metrics, tokens *copilot.TokenManager, quota *quotaWatch) {
	if m == nil {
		return
	}
	m.WatchToken(func() metrics.TokenStatus {
		st := tokens.Status()
		return metrics.TokenStatus{Valid: st.Valid, ExpiresAt: st.ExpiresAt}
	})
	m.WatchQuota(quota.metricsQuotas)
}

// metricsQuotas is the quota as the metrics show it: the latest
// x-quota-snapshot-* headers, and for quotas without one the last
// copilot_internal/user answer.
func (q *quotaWatch) metricsQuotas() []metrics.Quota {
	snaps, _ := q.tracker.Snapshot()
	out := make([]metrics.Quota, 0, 4)
	for name, s := range snaps {
		ent := s.Entitlement
		if s.Unlimited {
			ent = 0
		}
		out = append(out, metrics.Quota{Name: name, PercentRemaining: s.PercentRemaining, Entitlement: ent, Unlimited: s.Unlimited})
	}
	q.mu.Lock()
	info := q.info
	q.mu.Unlock()
	if info == nil {
		return out
	}
	for _, a := range []struct {
		name string
		s    *copilot.QuotaSnapshot
	}{
		{"premium_interactions", info.Quotas.PremiumInteractions},
		{"chat", info.Quotas.Chat},
		{"completions", info.Quotas.Completions},
	} {
		if _, ok := snaps[a.name]; ok || a.s == nil {
			continue
		}
		out = append(out, metrics.Quota{Name: a.name, PercentRemaining: a.s.PercentRemaining, Entitlement: a.s.Entitlement, Unlimited: a.s.Unlimited})
	}
	return out
}

// startMetricsListener serves /metrics alone on addr (--metrics-addr); the
// returned stop shuts it down. With no addr it does nothing.
func startMetricsListener(addr string, m *metrics.Metrics, logger zerolog.Logger) (stop func(), err error) {
	if addr == "" || m == nil {
		return func() {}, nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	return serveAside(addr, "metrics", "metrics-addr", mux, logger)
}

// prefetchModels fetches the model list once at start, in the background,
// so the metrics' model label knows the listed models from the first
// request (the gateway never fetches for a label). The returned wait blocks
// until the fetch is over; cancel ctx first to cut it short.
func prefetchModels(ctx context.Context, srv *gateway.Server, m *metrics.Metrics) (wait func()) {
	if m == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = srv.Models(ctx)
	}()
	return func() { <-done }
}
