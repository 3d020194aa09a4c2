// Package keys is copilot-proxy's client-key store: the issued keys (secrets
// only as SHA-256), their limits and their usage per model and day. It is the
// one implementation behind the `keys` and `usage` CLI commands, the admin
// HTTP API and the auth middleware.
//
// Two databases hold it, with one Store type and one behaviour: an embedded
// SQLite file (Open, the default, nothing to install) and PostgreSQL (OpenURL
// with a postgres:// URL), which several gateway instances share. What
// differs between them (driver, migrations, a few SQL fragments, error
// mapping) is a dialect; the key cache, the usage batching and the
// transactions are the same code over database/sql.
//
// Several processes may use one database at once (serve and the CLI, or
// several instances). A running Store notices a change to the keys by
// polling a generation counter that triggers bump on every change to keys and
// secrets (SQLite migration 0002, PostgreSQL 0001), every PollInterval
// (250 ms), so a key created, updated, revoked or rotated anywhere takes
// effect everywhere within one interval. Polling, not LISTEN/NOTIFY: it is
// one tiny indexed read, works the same on both databases, and cannot miss a
// change across a lost connection. Usage is flushed as upserts that add, so
// the counts of several instances add up exactly.
package keys

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// migrationsFS holds each database's schema migrations, applied in
// file-name order.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationsFS embed.FS

const (
	defaultPollInterval = 250 * time.Millisecond
	// defaultFlushInterval bounds how long usage waits in memory: a record
	// is committed at the next tick, so within this period plus one write
	// (the crash bound the README states is 250 ms).
	defaultFlushInterval = 200 * time.Millisecond

	// flushTimeout bounds one flush (the final one in Close included): long
	// enough to wait out another process's write lock (busy_timeout, row
	// locks) a few times; short enough that a database that stopped
	// answering does not hold the write lock of this Store for good.
	flushTimeout = 30 * time.Second

	// pollTimeout bounds one poll (generation read and reload), so a
	// network that stops answering cannot stall the poller for good.
	pollTimeout = 10 * time.Second
)

// Options tunes a Store. The zero value is usable.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives background errors (poll, flush). It never sees a
	// secret.
	Logger zerolog.Logger
	// PollInterval is how often to check for changes made by another
	// process (the CLI while serve runs, another instance); 0 means 250ms.
	PollInterval time.Duration
	// FlushInterval is the usage batch flush period; 0 means 200ms, the
	// most usage a crash can lose.
	FlushInterval time.Duration
}

// Store is an open key store. Its methods are safe for concurrent use.
type Store struct {
	// location names the store in messages: the SQLite file's absolute
	// path, or the PostgreSQL URL without its password.
	location   string
	d          *dialect
	db         *sql.DB
	pollConn   *sql.Conn // dedicated to the generation poller, so it never waits for the pool
	now        func() time.Time
	log        zerolog.Logger
	pollEvery  time.Duration
	flushEvery time.Duration

	// writeMu serialises this Store's write transactions, so they queue in
	// Go instead of in the database's lock waits.
	writeMu sync.Mutex

	// cache is the hot-path view for Authenticate, replaced whole on reload.
	cache atomic.Pointer[cache]
	// reloadMu makes each reload's query and publication one step, so a
	// reload that read older data can never overwrite a newer one.
	reloadMu sync.Mutex
	// misses rations the store lookups of secrets not in cache.
	misses missCache
	// usesMu guards uses: the last-used marks per key id, kept across
	// reloads.
	usesMu sync.Mutex
	uses   map[string]*keyUse

	// usageMu guards pending and closed.
	usageMu sync.Mutex
	pending map[usageKey]usageCounts
	closed  bool
	// flushMu serialises flushes, so a failed batch can be merged back
	// before the next one is taken.
	flushMu sync.Mutex

	stop      context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// DefaultPath is where the key store lives unless configured:
// $XDG_DATA_HOME/copilot-proxy/copilot-proxy.db, else
// $HOME/.local/share/copilot-proxy/copilot-proxy.db. A relative
// XDG_DATA_HOME is ignored, as the XDG spec asks. It returns "" when neither
// variable is usable.
func DefaultPath(getenv func(string) string) string {
	if d := getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "copilot-proxy", "copilot-proxy.db")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "share", "copilot-proxy", "copilot-proxy.db")
	}
	return ""
}

// OpenURL opens the key store a database URL names and applies pending
// migrations:
//   - postgres:// or postgresql:// opens PostgreSQL, with pgx's URL
//     parameters (sslmode, connect_timeout, search_path, ...). Several
//     gateway instances may share the database. The schema is created in
//     the first schema of the search_path, so the user needs CREATE there
//     on first start;
//   - sqlite://PATH or a plain PATH opens that SQLite file, as Open does
//     (sqlite:///var/lib/keys.db is absolute, sqlite://keys.db relative).
//
// Error messages name the URL without its password.
func OpenURL(ctx context.Context, url string, opts Options) (*Store, error) {
	scheme, rest, hasScheme := strings.Cut(url, "://")
	switch {
	case url == "":
		return nil, errors.New("cannot open key store: no database URL or path given (set --database-url or --db)")
	case !hasScheme:
		return Open(ctx, url, opts)
	}
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		return openPostgres(ctx, url, opts)
	case "sqlite":
		if rest == "" {
			return nil, errors.New("cannot open key store: sqlite:// needs a path, as in sqlite:///var/lib/copilot-proxy/keys.db")
		}
		return Open(ctx, rest, opts)
	}
	// Only the scheme: the rest may hold a password.
	return nil, fmt.Errorf("cannot open key store: unsupported database URL scheme %q (want postgres://, postgresql://, sqlite:// or a file path)", scheme)
}

// newStore is a Store with its options applied, not yet connected.
func newStore(location string, d *dialect, opts Options) *Store {
	s := &Store{
		location:   location,
		d:          d,
		now:        opts.Now,
		log:        opts.Logger,
		pollEvery:  opts.PollInterval,
		flushEvery: opts.FlushInterval,
		uses:       make(map[string]*keyUse),
		pending:    make(map[usageKey]usageCounts),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.pollEvery <= 0 {
		s.pollEvery = defaultPollInterval
	}
	if s.flushEvery <= 0 {
		s.flushEvery = defaultFlushInterval
	}
	return s
}

// start connects s to db: it checks the connection, migrates, loads the
// cache and starts the poller and the flusher. On failure db is closed.
func (s *Store) start(ctx context.Context, db *sql.DB) error {
	s.db = db
	fail := func(err error) error {
		if s.pollConn != nil {
			_ = s.pollConn.Close()
		}
		_ = db.Close()
		return err
	}
	if err := db.PingContext(ctx); err != nil {
		return fail(err)
	}
	if err := s.d.migrate(ctx, db); err != nil {
		return fail(err)
	}
	var err error
	if s.pollConn, err = db.Conn(ctx); err != nil {
		return fail(err)
	}
	// Read the generation before the first load: a change in between then
	// shows up at the first poll instead of being missed.
	version, err := s.generation(ctx)
	if err != nil {
		return fail(err)
	}
	if err := s.reload(ctx); err != nil {
		return fail(err)
	}
	bg, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.wg.Add(2)
	go s.pollLoop(bg, version)
	go s.flushLoop(bg)
	return nil
}

// migrationNames lists the migrations in dir, in the order they apply.
func migrationNames(dir string) ([]string, error) {
	names, err := fs.Glob(migrationsFS, dir+"/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

// errNewerSchema refuses a database a newer build has migrated: this build
// would misread it.
func errNewerSchema(version, known int) error {
	return fmt.Errorf("schema version %d is newer than this build knows (%d); upgrade copilot-proxy", version, known)
}

// Ping reports whether the store is reachable (readiness).
func (s *Store) Ping(ctx context.Context) error {
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM keys").Scan(&n); err != nil {
		return fmt.Errorf("key store %s: %w", s.location, err)
	}
	return nil
}

// Close stops the background work, flushes pending usage and closes the
// database. Usage recorded after Close is dropped, so stop serving first.
// Close is idempotent; later calls return the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		s.wg.Wait()
		s.usageMu.Lock()
		s.closed = true
		s.usageMu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		defer cancel()
		var errs []error
		if err := s.Flush(ctx); err != nil {
			errs = append(errs, err)
		}
		if err := s.pollConn.Close(); err != nil && !errors.Is(err, sql.ErrConnDone) {
			errs = append(errs, err)
		}
		if err := s.db.Close(); err != nil {
			errs = append(errs, err)
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// pollLoop reloads the cache when the keys changed, as seen by the
// key_generation counter the schema's triggers bump on every change to keys
// and secrets, whichever process or connection made it. (SQLite's PRAGMA
// data_version would also move on every usage flush, reloading the whole
// cache each second for nothing.) The generation is read before the reload,
// so the cache is never older than the generation it is marked with.
func (s *Store) pollLoop(ctx context.Context, last int64) {
	defer s.wg.Done()
	t := time.NewTicker(s.pollEvery)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		v, err := s.poll(ctx, last)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// Log the first failure of a run, not one per tick.
			if !failing {
				s.log.Warn().Err(err).Msg("key store: cannot refresh keys; retrying")
			}
			failing = true
			s.renewPollConn(ctx)
			continue
		}
		if failing {
			s.log.Info().Msg("key store: refreshing keys works again")
			failing = false
		}
		last = v
	}
}

// poll reads the generation and reloads the cache if it moved from last.
func (s *Store) poll(ctx context.Context, last int64) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, pollTimeout)
	defer cancel()
	v, err := s.generation(ctx)
	if err == nil && v != last {
		err = s.reload(ctx)
	}
	return v, err
}

// renewPollConn replaces the poller's connection after a failure: a
// PostgreSQL connection the server or the network dropped stays broken,
// and the pool cannot swap a connection held outside it.
func (s *Store) renewPollConn(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, pollTimeout)
	defer cancel()
	c, err := s.db.Conn(ctx)
	if err != nil {
		return // keep the old one; the next tick tries again
	}
	_ = s.pollConn.Close()
	s.pollConn = c
}

// generation reads the key_generation counter.
func (s *Store) generation(ctx context.Context) (int64, error) {
	var v int64
	err := s.pollConn.QueryRowContext(ctx, "SELECT n FROM key_generation").Scan(&v)
	return v, err
}

// flushLoop writes the usage batch every flushEvery.
func (s *Store) flushLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.flushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fctx, cancel := context.WithTimeout(ctx, flushTimeout)
		err := s.Flush(fctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			// The batch was kept; the next tick retries it.
			s.log.Warn().Err(err).Msg("key store: usage flush failed; will retry")
		}
	}
}
