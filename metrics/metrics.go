// Package metrics holds the gateway's Prometheus metrics: a private registry
// (never the global default one) with the Go runtime and process collectors,
// the metric families the gateway, the token manager and the quota tracker
// feed, and the HTTP handler that serves them in the Prometheus text format.
//
// It imports only client_golang and the standard library; the other layers
// call its typed methods, and the command wires the function-backed gauges
// (token expiry, quota) with Config.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric of the gateway.
const Namespace = "copilot_proxy"

// Label values used when the real value is unknown or unbounded.
const (
	// None is the label value when a request has no key id or model.
	None = "none"
	// Other is the model label for a model the upstream does not list.
	Other = "other"
)

// Stream end reasons (label "reason" of copilot_proxy_streams_ended_total).
const (
	StreamComplete         = "complete"
	StreamClientDisconnect = "client_disconnect"
	StreamUpstreamError    = "upstream_error"
)

// TokenStatus is what the Copilot token gauges read.
type TokenStatus struct {
	Valid     bool      // a valid token is held
	ExpiresAt time.Time // its expiry (zero when none)
}

// Quota is one quota of the Copilot account (label "quota" is its name, e.g.
// premium_interactions or chat).
type Quota struct {
	Name             string
	PercentRemaining float64 // 0–100
	Entitlement      float64 // requests per period; 0 when unlimited
	Unlimited        bool
}

// quotaNames are the only quota names exported, so the label stays bounded
// whatever the upstream sends.
var quotaNames = map[string]bool{
	"premium_interactions": true, "premium_models": true, "chat": true, "completions": true,
}

// Config tunes New. Every field is optional.
type Config struct {
	// Token reports the Copilot token, read at each scrape (see WatchToken).
	Token func() TokenStatus
	// Quota reports the account's quotas, read at each scrape (see
	// WatchQuota).
	Quota func() []Quota
	// Now is the clock for the seconds-until-expiry gauge; nil is time.Now.
	Now func() time.Time
}

// Buckets, in seconds.
var (
	// requestBuckets span a cached model list (sub-millisecond) to a long
	// generation (minutes).
	requestBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}
	// overheadBuckets are for the gateway's own time: it should be well under
	// a millisecond.
	overheadBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}
	// exchangeBuckets are for the GitHub token exchange.
	exchangeBuckets = []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
)

// Metrics is the set of gateway metrics. Its methods are safe for concurrent
// use. A nil *Metrics is not valid; callers keep a nil pointer to mean
// "metrics off" and skip the calls.
type Metrics struct {
	reg *prometheus.Registry
	now func() time.Time

	requests         *prometheus.CounterVec   // route, status, model, key_id
	requestDuration  *prometheus.HistogramVec // route
	overhead         *prometheus.HistogramVec // route
	upstreamDuration *prometheus.HistogramVec // route
	upstreamStatus   *prometheus.CounterVec   // route, status
	upstreamErrors   *prometheus.CounterVec   // route, code

	streamsActive  prometheus.Gauge
	streamTTFB     prometheus.Histogram
	streamDuration prometheus.Histogram
	streamEvents   prometheus.Counter
	streamsEnded   *prometheus.CounterVec // reason
	streamEnded    [3]prometheus.Counter  // pre-resolved children of streamsEnded

	tokens     *prometheus.CounterVec // key_id, model, type
	credits    *prometheus.CounterVec // key_id, model, source
	budgets    *prometheus.CounterVec // key_id, threshold
	redisDown  prometheus.Gauge
	rejections *prometheus.CounterVec // reason

	refreshes        *prometheus.CounterVec // result
	refreshOK        prometheus.Counter
	refreshFailed    prometheus.Counter
	exchangeDuration prometheus.Histogram
}

// New builds the metrics on a fresh private registry.
func New(cfg Config) *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	f := factory{reg}
	m := &Metrics{reg: reg}

	m.requests = f.counterVec("http_requests_total",
		"HTTP requests answered, by route pattern, status code, model and client key id.",
		"route", "status", "model", "key_id")
	m.requestDuration = f.histogramVec("http_request_duration_seconds",
		"Time from receiving a request to the end of its response (a stream's whole length), by route pattern.",
		requestBuckets, "route")
	m.overhead = f.histogramVec("gateway_overhead_seconds",
		"Time the gateway itself added to requests that reached the upstream: total minus the upstream's time to response headers (for streams, the time to the response headers sent to the client minus the upstream's).",
		overheadBuckets, "route")
	m.upstreamDuration = f.histogramVec("upstream_duration_seconds",
		"Time until the Copilot API's response headers arrived, by route pattern.",
		requestBuckets, "route")
	m.upstreamStatus = f.counterVec("upstream_responses_total",
		"Responses of the Copilot API, by route pattern and upstream status code.",
		"route", "status")
	m.upstreamErrors = f.counterVec("upstream_errors_total",
		"Upstream calls that got no response (timeout, connection failure, no valid Copilot token), by route pattern and error code.",
		"route", "code")

	m.streamsActive = f.gauge("streams_active", "Streams being relayed now.")
	m.streamTTFB = f.histogram("stream_time_to_first_byte_seconds",
		"Time from receiving a streamed request to writing its first event to the client.", requestBuckets)
	m.streamDuration = f.histogram("stream_duration_seconds",
		"Time from receiving a streamed request to the end of its stream.", requestBuckets)
	m.streamEvents = f.counter("stream_events_total", "SSE events relayed to clients (keep-alive comments not included).")
	m.streamsEnded = f.counterVec("streams_ended_total",
		"Streams ended, by reason: complete, client_disconnect or upstream_error.", "reason")
	for i, reason := range []string{StreamComplete, StreamClientDisconnect, StreamUpstreamError} {
		m.streamEnded[i] = m.streamsEnded.WithLabelValues(reason)
	}

	m.initAccounting(f)

	m.refreshes = f.counterVec("copilot_token_refreshes_total",
		"Copilot token exchanges, by result: success or failure.", "result")
	m.refreshOK = m.refreshes.WithLabelValues("success")
	m.refreshFailed = m.refreshes.WithLabelValues("failure")
	m.exchangeDuration = f.histogram("copilot_token_exchange_duration_seconds",
		"Duration of Copilot token exchanges with GitHub, failures included.", exchangeBuckets)

	m.now = cfg.Now
	if m.now == nil {
		m.now = time.Now
	}
	if cfg.Token != nil {
		m.WatchToken(cfg.Token)
	}
	if cfg.Quota != nil {
		m.WatchQuota(cfg.Quota)
	}
	return m
}

// WatchToken registers the Copilot token gauges, read from token at each
// scrape. Call it once.
func (m *Metrics) WatchToken(token func() TokenStatus) {
	f, now := factory{m.reg}, m.now
	f.gaugeFunc("copilot_token_valid", "1 while a valid Copilot token is held, else 0.", func() float64 {
		if token().Valid {
			return 1
		}
		return 0
	})
	f.gaugeFunc("copilot_token_expiry_seconds",
		"Seconds until the held Copilot token expires (0 when no valid token is held).", func() float64 {
			st := token()
			if !st.Valid || st.ExpiresAt.IsZero() {
				return 0
			}
			return max(st.ExpiresAt.Sub(now()).Seconds(), 0)
		})
}

// WatchQuota registers the quota gauges, read from quota at each scrape.
// Only the quotas premium_interactions, premium_models, chat and completions
// are exported. Call it once.
func (m *Metrics) WatchQuota(quota func() []Quota) {
	m.reg.MustRegister(&quotaCollector{
		quota: quota,
		percent: prometheus.NewDesc(Namespace+"_quota_remaining_percent",
			"Copilot quota remaining, 0–100, by quota (premium_interactions, chat, completions), as last reported by Copilot.", []string{"quota"}, nil),
		entitlement: prometheus.NewDesc(Namespace+"_quota_entitlement",
			"Copilot quota entitlement (requests per period; 0 when unlimited), by quota.", []string{"quota"}, nil),
		unlimited: prometheus.NewDesc(Namespace+"_quota_unlimited",
			"1 when the quota is unlimited, else 0, by quota.", []string{"quota"}, nil),
	})
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry returns the private registry, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Request is one finished HTTP request as the gateway saw it. Labels must
// already be bounded: Route a route pattern, Model a listed model, Other or
// None, KeyID a key id or None.
type Request struct {
	Route, Model, KeyID string
	Status              int
	Duration            time.Duration
	// Upstream is set when the upstream answered: its status and time to
	// response headers. Overhead is the gateway's own time (negative: not
	// observed).
	UpstreamStatus int
	Upstream       time.Duration
	Overhead       time.Duration
	// UpstreamError is the error code of an upstream call that got no
	// response ("" when none).
	UpstreamError string
	// Tokens from the upstream's usage.
	PromptTokens, CompletionTokens int
	// Rejected is the limit (or "auth") that refused the request; "".
	Rejected string
	// CreditsNano is what the request cost (nano-credits) and CreditSource
	// how that was known; "" when it was not priced.
	CreditsNano  int64
	CreditSource string
}

// ObserveRequest records a finished request.
func (m *Metrics) ObserveRequest(r *Request) {
	status := statusLabel(r.Status)
	m.requests.WithLabelValues(r.Route, status, r.Model, r.KeyID).Inc()
	m.requestDuration.WithLabelValues(r.Route).Observe(r.Duration.Seconds())
	if r.UpstreamStatus != 0 {
		m.upstreamStatus.WithLabelValues(r.Route, statusLabel(r.UpstreamStatus)).Inc()
		m.upstreamDuration.WithLabelValues(r.Route).Observe(r.Upstream.Seconds())
		if r.Overhead >= 0 {
			m.overhead.WithLabelValues(r.Route).Observe(r.Overhead.Seconds())
		}
	} else if r.UpstreamError != "" {
		m.upstreamErrors.WithLabelValues(r.Route, r.UpstreamError).Inc()
	}
	if r.PromptTokens > 0 {
		m.tokens.WithLabelValues(r.KeyID, r.Model, "prompt").Add(float64(r.PromptTokens))
	}
	if r.CompletionTokens > 0 {
		m.tokens.WithLabelValues(r.KeyID, r.Model, "completion").Add(float64(r.CompletionTokens))
	}
	if r.CreditSource != "" {
		m.credits.WithLabelValues(r.KeyID, r.Model, r.CreditSource).Add(float64(r.CreditsNano) / 1e9)
	}
	if r.Rejected != "" {
		m.rejections.WithLabelValues(r.Rejected).Inc()
	}
}

// initAccounting declares the metrics of what keys use: tokens, credits,
// budget crossings and limit refusals.
func (m *Metrics) initAccounting(f factory) {
	m.tokens = f.counterVec("tokens_total",
		"Tokens reported in the upstream's usage, by client key id, model and type (prompt or completion).",
		"key_id", "model", "type")
	m.redisDown = f.gauge("limits_redis_down",
		"1 while the Redis that shares limits and budgets is unreachable: requests under limits are then refused (--redis-failure closed) or limited per instance (open).")
	m.credits = f.counterVec("credits_total",
		"AI credits (1 credit = $0.01) spent, by client key id, model and source of the figure: reported (by Copilot), priced (tokens at the model's prices), multiplier (premium requests) or unknown.",
		"key_id", "model", "source")
	m.budgets = f.counterVec("budget_threshold_crossings_total",
		"Budgets passing 80 % or 100 % of their limit in a period, by client key id (\"global\" for the gateway's budget) and threshold.",
		"key_id", "threshold")
	m.rejections = f.counterVec("limit_rejections_total",
		"Requests refused by a limit or by client authentication, by reason: rpm, tpm, concurrency, global_rpm, global_concurrency, budget, global_budget, auth (a bad key, 401), auth_failures (too many bad keys from one address, 429).",
		"reason")
}

// RedisDown sets limits_redis_down.
func (m *Metrics) RedisDown(down bool) {
	v := 0.0
	if down {
		v = 1
	}
	m.redisDown.Set(v)
}

// BudgetThreshold counts a budget passing percent (80 or 100) of its
// limit; keyID "" is the global budget.
func (m *Metrics) BudgetThreshold(keyID string, percent int) {
	if keyID == "" {
		keyID = "global"
	}
	m.budgets.WithLabelValues(keyID, strconv.Itoa(percent)).Inc()
}

// StreamStarted counts a stream as active; call StreamEnded when it ends.
func (m *Metrics) StreamStarted() { m.streamsActive.Inc() }

// StreamEnded records a finished stream: its time to first event (negative
// when no event was written), its length from the request's arrival, the
// events relayed and why it ended (StreamComplete, StreamClientDisconnect or
// StreamUpstreamError).
func (m *Metrics) StreamEnded(ttfb, total time.Duration, events int, reason string) {
	m.streamsActive.Dec()
	if ttfb >= 0 {
		m.streamTTFB.Observe(ttfb.Seconds())
	}
	m.streamDuration.Observe(total.Seconds())
	if events > 0 {
		m.streamEvents.Add(float64(events))
	}
	switch reason {
	case StreamClientDisconnect:
		m.streamEnded[1].Inc()
	case StreamUpstreamError:
		m.streamEnded[2].Inc()
	default:
		m.streamEnded[0].Inc()
	}
}

// TokenExchange records one Copilot token exchange; it fits
// copilot.TokenManagerConfig.OnExchange.
func (m *Metrics) TokenExchange(d time.Duration, err error) {
	m.exchangeDuration.Observe(max(d, 0).Seconds())
	if err != nil {
		m.refreshFailed.Inc()
		return
	}
	m.refreshOK.Inc()
}

// statusLabel avoids an allocation for the usual codes.
func statusLabel(code int) string {
	switch code {
	case 200:
		return "200"
	case 201:
		return "201"
	case 400:
		return "400"
	case 401:
		return "401"
	case 403:
		return "403"
	case 404:
		return "404"
	case 429:
		return "429"
	case 499:
		return "499"
	case 500:
		return "500"
	case 502:
		return "502"
	case 503:
		return "503"
	case 504:
		return "504"
	}
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code)
}

// quotaCollector exports the quota gauges from one read of the quota source
// per scrape.
type quotaCollector struct {
	quota                           func() []Quota
	percent, entitlement, unlimited *prometheus.Desc
}

func (c *quotaCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.percent
	ch <- c.entitlement
	ch <- c.unlimited
}

func (c *quotaCollector) Collect(ch chan<- prometheus.Metric) {
	seen := make(map[string]bool, 4)
	for _, q := range c.quota() {
		if !quotaNames[q.Name] || seen[q.Name] {
			continue
		}
		seen[q.Name] = true
		unlimited := 0.0
		if q.Unlimited {
			unlimited = 1
		}
		ch <- prometheus.MustNewConstMetric(c.percent, prometheus.GaugeValue, q.PercentRemaining, q.Name)
		ch <- prometheus.MustNewConstMetric(c.entitlement, prometheus.GaugeValue, max(q.Entitlement, 0), q.Name)
		ch <- prometheus.MustNewConstMetric(c.unlimited, prometheus.GaugeValue, unlimited, q.Name)
	}
}

// factory registers metrics with the namespace on one registry.
type factory struct{ reg *prometheus.Registry }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help})
	f.reg.MustRegister(g)
	return g
}

func (f factory) gaugeFunc(name, help string, fn func() float64) {
	f.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, fn))
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets})
	f.reg.MustRegister(h)
	return h
}

func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}
