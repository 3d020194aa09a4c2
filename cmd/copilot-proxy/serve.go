package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"time"

	"github.com/copilot-proxy/copilot-proxy/bytesize"
	"github.com/copilot-proxy/copilot-proxy/copilot"
	"github.com/copilot-proxy/copilot-proxy/gateway"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
	"github.com/copilot-proxy/copilot-proxy/githubtoken"
	"github.com/copilot-proxy/copilot-proxy/logging"
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
	MaxBody           bytesize.Size
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
	if !logging.ValidFormat(c.LogFormat) {
		return bad("log-format", "want json or console")
	}
	if _, err := logging.ParseLevel(c.LogLevel); err != nil {
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
	// Without client keys anyone who can reach the port can spend the
	// account's quota: refuse to listen beyond this machine.
	if cfg.NoAuth && !isLoopbackAddr(cfg.Addr) {
		return fmt.Errorf("refusing to listen on %s with --no-auth: without client keys the gateway would be an open proxy to your Copilot account; "+
			"listen on a loopback address such as 127.0.0.1:8080 (--addr / COPILOT_PROXY_ADDR), or drop --no-auth and issue keys", cfg.Addr)
	}
	a, err := newApp(ctx, cfg, getenv, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	if hook := listenHookFrom(ctx); hook != nil {
		hook(a.Addr())
	}
	return a.Run(ctx)
}

// listenHookKey carries a function that is told the API's listen address
// once serve listens: how tests learn a port chosen with --addr host:0.
type listenHookKey struct{}

func listenHookFrom(ctx context.Context) func(net.Addr) {
	f, _ := ctx.Value(listenHookKey{}).(func(net.Addr))
	return f
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

// findGitHubToken looks for the GitHub token where serve, status, login and
// logout all look (see githubtoken.Find).
func findGitHubToken(getenv func(string) string, file string) (githubtoken.Token, []githubtoken.Warning, error) {
	return githubtoken.Find(githubtoken.Options{Getenv: getenv, File: file, EditorClientID: copilot.DefaultClientID})
}
