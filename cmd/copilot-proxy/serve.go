package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/copilot-proxy/copilot-proxy/bytesize"
	"github.com/copilot-proxy/copilot-proxy/copilot"
	"github.com/copilot-proxy/copilot-proxy/credits"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
	"github.com/copilot-proxy/copilot-proxy/gctune"
	"github.com/copilot-proxy/copilot-proxy/githubtoken"
	"github.com/copilot-proxy/copilot-proxy/logging"
	"github.com/copilot-proxy/copilot-proxy/middleware"
	"github.com/copilot-proxy/copilot-proxy/redislimits"
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
	UpstreamCA        string // PEM file of extra authorities for the upstream's TLS
	StreamIdleTimeout time.Duration
	Keepalive         time.Duration
	MaxBody           bytesize.Size
	ShutdownTimeout   time.Duration
	Editor            *copilot.Editor
	ReadHeaderTimeout time.Duration

	DB                string
	DatabaseURL       string // postgres:// (several instances) or sqlite://; wins over DB
	RedisURL          string // shares limits and budgets between instances
	RedisFailure      string // "closed" or "open"
	RedisLeaseTTL     time.Duration
	NoAuth            bool
	AdminTokenFile    string
	KeyRPM            int
	KeyTPM            int
	KeyConcurrency    int
	GlobalRPM         int
	GlobalConcurrency int
	// GlobalBudget is the gateway's credit budget (0: none) per
	// GlobalBudgetPeriod.
	GlobalBudget       credits.Amount
	GlobalBudgetPeriod string

	Metrics     bool
	MetricsAddr string

	PprofAddr string // net/http/pprof on a separate loopback listener

	// GCHeadroom is the least heap growth between two garbage collections
	// (gctune); 0 leaves Go's default pace.
	GCHeadroom bytesize.Size

	Console        bool          // the web console at /console/
	ConsoleSession time.Duration // how long a console sign-in lasts

	ModelAliases modelAliases

	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client (--trusted-proxy); none: the peer is the client.
	TrustedProxies trustedProxies

	// Demo is set by the demo command only (no flag): every log line and
	// every response is marked as demo (see demo.go).
	Demo bool
}

// serveFlags declares the serve settings on a new FlagSet.
func serveFlags(cfg *serveConfig, getenv func(string) string) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg.MaxBody = 10 << 20
	cfg.GCHeadroom = defaultGCHeadroom
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "listen address (host:port)")
	fs.StringVar(&cfg.GitHubAPIURL, "github-api-url", defaultGitHubAPIURL, "GitHub API base URL (for GitHub Enterprise: https://HOST/api/v3 or https://api.DOMAIN)")
	fs.StringVar(&cfg.CopilotAPIURL, "copilot-api-url", "", "Copilot API base URL (default: endpoints.api of the Copilot token, else https://api.githubcopilot.com)")
	fs.StringVar(&cfg.GitHubTokenFile, "github-token-file", "", "`file` holding the GitHub OAuth token (the token itself is only ever read from COPILOT_PROXY_GITHUB_TOKEN or a file)")
	fs.StringVar(&cfg.LogFormat, "log-format", "", "log format: json or console (default: console when stderr is a terminal, else json)")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&cfg.UpstreamCA, "upstream-ca", "", "PEM `file` of certificate authorities to trust for GitHub and Copilot besides the system's (a TLS-intercepting corporate proxy's)")
	fs.DurationVar(&cfg.UpstreamTimeout, "upstream-timeout", 10*time.Minute, "how long to wait for upstream response headers (a non-stream answer arrives whole, after the full generation)")
	fs.DurationVar(&cfg.StreamIdleTimeout, "stream-idle-timeout", 5*time.Minute, "longest silence allowed inside an upstream stream")
	fs.DurationVar(&cfg.Keepalive, "keepalive", 15*time.Second, "send a \": ping\" SSE comment after this much upstream silence (0 disables)")
	fs.Var(&cfg.MaxBody, "max-body", "request body limit (e.g. 10MiB)")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGINT/SIGTERM, how long in-flight requests and streams may take to finish")
	fs.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", 10*time.Second, "how long a client may take to send its request headers (slow-loris clients are cut)")
	cfg.Editor = editorFlags(fs)
	fs.StringVar(&cfg.DB, "db", keys.DefaultPath(getenv), "key store database `file` (client keys and usage)")
	fs.StringVar(&cfg.DatabaseURL, "database-url", "", "key store URL instead of --db: postgres://USER:PASS@HOST/DB (shared by several instances) or sqlite://PATH")
	fs.StringVar(&cfg.RedisURL, "redis-url", "", "Redis URL (redis:// or rediss://) sharing rate limits and budgets between instances; without it limits are per instance")
	fs.StringVar(&cfg.RedisFailure, "redis-failure", "closed", "when Redis is unreachable: closed (limited requests get 503 limits_unavailable) or open (limits fall back to per instance)")
	fs.DurationVar(&cfg.RedisLeaseTTL, "redis-lease-ttl", 30*time.Second, "how long a concurrency slot or budget reservation outlives an instance that died holding it")
	fs.BoolVar(&cfg.NoAuth, "no-auth", false, "serve without client keys (single-user; only on a loopback address)")
	fs.StringVar(&cfg.AdminTokenFile, "admin-token-file", "", "`file` holding the admin token that enables /admin/* (or set COPILOT_PROXY_ADMIN_TOKEN)")
	fs.IntVar(&cfg.KeyRPM, "key-rpm", middleware.DefaultKeyRPM, "requests per minute per key, for keys without their own limit (0 = unlimited)")
	fs.IntVar(&cfg.KeyTPM, "key-tpm", middleware.DefaultKeyTPM, "tokens per minute per key, for keys without their own limit (0 = unlimited)")
	fs.IntVar(&cfg.KeyConcurrency, "key-concurrency", middleware.DefaultKeyConcurrency, "concurrent requests per key, for keys without their own limit (0 = unlimited)")
	fs.IntVar(&cfg.GlobalRPM, "global-rpm", middleware.DefaultGlobalRPM, "requests per minute for the whole gateway, protecting the one Copilot account (0 = unlimited)")
	fs.IntVar(&cfg.GlobalConcurrency, "global-concurrency", middleware.DefaultGlobalConcurrency, "concurrent requests for the whole gateway (0 = unlimited)")
	fs.Var(&cfg.GlobalBudget, "global-budget", "AI credits (1 credit = $0.01) the whole gateway may spend per --global-budget-period, protecting the account (0 = no budget)")
	fs.StringVar(&cfg.GlobalBudgetPeriod, "global-budget-period", "month", "period of --global-budget: day, week or month (UTC calendar periods; month follows the account's quota reset date when known)")
	fs.BoolVar(&cfg.Metrics, "metrics", false, "serve Prometheus metrics at /metrics on --addr (behind the admin token when one is set)")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "serve Prometheus metrics at /metrics on this separate address only (host:port), instead of --addr")
	fs.Var(&cfg.ModelAliases, "model-alias", "map a model id clients send to a Copilot model: from=to (repeatable, or comma-separated; env COPILOT_PROXY_MODEL_ALIASES)")
	fs.Var(&cfg.TrustedProxies, "trusted-proxy", "believe X-Forwarded-For from this reverse proxy: an IP `address` or CIDR range (repeatable, or comma-separated); "+
		"the client is the rightmost entry not trusted, for the failed-authentication throttles and the access log (default: none, the peer is the client)")
	configFlag(fs)
	fs.StringVar(&cfg.PprofAddr, "pprof-addr", "", "serve net/http/pprof on this loopback address (host:port), for profiling; off by default")
	fs.Var(&cfg.GCHeadroom, "gc-headroom", "let the heap grow at least this much between two garbage collections: less CPU under load for at most this much more memory (0 = Go's own pace; GOGC or GOMEMLIMIT in the environment turn it off)")
	fs.BoolVar(&cfg.Console, "console", true, "serve the web console at /console/ (it answers only once an admin token is set or a client key exists; --console=false turns it off)")
	fs.DurationVar(&cfg.ConsoleSession, "console-session", 12*time.Hour, "how long a web console sign-in lasts")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: copilot-proxy serve [flags]\n\nRuns the gateway. Every flag --some-name can also be set with the environment\nvariable COPILOT_PROXY_SOME_NAME, and in the YAML file of --config as\nsome-name: VALUE; a flag wins over the environment, which wins over the file.\nThe GitHub token is read from COPILOT_PROXY_GITHUB_TOKEN or --github-token-file\n(never a flag), then GH_COPILOT_TOKEN / GITHUB_COPILOT_TOKEN, then the file\nthe login command saves (~/.config/copilot-proxy/github-token), then the\neditor plugins' ~/.config/github-copilot/{hosts,apps}.json.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// validate checks settings that the flag types cannot.
func (c *serveConfig) validate() error {
	_, levelErr := logging.ParseLevel(c.LogLevel)
	const negative, positive = "must not be negative (0 = unlimited)", "must be positive"
	for _, ch := range []struct {
		flag string
		bad  bool
		msg  string
	}{
		{"addr", !isHostPort(c.Addr), "want host:port, e.g. 127.0.0.1:8080"},
		{"github-api-url", !isHTTPURL(c.GitHubAPIURL), "want an absolute http(s) URL"},
		{"copilot-api-url", c.CopilotAPIURL != "" && !isHTTPURL(c.CopilotAPIURL), "want an absolute http(s) URL"},
		{"log-format", !logging.ValidFormat(c.LogFormat), "want json or console"},
		{"log-level", levelErr != nil, "want debug, info, warn or error"},
		{"upstream-timeout", c.UpstreamTimeout <= 0, positive},
		{"stream-idle-timeout", c.StreamIdleTimeout <= 0, positive},
		{"keepalive", c.Keepalive < 0, "must not be negative (0 disables)"},
		{"max-body", c.MaxBody <= 0, positive},
		{"read-header-timeout", c.ReadHeaderTimeout <= 0, positive},
		{"shutdown-timeout", c.ShutdownTimeout < 0, "must not be negative"},
		{"metrics-addr", c.MetricsAddr != "" && !isHostPort(c.MetricsAddr), "want host:port, e.g. 127.0.0.1:9090"},
		{"pprof-addr", c.PprofAddr != "" && !isLoopbackAddr(c.PprofAddr), "must be a loopback address such as 127.0.0.1:6060 (profiles show internals)"},
		{"console-session", c.ConsoleSession < time.Minute, "must be at least 1m"},
		{"db", c.DB == "" && c.DatabaseURL == "", "no path: set --db, or HOME / XDG_DATA_HOME for the default location"},
		{"redis-failure", !slices.Contains(redisFailureModes, c.RedisFailure), "want closed or open"},
		{"redis-lease-ttl", c.RedisLeaseTTL < time.Second, "must be at least 1s"},
		{"key-rpm", c.KeyRPM < 0, negative},
		{"key-tpm", c.KeyTPM < 0, negative},
		{"key-concurrency", c.KeyConcurrency < 0, negative},
		{"global-rpm", c.GlobalRPM < 0, negative},
		{"global-concurrency", c.GlobalConcurrency < 0, negative},
		{"global-budget-period", !validPeriod(c.GlobalBudgetPeriod), "want day, week or month"},
	} {
		if ch.bad {
			return fmt.Errorf("%w: invalid --%s (%s): %s", errUsage, ch.flag, envName(ch.flag), ch.msg)
		}
	}
	return nil
}

// redisFailureModes are --redis-failure's values, as redislimits spells
// them; validation and completion both use the list.
var redisFailureModes = []string{redislimits.FailClosed.String(), redislimits.FailOpen.String()}

func validPeriod(p string) bool {
	_, err := credits.ParsePeriod(p)
	return err == nil
}

func isHostPort(addr string) bool {
	_, _, err := net.SplitHostPort(addr)
	return err == nil
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
	if _, err := applySettings(fs, getenv); err != nil {
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
	// Start-up (flags, migrations, the CA pool, the console's templates)
	// leaves garbage that Go's 4 MB minimum heap target would keep until the
	// first collection under load: collect it and give its pages back
	// before serving (about 1.4 MiB of an idle gateway's 7 MiB of private
	// memory, for one collection of about a millisecond).
	debug.FreeOSMemory()
	if hook := listenHookFrom(ctx); hook != nil {
		hook(a.Addr())
	}
	return a.Run(ctx)
}

// defaultGCHeadroom is --gc-headroom's default. An idle gateway keeps about
// 2 MiB live and one under load a few MiB more: Go's pace (collect when the
// heap doubles, 4 MiB at the least) meant a collection every 2–7 MiB of
// allocation, a few hundred requests. 16 MiB spaces them 2 to 8 times wider
// at those sizes, and costs nothing once the live heap is larger (a
// thousand held streams).
const defaultGCHeadroom = 16 << 20

// startGCTuner gives the garbage collector headroom (see gctune) unless the
// environment sets GOGC or GOMEMLIMIT: then the operator's tuning wins.
func startGCTuner(headroom bytesize.Size, getenv func(string) string) *gctune.Tuner {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		headroom = 0
	}
	return gctune.Start(uint64(headroom))
}

// listenHookKey carries a function that is told the API's listen address
// once serve listens: how tests learn a port chosen with --addr host:0.
type listenHookKey struct{}

func listenHookFrom(ctx context.Context) func(net.Addr) {
	f, _ := ctx.Value(listenHookKey{}).(func(net.Addr))
	return f
}

// findGitHubToken looks for the GitHub token where serve, status, login and
// logout all look (see githubtoken.Find).
func findGitHubToken(getenv func(string) string, file string) (githubtoken.Token, []githubtoken.Warning, error) {
	return githubtoken.Find(githubtoken.Options{Getenv: getenv, File: file, EditorClientID: copilot.DefaultClientID})
}

// modelAliases is the --model-alias flag: from=to pairs, repeatable or
// comma-separated.
type modelAliases map[string]string

func (m *modelAliases) String() string {
	var pairs []string
	for from, to := range *m {
		pairs = append(pairs, from+"="+to)
	}
	slices.Sort(pairs)
	return strings.Join(pairs, ",")
}

func (m *modelAliases) Set(s string) error {
	if *m == nil {
		*m = modelAliases{}
	}
	for _, pair := range strings.Split(s, ",") {
		from, to, ok := strings.Cut(strings.TrimSpace(pair), "=")
		from, to = strings.TrimSpace(from), strings.TrimSpace(to)
		if !ok || from == "" || to == "" || from == to {
			return fmt.Errorf("want from=to, e.g. fast=gpt-4o (got %q)", pair)
		}
		(*m)[from] = to
	}
	return nil
}

// trustedProxies is the --trusted-proxy flag: IP addresses and CIDR
// ranges, repeatable or comma-separated (see middleware.ParseTrustedProxy).
type trustedProxies []netip.Prefix

func (p *trustedProxies) String() string { return strings.Join(p.values(), ",") }

// Set adds every comma-separated address or range of s; an empty one is
// an error, like any value that is not an address or a range.
func (p *trustedProxies) Set(s string) error {
	for _, item := range strings.Split(s, ",") {
		prefix, err := middleware.ParseTrustedProxy(item)
		if err != nil {
			return err
		}
		*p = append(*p, prefix)
	}
	return nil
}

// values lists the addresses and ranges, a single address without its
// /32 or /128 (config print writes them as a list).
func (p *trustedProxies) values() []string {
	out := []string{}
	for _, prefix := range *p {
		if prefix.IsSingleIP() {
			out = append(out, prefix.Addr().String())
		} else {
			out = append(out, prefix.String())
		}
	}
	return out
}
