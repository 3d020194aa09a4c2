package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/copilot"
	"github.com/copilot-proxy/copilot-proxy/gateway"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// serveConfig is every setting of the serve command.
type serveConfig struct {
	Addr              string
	GitHubAPIURL      string
	CopilotAPIURL     string
	GitHubTokenFile   string
	LogFormat         string
	LogLevel          string
	UpstreamTimeout   time.Duration
	StreamIdleTimeout time.Duration
	Keepalive         time.Duration
	MaxBody           byteSize
	ShutdownTimeout   time.Duration
	Editor            *copilot.Editor
	ReadHeaderTimeout time.Duration

	DB                string
	NoAuth            bool
	AdminTokenFile    string
	KeyRPM            int
	KeyTPM            int
	KeyConcurrency    int
	GlobalRPM         int
	GlobalConcurrency int

	Metrics     bool
	MetricsAddr string

	PprofAddr string // net/http/pprof on a separate loopback listener (pprof.go)
}

// serveFlags declares the serve settings on a new FlagSet.
func serveFlags(cfg *serveConfig, getenv func(string) string) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg.MaxBody = 10 << 20
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "listen address (host:port)")
	fs.StringVar(&cfg.GitHubAPIURL, "github-api-url", defaultGitHubAPIURL, "GitHub API base URL (for GitHub Enterprise: https://HOST/api/v3 or https://api.DOMAIN)")
	fs.StringVar(&cfg.CopilotAPIURL, "copilot-api-url", "", "Copilot API base URL (default: endpoints.api of the Copilot token, else https://api.githubcopilot.com)")
	fs.StringVar(&cfg.GitHubTokenFile, "github-token-file", "", "file holding the GitHub OAuth token (the token itself is only ever read from COPILOT_PROXY_GITHUB_TOKEN or a file)")
	fs.StringVar(&cfg.LogFormat, "log-format", "", "log format: json or console (default: console when stderr is a terminal, else json)")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&cfg.UpstreamTimeout, "upstream-timeout", 10*time.Minute, "how long to wait for upstream response headers (a non-stream answer arrives whole, after the full generation)")
	fs.DurationVar(&cfg.StreamIdleTimeout, "stream-idle-timeout", 5*time.Minute, "longest silence allowed inside an upstream stream")
	fs.DurationVar(&cfg.Keepalive, "keepalive", 15*time.Second, "send a \": ping\" SSE comment after this much upstream silence (0 disables)")
	fs.Var(&cfg.MaxBody, "max-body", "request body limit (e.g. 10MiB)")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGINT/SIGTERM, how long in-flight requests and streams may take to finish")
	fs.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", 10*time.Second, "how long a client may take to send its request headers (slow-loris clients are cut)")
	cfg.Editor = editorFlags(fs)
	fs.StringVar(&cfg.DB, "db", keys.DefaultPath(getenv), "key store database file (client keys and usage)")
	fs.BoolVar(&cfg.NoAuth, "no-auth", false, "serve without client keys (single-user; only on a loopback address)")
	fs.StringVar(&cfg.AdminTokenFile, "admin-token-file", "", "file holding the admin token that enables /admin/* (or set COPILOT_PROXY_ADMIN_TOKEN)")
	fs.IntVar(&cfg.KeyRPM, "key-rpm", middleware.DefaultKeyRPM, "requests per minute per key, for keys without their own limit (0 = unlimited)")
	fs.IntVar(&cfg.KeyTPM, "key-tpm", middleware.DefaultKeyTPM, "tokens per minute per key, for keys without their own limit (0 = unlimited)")
	fs.IntVar(&cfg.KeyConcurrency, "key-concurrency", middleware.DefaultKeyConcurrency, "concurrent requests per key, for keys without their own limit (0 = unlimited)")
	fs.IntVar(&cfg.GlobalRPM, "global-rpm", middleware.DefaultGlobalRPM, "requests per minute for the whole gateway, protecting the one Copilot account (0 = unlimited)")
	fs.IntVar(&cfg.GlobalConcurrency, "global-concurrency", middleware.DefaultGlobalConcurrency, "concurrent requests for the whole gateway (0 = unlimited)")
	fs.BoolVar(&cfg.Metrics, "metrics", false, "serve Prometheus metrics at /metrics on --addr (behind the admin token when one is set)")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "serve Prometheus metrics at /metrics on this separate address only (host:port), instead of --addr")
	fs.StringVar(&cfg.PprofAddr, "pprof-addr", "", "serve net/http/pprof on this loopback address (host:port), for profiling; off by default")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: copilot-proxy serve [flags]\n\nRuns the gateway. Every flag --some-name can also be set with the environment\nvariable COPILOT_PROXY_SOME_NAME; a flag wins over the environment.\nThe GitHub token is read from COPILOT_PROXY_GITHUB_TOKEN or --github-token-file\n(never a flag), then GH_COPILOT_TOKEN / GITHUB_COPILOT_TOKEN, then the file\nthe login command saves (~/.config/copilot-proxy/github-token), then the\neditor plugins' ~/.config/github-copilot/{hosts,apps}.json.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// validate checks settings that the flag types cannot.
func (c *serveConfig) validate() error {
	bad := func(flagName, msg string) error {
		return fmt.Errorf("%w: invalid --%s (%s): %s", errUsage, flagName, envName(flagName), msg)
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return bad("addr", "want host:port, e.g. 127.0.0.1:8080")
	}
	for name, u := range map[string]string{"github-api-url": c.GitHubAPIURL, "copilot-api-url": c.CopilotAPIURL} {
		if u == "" && name == "copilot-api-url" {
			continue
		}
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			return bad(name, "want an absolute http(s) URL")
		}
	}
	switch c.LogFormat {
	case "", "json", "console":
	default:
		return bad("log-format", "want json or console")
	}
	if _, err := zerolog.ParseLevel(strings.ToLower(c.LogLevel)); err != nil || c.LogLevel == "" {
		return bad("log-level", "want debug, info, warn or error")
	}
	if c.UpstreamTimeout <= 0 {
		return bad("upstream-timeout", "must be positive")
	}
	if c.StreamIdleTimeout <= 0 {
		return bad("stream-idle-timeout", "must be positive")
	}
	if c.Keepalive < 0 {
		return bad("keepalive", "must not be negative (0 disables)")
	}
	if c.MaxBody <= 0 {
		return bad("max-body", "must be positive")
	}
	if c.ReadHeaderTimeout <= 0 {
		return bad("read-header-timeout", "must be positive")
	}
	if c.ShutdownTimeout < 0 {
		return bad("shutdown-timeout", "must not be negative")
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return bad("metrics-addr", "want host:port, e.g. 127.0.0.1:9090")
		}
	}
	if c.PprofAddr != "" && !isLoopbackAddr(c.PprofAddr) {
		return bad("pprof-addr", "must be a loopback address such as 127.0.0.1:6060 (profiles show internals)")
	}
	if c.DB == "" {
		return bad("db", "no path: set --db, or HOME / XDG_DATA_HOME for the default location")
	}
	for name, v := range map[string]int{"key-rpm": c.KeyRPM, "key-tpm": c.KeyTPM, "key-concurrency": c.KeyConcurrency,
		"global-rpm": c.GlobalRPM, "global-concurrency": c.GlobalConcurrency} {
		if v < 0 {
			return bad(name, "must not be negative (0 = unlimited)")
		}
	}
	return nil
}

// newLogger builds the process logger: JSON, or human-readable console
// output when asked or when stderr is a terminal.
func newLogger(format, level string, stderr io.Writer) zerolog.Logger {
	lvl, _ := zerolog.ParseLevel(strings.ToLower(level))
	var w io.Writer = stderr
	if format == "console" || (format == "" && isTerminal(stderr)) {
		w = zerolog.ConsoleWriter{Out: stderr, TimeFormat: time.RFC3339}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// isLoopbackAddr reports whether a listen address only accepts local
// connections.
func isLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg serveConfig
	fs := serveFlags(&cfg, getenv)
	if done, err := parseFlags(fs, args, stdout); done || err != nil {
		return err
	}
	if err := applyEnv(fs, getenv); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	// Registered first, so it runs last: every component's final line is
	// written before runServe returns (see logbuf.go).
	logOut, logBuf := bufferLogs(stderr)
	defer func() { _ = logBuf.Close() }()
	logger := newLogger(cfg.LogFormat, cfg.LogLevel, logOut)

	// Without client keys anyone who can reach the port can spend the
	// account's quota: refuse to listen beyond this machine.
	if cfg.NoAuth && !isLoopbackAddr(cfg.Addr) {
		return fmt.Errorf("refusing to listen on %s with --no-auth: without client keys the gateway would be an open proxy to your Copilot account; "+
			"listen on a loopback address such as 127.0.0.1:8080 (--addr / COPILOT_PROXY_ADDR), or drop --no-auth and issue keys", cfg.Addr)
	}
	adminToken, err := readAdminToken(getenv, cfg.AdminTokenFile)
	if err != nil {
		return err
	}

	ghToken, src, warns, err := findGitHubToken(getenv, cfg.GitHubTokenFile)
	if err != nil {
		return err
	}
	logger.Info().Str("source", src.String()).Msg("using GitHub token")
	for _, w := range warns {
		logger.Warn().Msg(string(w))
	}

	store, err := keys.Open(ctx, cfg.DB, keys.Options{Logger: logger.With().Str("component", "keys").Logger()})
	if err != nil {
		return err
	}
	// Closed after the drain below, so it flushes the usage of every request.
	defer func() {
		if err := store.Close(); err != nil {
			logger.Error().Err(err).Msg("closing the key store")
		}
	}()
	if cfg.NoAuth {
		logger.Warn().Msg("client keys are off (--no-auth): anyone who can reach this loopback address can use the gateway")
	} else if n, err := store.CountKeys(ctx); err == nil && n == 0 {
		logger.Warn().Str("db", cfg.DB).Msg("no client keys yet; every request gets 401 until you create one: copilot-proxy keys create --name NAME")
	}
	limiter := middleware.NewLimiter(middleware.LimitConfig{
		KeyRPM: cfg.KeyRPM, KeyTPM: cfg.KeyTPM, KeyConcurrency: cfg.KeyConcurrency,
		GlobalRPM: cfg.GlobalRPM, GlobalConcurrency: cfg.GlobalConcurrency,
	})
	defer limiter.Close()

	editor := *cfg.Editor
	transport := copilot.NewTransport(copilot.TransportConfig{ResponseHeaderTimeout: cfg.UpstreamTimeout})
	defer transport.CloseIdleConnections()
	hc := &http.Client{Transport: transport} // no Timeout: streams may run for many minutes

	auth := copilot.NewAuth(hc, cfg.GitHubAPIURL, ghToken, editor)
	mtr := newMetrics(&cfg) // nil unless --metrics / --metrics-addr
	tokens := copilot.NewTokenManager(copilot.TokenManagerConfig{
		Exchange:   auth.Exchange,
		Logger:     logger.With().Str("component", "token").Logger(),
		OnExchange: exchangeHook(mtr),
	})
	tokens.Start()
	defer tokens.Close()

	client := copilot.NewClient(copilot.ClientConfig{
		AllowedHosts:      copilotHostsFor(cfg.GitHubAPIURL),
		HTTPClient:        hc,
		Tokens:            tokens,
		BaseURL:           cfg.CopilotAPIURL,
		Editor:            editor,
		StreamIdleTimeout: cfg.StreamIdleTimeout,
		Logger:            logger.With().Str("component", "upstream").Logger(),
	})

	quota := newQuotaWatch(auth.User, logger.With().Str("component", "quota").Logger())
	quotaCtx, stopQuota := context.WithCancel(context.Background())
	quotaDone := make(chan struct{})
	go func() { defer close(quotaDone); quota.run(quotaCtx) }()
	defer func() { stopQuota(); <-quotaDone }()
	watchMetrics(mtr, tokens, quota)

	keepalive := cfg.Keepalive
	if keepalive == 0 {
		keepalive = -1 // the gateway reads a negative interval as "off"
	}
	srv := gateway.NewServer(gateway.Deps{
		Logger:   logger,
		Upstream: upstreamAdapter{c: client, quota: &quota.tracker},
		Quota:    quota.report,
		Ready:    readiness(tokens),
		Config: gateway.Config{
			MaxBody:   int64(cfg.MaxBody),
			Keepalive: keepalive,
		},
		Keys:       store,
		NoAuth:     cfg.NoAuth,
		Limiter:    limiter,
		AdminToken: adminToken,

		Metrics:      mtr,
		ServeMetrics: cfg.Metrics && cfg.MetricsAddr == "", // --metrics-addr alone: only there
	})
	waitModels := prefetchModels(quotaCtx, srv, mtr)
	// Cancel before waiting: a start-up fetch stuck on a slow upstream must
	// not hold the shutdown.
	defer func() { stopQuota(); waitModels() }()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", cfg.Addr, err)
	}
	// inflight counts running handlers, so a drain that times out can still
	// wait for the cut requests to unwind (and record their usage) before
	// the key store closes.
	var inflight atomic.Int64
	httpSrv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inflight.Add(1)
			defer inflight.Add(-1)
			srv.ServeHTTP(w, r)
		}),
		// Slow or stalled clients must not hold a connection before sending
		// their headers; there is deliberately no WriteTimeout, which would
		// cut long streams.
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(logWriter{logger}, "", 0),
	}
	stopMetrics, err := startMetricsListener(cfg.MetricsAddr, mtr, logger)
	if err != nil {
		_ = ln.Close()
		return err
	}
	defer stopMetrics()
	stopPprof, err := startPprof(cfg.PprofAddr, logger)
	if err != nil {
		_ = ln.Close()
		return err
	}
	defer stopPprof()
	logger.Info().Str("addr", ln.Addr().String()).Str("version", buildVersion()).Msg("listening")
	_ = logBuf.Flush() // the startup lines, at once

	served := make(chan error, 1)
	go func() { served <- httpSrv.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("server stopped: %w", err)
	case <-ctx.Done():
	}

	srv.SetDraining()
	logger.Info().Str("timeout", cfg.ShutdownTimeout.String()).Msg("shutting down: no new connections, draining in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := httpSrv.Shutdown(sctx); err != nil {
		logger.Warn().Int64("in_flight", inflight.Load()).Msg("drain timeout reached; closing the remaining connections")
		_ = httpSrv.Close()
		// Closing the connections cancels the requests' contexts; give their
		// handlers a moment to return so their usage is recorded.
		waitIdle(&inflight, cutGrace)
	}
	srv.Close() // background work of the gateway (model list refreshes) ends with it
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Error().Err(err).Msg("server error during shutdown")
	}
	logger.Info().Msg("stopped")
	return nil
}

// cutGrace bounds the wait for handlers cut at the drain timeout: they
// only have to notice their cancelled context and return.
const cutGrace = 5 * time.Second

// waitIdle waits until n is zero or max has passed.
func waitIdle(n *atomic.Int64, max time.Duration) {
	deadline := time.Now().Add(max)
	for n.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// readAdminToken returns the admin token from COPILOT_PROXY_ADMIN_TOKEN or
// the --admin-token-file; "" leaves the admin API off.
func readAdminToken(getenv func(string) string, file string) (string, error) {
	if t := strings.TrimSpace(getenv("COPILOT_PROXY_ADMIN_TOKEN")); t != "" {
		return checkAdminToken(t, "COPILOT_PROXY_ADMIN_TOKEN")
	}
	if file == "" {
		return "", nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("admin token file %s cannot be read: %v", file, errors.Unwrap(err))
	}
	return checkAdminToken(strings.TrimSpace(string(b)), "admin token file "+file)
}

// minAdminToken is the shortest admin token accepted: it guards key
// creation, so it must not be guessable.
const minAdminToken = 16

func checkAdminToken(t, source string) (string, error) {
	if len(t) < minAdminToken {
		return "", fmt.Errorf("%s: the admin token must be at least %d characters (e.g. openssl rand -hex 32)", source, minAdminToken)
	}
	return t, nil
}

// readiness reports whether a valid Copilot token is held (with its
// expiry), and why not.
func readiness(tokens *copilot.TokenManager) func() []gateway.Condition {
	return func() []gateway.Condition {
		st := tokens.Status()
		c := gateway.Condition{Name: gateway.CondCopilotToken, OK: st.Valid}
		switch {
		case st.Valid:
			c.ExpiresAt = st.ExpiresAt.UTC()
		case st.LastError != nil:
			c.Reason = fmt.Sprintf("no valid Copilot token: %v", st.LastError)
		default:
			c.Reason = "no valid Copilot token yet: the first token exchange is in progress"
		}
		return []gateway.Condition{c}
	}
}

// upstreamAdapter lets the gateway call the Copilot client through the small
// interface the gateway declares, translating the client's error types.
// It also feeds every response's quota headers to the quota tracker.
type upstreamAdapter struct {
	c     *copilot.Client
	quota *copilot.QuotaTracker
}

func (a upstreamAdapter) Send(ctx context.Context, call *gateway.Call) (*http.Response, error) {
	req := &copilot.Request{
		Method:    call.Method,
		Path:      call.Path,
		Body:      call.Body,
		Initiator: call.Initiator,
		Vision:    call.Vision,
		RequestID: call.RequestID,
	}
	if call.Stream {
		req.Accept = "text/event-stream"
	}
	resp, err := a.c.Do(ctx, req)
	if err != nil {
		var ue *copilot.UnavailableError
		var he *copilot.HostNotAllowedError
		if errors.As(err, &ue) || errors.As(err, &he) {
			return nil, unavailableError{err}
		}
		return nil, err
	}
	if a.quota != nil {
		a.quota.Observe(resp.Header, time.Now())
	}
	return resp, nil
}

// unavailableError marks a client error as gateway.ErrCopilotUnavailable
// while keeping its message (which says why, and never holds a secret).
type unavailableError struct{ err error }

func (u unavailableError) Error() string        { return u.err.Error() }
func (u unavailableError) Unwrap() error        { return u.err }
func (u unavailableError) Is(target error) bool { return target == gateway.ErrCopilotUnavailable }

// logWriter sends net/http's internal error log (TLS handshakes, broken
// connections) through the structured logger.
type logWriter struct{ l zerolog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.l.Warn().Str("component", "http").Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}
