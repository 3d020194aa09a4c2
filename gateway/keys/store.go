// Package keys is copilot-proxy's client-key store: an embedded SQLite file
// holding the issued keys (secrets only as SHA-256), their limits and their
// usage per model and day. It is the one implementation behind the `keys` and
// `usage` CLI commands, the admin HTTP API and the auth middleware.
//
// Several processes may share the file at once (the server and the CLI): the
// database runs in WAL mode, writers wait for each other (busy_timeout), and a
// running Store notices a change to the keys by polling a generation counter
// that triggers bump (migration 0002), so a key created, revoked or rotated
// from the CLI takes effect in the server within one poll interval.
package keys

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// migrationsFS holds the schema migrations, applied in file-name order.
//
//go:embed migrations/*.sql
var migrationsFS embed.FS

const (
	defaultPollInterval = 250 * time.Millisecond
	// defaultFlushInterval bounds how long usage waits in memory: a record
	// is committed at the next tick, so within this period plus one write
	// (the crash bound the README states is 250 ms).
	defaultFlushInterval = 200 * time.Millisecond

	// closeFlushTimeout bounds the final flush in Close: long enough to wait
	// out another process's write lock (busy_timeout) a few times.
	closeFlushTimeout = 30 * time.Second

	// maxConns caps the connection pool. One connection is held for the
	// generation poller; SQLite admits one writer at a time anyway, so more
	// connections would only add lock waiting.
	maxConns = 4

	// applicationID marks the file as a copilot-proxy key store
	// (PRAGMA application_id), so another program's SQLite file is refused
	// rather than migrated. "cpks" in ASCII.
	applicationID = 0x63706b73

	// dsnParams configures every connection the driver opens: modernc applies
	// each _pragma on each new connection, which matters because busy_timeout,
	// foreign_keys and synchronous are per-connection settings.
	dsnParams = "" +
		// Wait up to 5 s for another connection's write lock (the CLI's
		// while serve runs, or the reverse) instead of failing with
		// SQLITE_BUSY at once.
		"_pragma=busy_timeout(5000)" +
		// WAL: readers do not block the writer nor the writer readers, so
		// serve and the CLI can share the file. Persistent in the file.
		"&_pragma=journal_mode(WAL)" +
		// Enforce REFERENCES (secrets and usage belong to a key); SQLite
		// leaves them unchecked unless asked, per connection.
		"&_pragma=foreign_keys(1)" +
		// NORMAL is safe with WAL (no corruption on a crash; at worst the
		// last commit is lost on power failure) and fsyncs far less than
		// FULL.
		"&_pragma=synchronous(NORMAL)" +
		// Write transactions take the write lock at BEGIN, where
		// busy_timeout applies; a deferred transaction upgrading from read
		// to write can fail with SQLITE_BUSY at once under WAL. Every
		// transaction in this package writes; reads are single statements.
		"&_txlock=immediate"
)

// Options tunes a Store. The zero value is usable.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives background errors (poll, flush). It never sees a
	// secret.
	Logger zerolog.Logger
	// PollInterval is how often to check for changes made by another
	// process (the CLI while serve runs); 0 means 250ms.
	PollInterval time.Duration
	// FlushInterval is the usage batch flush period; 0 means 200ms, the
	// most usage a crash can lose.
	FlushInterval time.Duration
}

// Store is an open key store. Its methods are safe for concurrent use.
type Store struct {
	path       string
	db         *sql.DB
	pollConn   *sql.Conn // dedicated to the generation poller, so it never waits for the pool
	now        func() time.Time
	log        zerolog.Logger
	pollEvery  time.Duration
	flushEvery time.Duration

	// writeMu serialises this Store's write transactions, so they queue in
	// Go instead of in SQLite's sleeping busy handler.
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

// Open opens the key store at path, creating the file (mode 0600) and its
// missing folders (mode 0700) if needed, and applies pending migrations. An
// unusable path or a file that is not a key store gives an error that names
// the path and says what is wrong. ctx bounds only the opening; Close stops
// the background work.
//
// SQLite creates the -wal and -shm files next to the database with the
// database file's permissions, so they are 0600 too.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("cannot open key store: no path given (set --db or COPILOT_PROXY_DB)")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open key store %s: %w", path, err)
	}
	s := &Store{
		path:       abs,
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
	if err := s.prepareFile(); err != nil {
		return nil, fmt.Errorf("cannot open key store %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", dsn(abs))
	if err != nil {
		return nil, fmt.Errorf("cannot open key store %s: %w", path, err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	s.db = db
	fail := func(err error) (*Store, error) {
		if s.pollConn != nil {
			_ = s.pollConn.Close()
		}
		_ = db.Close()
		return nil, fmt.Errorf("cannot open key store %s: %s", path, describe(err))
	}
	// Connecting runs the DSN pragmas; journal_mode reads the header, so a
	// file that is not a database fails here.
	if err := db.PingContext(ctx); err != nil {
		return fail(err)
	}
	if err := migrate(ctx, db); err != nil {
		return fail(err)
	}
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
	return s, nil
}

// tightenFolder makes the store's own folder (named copilot-proxy, as the
// default location is) 0700 even when it already existed with a wider
// mode: others must not list, replace or remove the database and its WAL.
// A folder the user chose with another name (such as /tmp) is theirs and
// is left alone, with a warning when it is open to others; the files in
// it are 0600 either way.
func (s *Store) tightenFolder(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("cannot check its folder: %w", pathless(err))
	}
	perm := fi.Mode().Perm()
	if perm&0o077 == 0 {
		return nil
	}
	if filepath.Base(dir) == "copilot-proxy" {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("cannot restrict its folder to mode 0700: %w", pathless(err))
		}
		return nil
	}
	s.log.Warn().Str("folder", dir).Str("mode", fmt.Sprintf("%04o", perm)).
		Msg("key store folder is open to other users; the database files are 0600, but consider a private folder")
	return nil
}

// prepareFile creates the folder and the file with the right modes before
// SQLite touches them, so the modes do not depend on the umask.
func (s *Store) prepareFile() error {
	dir := filepath.Dir(s.path)
	// MkdirAll leaves an existing folder alone; tightenFolder then deals
	// with one that is open to others.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create its folder: %w", err)
	}
	if err := s.tightenFolder(dir); err != nil {
		return err
	}
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		// New file: set the mode exactly, whatever the umask took away.
		err = f.Chmod(0o600)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("cannot create the file: %w", pathless(err))
		}
		return nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("cannot create the file: %w", pathless(err))
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		return pathless(err)
	}
	switch {
	case fi.IsDir():
		return errors.New("it is a folder, not a file")
	case !fi.Mode().IsRegular():
		return errors.New("it is not a regular file")
	}
	// SQLite silently opens an unwritable file read-only; say so instead.
	f, err = os.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("the file is not writable: %w", pathless(err))
	}
	_ = f.Close()
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		s.log.Warn().Str("path", s.path).Str("mode", fmt.Sprintf("%04o", perm)).
			Msg("key store file is accessible to other users; consider chmod 600")
	}
	return nil
}

// pathless drops the path from an *fs.PathError: the caller's message names
// the path already.
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// dsn is the driver's data source name for path: an SQLite URI filename,
// with the characters that would end the path escaped.
func dsn(path string) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(path))
	return "file:" + esc + "?" + dsnParams
}

// describe turns an open-time SQLite error into words for the user.
func describe(err error) string {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_NOTADB:
			return "file is not a database (it is corrupt or not an SQLite file)"
		case sqlite3.SQLITE_CORRUPT:
			return "database file is corrupt"
		case sqlite3.SQLITE_CANTOPEN:
			return "cannot open the database file"
		case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM:
			return "the database is read-only"
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return "the database is locked by another process"
		}
	}
	return err.Error()
}

// errNotOurs is returned for an SQLite file that belongs to something else.
var errNotOurs = errors.New("file is an SQLite database but not a copilot-proxy key store")

// migrate applies the embedded migrations not yet applied, all in one
// transaction. PRAGMA user_version counts the applied migrations; it lives in
// the file header, so it commits or rolls back with the schema changes.
func migrate(ctx context.Context, db *sql.DB) error {
	names, err := fs.Glob(migrationsFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	check := func(q interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}) (int, error) {
		var version, app, objects int
		if err := q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
			return 0, err
		}
		if err := q.QueryRowContext(ctx, "PRAGMA application_id").Scan(&app); err != nil {
			return 0, err
		}
		if err := q.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&objects); err != nil {
			return 0, err
		}
		switch {
		case app != 0 && app != applicationID, app == 0 && objects > 0:
			return 0, errNotOurs
		case version > len(names):
			return 0, fmt.Errorf("schema version %d is newer than this build knows (%d); upgrade copilot-proxy", version, len(names))
		}
		return version, nil
	}
	version, err := check(db)
	if err != nil || version == len(names) {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	// Re-check under the write lock: another process may have migrated.
	if version, err = check(tx); err != nil || version == len(names) {
		return err
	}
	for _, name := range names[version:] {
		body, err := migrationsFS.ReadFile(name)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", filepath.Base(name), err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", applicationID)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(names))); err != nil {
		return err
	}
	return tx.Commit()
}

// Ping reports whether the store is reachable (readiness).
func (s *Store) Ping(ctx context.Context) error {
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM keys").Scan(&n); err != nil {
		return fmt.Errorf("key store %s: %w", s.path, err)
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
		ctx, cancel := context.WithTimeout(context.Background(), closeFlushTimeout)
		defer cancel()
		var errs []error
		if err := s.Flush(ctx); err != nil {
			errs = append(errs, err)
		}
		if err := s.pollConn.Close(); err != nil {
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
// and secrets, whichever process or connection made it. (PRAGMA
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
		v, err := s.generation(ctx)
		if err == nil && v != last {
			err = s.reload(ctx)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// Log the first failure of a run, not one per tick.
			if !failing {
				s.log.Warn().Err(err).Msg("key store: cannot refresh keys; retrying")
			}
			failing = true
			continue
		}
		if failing {
			s.log.Info().Msg("key store: refreshing keys works again")
			failing = false
		}
		last = v
	}
}

// generation reads the key_generation counter (see migration 0002).
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
		if err := s.Flush(ctx); err != nil && ctx.Err() == nil {
			// The batch was kept; the next tick retries it.
			s.log.Warn().Err(err).Msg("key store: usage flush failed; will retry")
		}
	}
}
