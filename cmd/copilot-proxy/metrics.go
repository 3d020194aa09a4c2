package main

import (
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot"
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
func watchMetrics(m *metrics.Metrics, tokens *copilot.TokenManager, quota *copilot.QuotaWatch) {
	if m == nil {
		return
	}
	m.WatchToken(func() metrics.TokenStatus {
		st := tokens.Status()
		return metrics.TokenStatus{Valid: st.Valid, ExpiresAt: st.ExpiresAt}
	})
	m.WatchQuota(func() []metrics.Quota {
		levels := quota.Levels()
		out := make([]metrics.Quota, len(levels))
		for i, l := range levels {
			out[i] = metrics.Quota(l)
		}
		return out
	})
}
