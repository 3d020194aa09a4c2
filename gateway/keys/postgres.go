package keys

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

const (
	// pgMaxConns caps each Store's PostgreSQL pool. An instance's load is
	// small (a flush per FlushInterval, one poll per PollInterval on its own
	// connection, rationed cache-miss lookups, admin calls), and several
	// instances share the server's max_connections (100 by default).
	pgMaxConns = 10
	// pgMaxIdle keeps a few connections warm so a cache miss or a flush
	// does not pay a connection (and TLS) setup.
	pgMaxIdle = 4
	// pgConnLifetime recycles connections, so an instance follows a
	// failover or a changed DNS name without a restart.
	pgConnLifetime = 30 * time.Minute
	pgConnIdleTime = 5 * time.Minute

	// migrationLockID is the pg_advisory_xact_lock key that serialises the
	// migrations of instances starting at once: "cpks" in ASCII, as the
	// SQLite application_id.
	migrationLockID = applicationID

	// pgUniqueViolation is SQLSTATE unique_violation.
	pgUniqueViolation = "23505"
)

// postgresDialect runs the Store on PostgreSQL through pgx.
var postgresDialect = &dialect{
	name:    "postgres",
	migrate: migratePostgres,
	// keys_name_lower is a unique index on lower(name).
	nameIs:      "lower(k.name) = lower($1)",
	greatest:    "GREATEST",
	insertOrder: "k.seq",
	// Several instances write at once: a read-modify-write of a key
	// (Update, Rotate, Revoke) locks its row first, so none is lost.
	// NO KEY UPDATE: the id never changes, so usage inserts (which lock
	// the key with KEY SHARE for the foreign key) need not wait.
	lockKey: " FOR NO KEY UPDATE OF k",
	duplicateName: func(err error) bool {
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.Code == pgUniqueViolation && pe.ConstraintName == "keys_name_lower"
	},
}

// openPostgres opens the key store in the PostgreSQL database rawURL names
// (see OpenURL). It uses pgx through database/sql (pgx's stdlib driver), so
// the Store keeps one code path for both databases: pgx speaks the
// protocol, database/sql is the pool.
func openPostgres(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	where := redactURL(rawURL)
	secret := urlPassword(rawURL)
	fail := func(err error) (*Store, error) {
		return nil, scrub(fmt.Errorf("cannot open key store %s: %w", where, err), secret)
	}
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		if _, perr := url.Parse(rawURL); perr != nil {
			// Where the password is in a broken URL cannot be known:
			// quote nothing of it.
			return fail(errors.New("not a valid PostgreSQL URL"))
		}
		return fail(fmt.Errorf("not a valid PostgreSQL URL: %w", err))
	}
	// Check each connection taken from the pool with a ping: after a server
	// restart or failover every pooled connection is dead, and database/sql
	// only swaps one it knows is bad, which it otherwise learns by failing
	// a statement. A round trip is cheap here: no request waits on this
	// pool but for a rationed cache miss.
	db := stdlib.OpenDB(*cfg, stdlib.OptionShouldPing(func(context.Context, stdlib.ShouldPingParams) bool { return true }))
	db.SetMaxOpenConns(pgMaxConns)
	db.SetMaxIdleConns(pgMaxIdle)
	db.SetConnMaxLifetime(pgConnLifetime)
	db.SetConnMaxIdleTime(pgConnIdleTime)
	s := newStore(where, postgresDialect, opts)
	if err := s.start(ctx, db); err != nil {
		return fail(err)
	}
	return s, nil
}

// migratePostgres applies the embedded migrations not yet applied, all in
// one transaction under an advisory lock, so of two instances starting at
// once one migrates and the other then finds the schema current. The one
// row of schema_version counts the applied migrations.
func migratePostgres(ctx context.Context, db *sql.DB) error {
	names, err := migrationNames("migrations/postgres")
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLockID)); err != nil {
		return err
	}
	version, err := pgSchemaVersion(ctx, tx)
	switch {
	case err != nil:
		return err
	case version > len(names):
		return errNewerSchema(version, len(names))
	}
	for _, name := range names[version:] {
		body, err := migrationsFS.ReadFile(name)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", path.Base(name), err)
		}
	}
	if _, err := tx.ExecContext(ctx, "UPDATE schema_version SET version = $1", len(names)); err != nil {
		return err
	}
	return tx.Commit()
}

// pgSchemaVersion reads the applied migration count, creating the
// schema_version table (at 0) in a database that has none.
func pgSchemaVersion(ctx context.Context, tx *sql.Tx) (int, error) {
	var exists bool
	if err := tx.QueryRowContext(ctx, "SELECT to_regclass('schema_version') IS NOT NULL").Scan(&exists); err != nil {
		return 0, err
	}
	if !exists {
		_, err := tx.ExecContext(ctx, `CREATE TABLE schema_version (version INTEGER NOT NULL CHECK (version >= 0));
			INSERT INTO schema_version (version) VALUES (0)`)
		return 0, err
	}
	var version int
	if err := tx.QueryRowContext(ctx, "SELECT version FROM schema_version").Scan(&version); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return 0, errors.New("table schema_version is empty; it is not a copilot-proxy key store")
		}
		return 0, err
	}
	return version, nil
}

// redactURL is rawURL fit for messages: the userinfo password and the
// password query parameters masked. A URL that does not parse is named by
// its scheme only, since where its password is cannot be known.
func redactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		scheme, _, _ := strings.Cut(rawURL, "://")
		return scheme + "://(unparsable URL)"
	}
	q := u.Query()
	masked := false
	for k := range q {
		if isPasswordParam(k) {
			q.Set(k, "xxxxx")
			masked = true
		}
	}
	if masked {
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// urlPassword is the password in rawURL (userinfo or query), "" if none
// can be found.
func urlPassword(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	if p, ok := u.User.Password(); ok {
		return p
	}
	for k, v := range u.Query() {
		if isPasswordParam(k) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

func isPasswordParam(k string) bool {
	k = strings.ToLower(k)
	return k == "password" || k == "sslpassword"
}

// scrub masks secret in err's message, as a last guard: the messages built
// here use the redacted URL, but a driver error might quote what it got.
func scrub(err error, secret string) error {
	if secret == "" || len(secret) < 3 {
		return err
	}
	msg := err.Error()
	clean := msg
	for _, s := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret)} {
		clean = strings.ReplaceAll(clean, s, "xxxxx")
	}
	if clean == msg {
		return err
	}
	return &scrubbedError{msg: clean, err: err}
}

// scrubbedError is an error with a secret masked in its message; errors.Is
// and errors.As still see the original.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }
