package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/bytesize"
	"github.com/copilot-proxy/copilot-proxy/copilot"
	"github.com/copilot-proxy/copilot-proxy/credits"
	"github.com/copilot-proxy/copilot-proxy/gateway"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
	"github.com/copilot-proxy/copilot-proxy/gctune"
	"github.com/copilot-proxy/copilot-proxy/logging"
	"github.com/copilot-proxy/copilot-proxy/metrics"
	"github.com/copilot-proxy/copilot-proxy/middleware"
	"github.com/copilot-proxy/copilot-proxy/redislimits"
	"github.com/copilot-proxy/copilot-proxy/version"
)

// app is the running gateway: every component serve starts. newApp builds
// them in dependency order; Close stops them in the order written there,
// not in the order of a stack of defers.
type app struct {
	cfg    serveConfig
	log    zerolog.Logger
	logBuf *logging.Buffer // nil when the log is not buffered

	store   *keys.Store
	redis   *redislimits.Client // nil without --redis-url
	limiter *middleware.Limiter
	budgets *middleware.Budgets
	base    *copilot.PooledTransport
	tokens  *copilot.TokenManager
	quota   *copilot.QuotaWatch
	metrics *metrics.Metrics // nil when off
	gw      *gateway.Server

	ln    net.Listener // nil once Run has served (and closed) it
	aside []func()     // stops the metrics and pprof listeners

	bgStop context.CancelFunc // ends the quota watch and the model prefetch
	bg     sync.WaitGroup

	gc *gctune.Tuner // the garbage collector's headroom (--gc-headroom)
}

// newApp builds every component and listens on cfg.Addr. On error, what
// was built is closed again.
func newApp(ctx context.Context, cfg serveConfig, getenv func(string) string, stderr io.Writer) (a *app, err error) {
	a = &app{cfg: cfg}
	var logOut io.Writer
	logOut, a.logBuf = logging.Buffered(stderr)
	a.log = logging.New(cfg.LogFormat, cfg.LogLevel, logOut)
	if cfg.Demo {
		a.log = a.log.With().Bool("demo", true).Logger()
		a.log.Warn().Str("upstream", cfg.CopilotAPIURL).Msg(demoLogLine)
	}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if err := a.openStore(ctx); err != nil {
		return a, err
	}
	adminToken, err := gateway.LoadAdminToken(getenv, cfg.AdminTokenFile)
	if err != nil {
		return a, err
	}
	up, err := a.startUpstream(getenv)
	if err != nil {
		return a, err
	}
	if err := a.openLimits(ctx); err != nil {
		return a, err
	}
	a.gw = gateway.NewServer(a.gatewayDeps(up, adminToken))
	a.startBackground()
	a.gc = startGCTuner(cfg.GCHeadroom, getenv)
	return a, a.listen()
}

// storeURL is where the key store is: --database-url, else --db. Serve
// and the key store commands both open the store through it.
func storeURL(dbURL, db string) string {
	if dbURL != "" {
		return dbURL
	}
	return db
}

// openStore opens the key store (SQLite, or PostgreSQL by URL).
func (a *app) openStore(ctx context.Context) error {
	store, err := keys.OpenURL(ctx, storeURL(a.cfg.DatabaseURL, a.cfg.DB), keys.Options{Logger: a.component("keys")})
	if err != nil {
		return err
	}
	a.store = store
	if a.cfg.NoAuth {
		a.log.Warn().Msg("client keys are off (--no-auth): anyone who can reach this loopback address can use the gateway")
	} else if n, err := store.CountKeys(ctx); err == nil && n == 0 {
		a.log.Warn().Msg("no client keys yet; every request gets 401 until you create one: copilot-proxy keys create --name NAME")
	}
	return nil
}

// openLimits builds the rate limits and the credit budgets: in memory, or
// shared with the other instances through Redis (--redis-url).
func (a *app) openLimits(ctx context.Context) error {
	var limits middleware.LimitStore
	var budgets middleware.BudgetStore
	if a.cfg.RedisURL != "" {
		failure, _ := redislimits.ParseFailure(a.cfg.RedisFailure) // validated with the flags
		redislimits.SetDriverLogger(a.component("redis"))
		rl, err := redislimits.New(redislimits.Config{
			URL: a.cfg.RedisURL, Failure: failure, LeaseTTL: a.cfg.RedisLeaseTTL,
			Logger: a.component("limits"), OnFallback: a.redisHook(),
		})
		if err != nil {
			return fmt.Errorf("--redis-url: %w", err)
		}
		a.redis, limits, budgets = rl, rl, rl
		a.checkRedis(ctx, rl)
	}
	a.limiter = middleware.NewLimiter(middleware.LimitConfig{
		KeyRPM: a.cfg.KeyRPM, KeyTPM: a.cfg.KeyTPM, KeyConcurrency: a.cfg.KeyConcurrency,
		GlobalRPM: a.cfg.GlobalRPM, GlobalConcurrency: a.cfg.GlobalConcurrency, Store: limits,
	})
	a.budgets = a.newBudgets(budgets)
	return nil
}

// redisHook reports Redis outages to the metrics (nil without them).
func (a *app) redisHook() func(bool) {
	if a.metrics == nil {
		return nil
	}
	return a.metrics.RedisDown
}

// checkRedis pings Redis once at start: an unreachable Redis is a warning,
// not a failure (it may come up after the gateway), and readiness says so.
// The wait is on serve's context, so a signal during start-up cuts it (and
// then nothing is logged: Redis was not found unreachable).
func (a *app) checkRedis(ctx context.Context, rl *redislimits.Client) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := rl.Ping(ctx); err != nil && ctx.Err() != context.Canceled {
		a.log.Warn().Str("error", api.Redact(err.Error())).Str("redis_failure", a.cfg.RedisFailure).
			Msg("Redis is unreachable; limits follow --redis-failure until it answers")
	}
}

// newBudgets builds the credit budgets: every key's own and the global
// one, counting from the spend recorded in the key store.
func (a *app) newBudgets(store middleware.BudgetStore) *middleware.Budgets {
	period, _ := credits.ParsePeriod(a.cfg.GlobalBudgetPeriod) // validated with the flags
	var onThreshold func(string, int)
	if a.metrics != nil {
		onThreshold = a.metrics.BudgetThreshold
	}
	return middleware.NewBudgets(middleware.BudgetConfig{
		Global: int64(a.cfg.GlobalBudget), GlobalPeriod: period,
		Spend: a.store.Spend, Reset: a.quota.ResetDate,
		Logger: a.component("budget"), OnThreshold: onThreshold, Store: store,
	})
}

// startUpstream finds the GitHub token and starts the token manager; it
// returns the transport the gateway sends to Copilot through.
func (a *app) startUpstream(getenv func(string) string) (http.RoundTripper, error) {
	ghToken, warns, err := findGitHubToken(getenv, a.cfg.GitHubTokenFile)
	if err != nil {
		return nil, err
	}
	a.log.Info().Str("source", ghToken.Source.String()).Msg("using GitHub token")
	for _, w := range warns {
		a.log.Warn().Msg(string(w))
	}
	baseCfg := copilot.BaseTransportConfig{ResponseHeaderTimeout: a.cfg.UpstreamTimeout}
	if a.cfg.UpstreamCA != "" {
		if baseCfg.RootCAs, err = copilot.LoadRootCAs(a.cfg.UpstreamCA); err != nil {
			return nil, fmt.Errorf("--upstream-ca: %w", err)
		}
	}
	a.base = copilot.NewPooledTransport(baseCfg)
	auth := copilot.NewAuth(&http.Client{Transport: a.base, Timeout: time.Minute}, a.cfg.GitHubAPIURL, ghToken.Value, *a.cfg.Editor)
	a.metrics = newMetrics(&a.cfg)
	a.tokens = copilot.NewTokenManager(copilot.TokenManagerConfig{
		Exchange:   auth.Exchange,
		Logger:     a.component("token"),
		OnExchange: exchangeHook(a.metrics),
	})
	a.tokens.Start()
	a.quota = copilot.NewQuotaWatch(auth.User, nil, a.component("quota"))
	watchMetrics(a.metrics, a.tokens, a.quota)
	return &copilot.Transport{
		Source:      a.tokens,
		Base:        a.base,
		Endpoint:    copilot.EndpointFor(a.cfg.GitHubAPIURL, a.cfg.CopilotAPIURL),
		Editor:      *a.cfg.Editor,
		Quota:       &a.quota.Tracker,
		IdleTimeout: a.cfg.StreamIdleTimeout,
		Logger:      a.component("upstream"),
	}, nil
}

func (a *app) gatewayDeps(up http.RoundTripper, adminToken string) gateway.Deps {
	keepalive := a.cfg.Keepalive
	if keepalive == 0 {
		keepalive = -1 // the gateway reads a negative interval as "off"
	}
	return gateway.Deps{
		Logger:      a.log,
		Upstream:    up,
		UpstreamURL: copilot.DefaultBaseURL, // routed by the transport
		Quota:       func() any { return a.quota.Report() },
		Ready:       a.readiness(),
		Config: gateway.Config{MaxBody: int64(a.cfg.MaxBody), Keepalive: keepalive,
			ModelAliases: a.cfg.ModelAliases, StreamIdleTimeout: a.cfg.StreamIdleTimeout},
		Keys:         a.store,
		NoAuth:       a.cfg.NoAuth,
		LocalOnly:    a.cfg.NoAuth, // no keys: no web page may drive it (Host and Origin checks), nor a proxied remote client
		ClientIP:     a.clientIP(),
		ListenAddr:   a.cfg.Addr,
		Limiter:      a.limiter,
		Budgets:      a.budgets,
		QuotaReset:   a.quota.ResetDate,
		AdminToken:   adminToken,
		Metrics:      a.metrics,
		ServeMetrics: a.cfg.Metrics && a.cfg.MetricsAddr == "", // --metrics-addr alone: only there

		NoConsole:              !a.cfg.Console,
		ConsoleSessionLifetime: a.cfg.ConsoleSession,
	}
}

// clientIP resolves a request's client address behind the trusted proxies
// (--trusted-proxy); nil without any: the peer's address, as
// X-Forwarded-For is then never read.
func (a *app) clientIP() func(*http.Request) string {
	if len(a.cfg.TrustedProxies) == 0 {
		return nil
	}
	for _, p := range a.cfg.TrustedProxies {
		if p.Bits() == 0 {
			a.log.Warn().Str("trusted_proxy", p.String()).
				Msg("--trusted-proxy trusts every address: any client can choose the address it is throttled and logged by")
		}
	}
	return middleware.NewClientIP(a.cfg.TrustedProxies)
}

// readiness is the conditions /readyz adds to the key store's: the Copilot
// token and, with --redis-url, Redis.
func (a *app) readiness() func() []gateway.Condition {
	var redis *gateway.Probe
	if a.redis != nil {
		redis = &gateway.Probe{Name: gateway.CondRedis, Ping: a.redis.Ping, Now: time.Now, Logger: a.log}
	}
	return func() []gateway.Condition {
		conds := []gateway.Condition{gateway.TokenCondition(a.tokens.Status())}
		if redis != nil {
			c := redis.Condition()
			if !c.OK && a.cfg.RedisFailure == "open" {
				// Still serving, under per-instance limits: pulling every
				// instance from the balancer at once would be worse.
				c.OK, c.Reason = true, c.Reason+"; limits are per instance (--redis-failure open)"
			}
			conds = append(conds, c)
		}
		return conds
	}
}

// startBackground runs the quota watch and fetches the model list once, so
// routing (which endpoint serves a model) and the metrics' model label know
// the models from the first requests: neither ever waits for a fetch.
func (a *app) startBackground() {
	ctx, stop := context.WithCancel(context.Background())
	a.bgStop = stop
	a.bg.Go(func() { a.quota.Run(ctx) })
	a.bg.Go(func() { _, _ = a.gw.Models(ctx) })
}

// listen opens the API listener and the aside listeners (metrics, pprof).
func (a *app) listen() error {
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", a.cfg.Addr, err)
	}
	a.ln = ln
	for _, side := range []gateway.Aside{gateway.MetricsAside(a.cfg.MetricsAddr, a.metrics), gateway.PprofAside(a.cfg.PprofAddr)} {
		stop, err := gateway.ServeAside(side, a.log)
		if err != nil {
			return err
		}
		a.aside = append(a.aside, stop)
	}
	a.log.Info().Str("addr", ln.Addr().String()).Str("version", version.String()).
		Str("gc_headroom", gcHeadroomText(a.gc.Headroom())).Msg("listening")
	_ = a.logBuf.Flush() // the startup lines, at once
	return nil
}

// gcHeadroomText is the headroom for the log: "16MiB", or "off".
func gcHeadroomText(h uint64) string {
	if h == 0 {
		return "off"
	}
	return bytesize.Size(h).String()
}

// Addr is the address the API listens on.
func (a *app) Addr() net.Addr { return a.ln.Addr() }

// Run serves until ctx ends, then drains (see gateway.Server.Serve).
func (a *app) Run(ctx context.Context) error {
	err := a.gw.Serve(ctx, a.ln, gateway.ServeConfig{
		ReadHeaderTimeout: a.cfg.ReadHeaderTimeout,
		ShutdownTimeout:   a.cfg.ShutdownTimeout,
		ErrorLog:          logging.HTTPErrorLog(a.log),
		Logger:            a.log,
		Wrap:              a.wrap(),
	})
	a.ln = nil // closed by Serve
	return err
}

// wrap is the outermost handler of the API: the demo's marking, or none.
func (a *app) wrap() func(http.Handler) http.Handler {
	if a.cfg.Demo {
		return markDemo
	}
	return nil
}

// Close stops every component, in this order: the API listener (if Run did
// not run), the gateway's background fetches, the quota watch and the model
// prefetch, the aside listeners, the token manager, the limiter, the
// upstream connections, then the key store, which flushes the usage of every
// request served, and last the log, so every line above is written. Each
// step tolerates a component that was never built.
func (a *app) Close() {
	served := a.ln == nil
	if a.gc != nil {
		a.gc.Stop()
	}
	if a.ln != nil {
		_ = a.ln.Close()
	}
	if a.gw != nil {
		a.gw.Close()
	}
	if a.bgStop != nil {
		a.bgStop()
		a.bg.Wait()
	}
	for _, stop := range a.aside {
		stop()
	}
	if a.tokens != nil {
		a.tokens.Close()
	}
	if a.limiter != nil {
		a.limiter.Close()
	}
	if a.redis != nil {
		_ = a.redis.Close() // after the drain: its leases are released
	}
	if a.base != nil {
		a.base.CloseIdleConnections()
	}
	a.closeStore()
	if served {
		a.log.Info().Msg("stopped")
	}
	_ = a.logBuf.Close()
}

func (a *app) closeStore() {
	if a.store == nil {
		return
	}
	if err := a.store.Close(); err != nil {
		a.log.Error().Err(err).Msg("closing the key store")
	}
}

// component is the logger of one component.
func (a *app) component(name string) zerolog.Logger {
	return a.log.With().Str("component", name).Logger()
}
