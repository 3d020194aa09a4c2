package keys

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

const (
	// maxConns caps the SQLite connection pool. One connection is held for
	// the generation poller; SQLite admits one writer at a time anyway, so
	// more connections would only add lock waiting.
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

// sqliteDialect runs the Store on an SQLite file.
var sqliteDialect = &dialect{
	name:    "sqlite",
	migrate: migrateSQLite,
	// The column is COLLATE NOCASE: a plain comparison folds case and uses
	// the unique index.
	nameIs:      "k.name = $1",
	greatest:    "max",
	insertOrder: "k.rowid",
	// Write transactions are IMMEDIATE: they hold the file's one write
	// lock from BEGIN.
	lockKey: "",
	duplicateName: func(err error) bool {
		var se *sqlite.Error
		return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE &&
			strings.Contains(se.Error(), "keys.name")
	},
}

// Open opens the SQLite key store at path, creating the file (mode 0600)
// and its missing folders (mode 0700) if needed, and applies pending
// migrations. An unusable path or a file that is not a key store gives an
// error that names the path and says what is wrong. ctx bounds only the
// opening; Close stops the background work.
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
	s := newStore(abs, sqliteDialect, opts)
	if err := s.prepareFile(); err != nil {
		return nil, fmt.Errorf("cannot open key store %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", dsn(abs))
	if err != nil {
		return nil, fmt.Errorf("cannot open key store %s: %w", path, err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	// Connecting runs the DSN pragmas; journal_mode reads the header, so a
	// file that is not a database fails there.
	if err := s.start(ctx, db); err != nil {
		return nil, fmt.Errorf("cannot open key store %s: %s", path, describe(err))
	}
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
	dir := filepath.Dir(s.location)
	// MkdirAll leaves an existing folder alone; tightenFolder then deals
	// with one that is open to others.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create its folder: %w", err)
	}
	if err := s.tightenFolder(dir); err != nil {
		return err
	}
	f, err := os.OpenFile(s.location, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
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
	fi, err := os.Stat(s.location)
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
	f, err = os.OpenFile(s.location, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("the file is not writable: %w", pathless(err))
	}
	_ = f.Close()
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		s.log.Warn().Str("path", s.location).Str("mode", fmt.Sprintf("%04o", perm)).
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

// migrateSQLite applies the embedded migrations not yet applied, all in one
// transaction. PRAGMA user_version counts the applied migrations; it lives in
// the file header, so it commits or rolls back with the schema changes.
func migrateSQLite(ctx context.Context, db *sql.DB) error {
	names, err := migrationNames("migrations/sqlite")
	if err != nil {
		return err
	}
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
			return 0, errNewerSchema(version, len(names))
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
