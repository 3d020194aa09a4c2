// Package redislimits shares the gateway's limits between instances through
// Redis: the request, token and concurrency counters (middleware.LimitStore)
// and the credit budgets (middleware.BudgetStore), with the exactness of the
// in-memory stores. Every decision is one Lua script, atomic on the server;
// time is Redis's own, so instances with skewed clocks agree.
//
//	rl, err := redislimits.New(redislimits.Config{URL: url, Failure: redislimits.FailClosed, Logger: log})
//	defer rl.Close()
//	limiter := middleware.NewLimiter(middleware.LimitConfig{..., Store: rl})
//	budgets := middleware.NewBudgets(middleware.BudgetConfig{..., Store: rl})
//
// Redis Cluster: every key one script touches carries the same hash tag, so
// it lives in one slot. A request that counts against a global limit touches
// the global counters and its key's in one script, so with a global limit
// set every limit key uses the tag {g} (one slot: the global counters are a
// single hot spot whatever the layout, and splitting them from the key's
// would need a compensating second step that could briefly refuse requests
// that fit). Without global limits each key has its own tag {k:<id>} and
// keys spread over the cluster. Budgets follow the same rule with the global
// budget. All instances must run with the same limits configuration.
//
// When Redis cannot be reached (or errs) the Failure mode decides: closed
// refuses (the middleware answers 503 limits_unavailable), open counts in
// this instance's memory, for that call. A circuit breaker opens after three
// failed calls in a row, or at once when a connection is refused, reset or
// cannot be dialled (one slow call does not open it); open, it stops trying
// for ProbeInterval and then lets one call probe, and only a call made after
// it opened can close it. The outage and the recovery are logged once each
// and reported to OnFallback.
package redislimits

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// Failure is what requests get while Redis is unreachable.
type Failure int

const (
	// FailClosed refuses requests with 503 limits_unavailable (the default:
	// unchecked requests could break the limits protecting the account).
	FailClosed Failure = iota
	// FailOpen counts in this instance's memory: per-instance limits.
	FailOpen
)

// ParseFailure reads "closed" or "open" ("" is closed).
func ParseFailure(s string) (Failure, error) {
	switch s {
	case "", "closed":
		return FailClosed, nil
	case "open":
		return FailOpen, nil
	}
	return FailClosed, fmt.Errorf("redis failure mode must be open or closed, not %q", s)
}

// String is the mode's flag value, "closed" or "open".
func (f Failure) String() string {
	if f == FailOpen {
		return "open"
	}
	return "closed"
}

// Defaults for Config.
const (
	DefaultLeaseTTL      = 30 * time.Second
	DefaultTimeout       = 250 * time.Millisecond
	DefaultProbeInterval = time.Second
	DefaultPrefix        = "cpx"
)

// ErrUnavailable is returned (closed mode) while the breaker keeps calls
// away from an unreachable Redis.
var ErrUnavailable = errors.New("redislimits: Redis is unreachable (retrying shortly)")

// Config configures a Client.
type Config struct {
	// URL is a redis:// or rediss:// URL (see redis.ParseURL). Unused
	// with Client.
	URL string
	// Client is used instead of URL when set (e.g. a *redis.ClusterClient);
	// Close leaves it open.
	Client redis.UniversalClient
	// Failure is the behaviour while Redis is unreachable.
	Failure Failure
	// LeaseTTL is how long a concurrency slot or a budget reservation
	// outlives an instance that died holding it; leases are renewed every
	// LeaseTTL/3 while their request runs. Default DefaultLeaseTTL.
	LeaseTTL time.Duration
	// Timeout bounds each Redis call. Default DefaultTimeout.
	Timeout time.Duration
	// ProbeInterval is how long the breaker, once open, waits before it
	// tries Redis again. Default DefaultProbeInterval.
	ProbeInterval time.Duration
	// Prefix starts every key. Default DefaultPrefix.
	Prefix string
	// Logger gets a warning when Redis becomes unreachable and a line when
	// it is back, once per outage.
	Logger zerolog.Logger
	// OnFallback is called with true when Redis becomes unreachable (the
	// failure mode applies) and with false when it is back (for a metric);
	// nil: none.
	OnFallback func(active bool)

	// window is the rate window; tests shorten it. Default one minute.
	window time.Duration
}

// Client counts the limits and budgets of every instance sharing one Redis.
// It implements middleware.LimitStore and middleware.BudgetStore. Create it
// with New; Close it after the server stopped.
type Client struct {
	cfg      Config
	rdb      redis.UniversalClient
	owned    bool // rdb was made by New
	instance string
	seq      atomic.Uint64
	br       *breaker
	leases   leaseSet
	names    sync.Map // layout+key id → *limitNames

	// The failure-open stores: this instance's own counts.
	memLimits  *middleware.MemoryLimits
	memBudgets *middleware.MemoryBudgets

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

var (
	_ middleware.LimitStore  = (*Client)(nil)
	_ middleware.BudgetStore = (*Client)(nil)
)

// urlError describes a Redis URL that cannot be used without quoting it:
// net/url's errors carry the whole URL, password included.
func urlError(err error) error {
	if _, ok := errors.AsType[*url.Error](err); ok {
		return errors.New("the Redis URL cannot be parsed; want redis://[user:password@]host:port/db (the URL is not shown: it may hold a password)")
	}
	return fmt.Errorf("redis URL: %w", err) // go-redis's own messages name the option, not the URL
}

// New returns a Client for cfg and starts its lease renewal loop. It does
// not dial: an unreachable Redis shows at the first call (see Ping).
func New(cfg Config) (*Client, error) {
	cfg = withDefaults(cfg)
	rdb, owned := cfg.Client, false
	if rdb == nil {
		opt, err := redis.ParseURL(cfg.URL)
		if err != nil {
			return nil, urlError(err)
		}
		rdb, owned = redis.NewClient(clientOptions(opt, cfg.Timeout)), true
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	c := &Client{
		cfg: cfg, rdb: rdb, owned: owned, instance: hex.EncodeToString(id[:]),
		memLimits: middleware.NewMemoryLimits(nil), memBudgets: middleware.NewMemoryBudgets(),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	c.leases.m = map[string]map[string]struct{}{}
	c.br = &breaker{interval: cfg.ProbeInterval, onChange: c.outage}
	go c.loop()
	return c, nil
}

func withDefaults(cfg Config) Config {
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.ProbeInterval <= 0 {
		cfg.ProbeInterval = DefaultProbeInterval
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.window <= 0 {
		cfg.window = time.Minute
	}
	return cfg
}

// clientOptions bounds every step of a call by timeout and turns retries
// off: the breaker, not a retry storm, handles an outage.
func clientOptions(opt *redis.Options, timeout time.Duration) *redis.Options {
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.PoolTimeout = timeout, timeout, timeout, timeout
	opt.ContextTimeoutEnabled = true
	opt.MaxRetries = -1
	opt.DialerRetries = 1
	opt.DisableIdentity = true // no CLIENT SETINFO round trip per connection
	return opt
}

// Ping checks that Redis answers within the call timeout (for readiness).
// Its outcome feeds the breaker, so it also ends an outage.
func (c *Client) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	gen := c.br.current()
	err := c.rdb.Ping(ctx).Err()
	c.br.done(gen, err)
	return err
}

// Close stops the lease renewal and closes the connections (unless the
// Redis client was given in Config). Leases still held then expire after
// LeaseTTL. Safe to call more than once.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.stop)
		<-c.done
		if c.owned {
			err = c.rdb.Close()
		}
	})
	return err
}

// outage logs and reports a change of Redis's reachability.
func (c *Client) outage(down bool, err error) {
	if down {
		msg := "Redis is unreachable: limited requests are refused with 503 until it is back"
		if c.cfg.Failure == FailOpen {
			msg = "Redis is unreachable: limits fall back to this instance's own counts until it is back"
		}
		c.cfg.Logger.Warn().Str("error", errText(err)).Str("redis_failure", c.cfg.Failure.String()).Msg(msg)
	} else {
		c.cfg.Logger.Info().Msg("Redis is reachable again: limits are shared again")
	}
	if c.cfg.OnFallback != nil {
		c.cfg.OnFallback(down)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// newID returns an id unique across instances and requests.
func (c *Client) newID() string {
	return c.instance + ":" + strconv.FormatUint(c.seq.Add(1), 36)
}

// callCtx bounds one Redis call; the caller's cancellation (a client that
// left) must not cut a call that counts.
func (c *Client) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), c.cfg.Timeout)
}

// micros is d in microseconds, Redis's time unit in the scripts.
func micros(d time.Duration) int64 { return int64(d / time.Microsecond) }

// SetDriverLogger sends go-redis's own log lines (a failed dial per
// attempt during an outage, which the Client already reports once) to l
// at debug level instead of the standard logger. go-redis has one logger
// per process, so call it once, at startup.
func SetDriverLogger(l zerolog.Logger) { redis.SetLogger(driverLogger{l}) }

type driverLogger struct{ l zerolog.Logger }

func (d driverLogger) Printf(_ context.Context, format string, v ...any) {
	d.l.Debug().Msgf(format, v...)
}
