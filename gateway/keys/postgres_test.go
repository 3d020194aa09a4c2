package keys

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/internal/pgtest"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for direct checks
)

// PostgreSQL-only behaviour: migrations, the schema, URLs, connections.

// sqlDB opens url with plain database/sql, for checks behind the Store.
func sqlDB(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func schemaVersion(t *testing.T, db *sql.DB) int {
	t.Helper()
	var v int
	if err := db.QueryRow("SELECT version FROM schema_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestPostgresMigrations: schema_version holds one row, and a database a
// newer build migrated is refused. (Reopening is the conformance case
// ReopenKeepsSchema.)
func TestPostgresMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.New(t)
	db := sqlDB(t, url)
	s, err := OpenURL(ctx, url, Options{PollInterval: testPoll})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := db.QueryRow("SELECT count(*) FROM schema_version").Scan(&rows); err != nil || rows != 1 {
		t.Errorf("schema_version has %d rows, %v; want 1", rows, err)
	}
	if _, err := db.Exec("UPDATE schema_version SET version = 999"); err != nil {
		t.Fatal(err)
	}
	s, err = OpenURL(ctx, url, Options{})
	if err == nil {
		s.Close()
		t.Fatal("a database from a newer build opened")
	}
	if !strings.Contains(err.Error(), "newer than this build knows") || !strings.HasPrefix(err.Error(), "cannot open key store postgres://") {
		t.Errorf("err = %v", err)
	}
}

// TestPostgresConcurrentStart: instances starting at once on an empty
// database migrate it once (the advisory lock) and all open.
func TestPostgresConcurrentStart(t *testing.T) {
	t.Parallel()
	url := pgtest.New(t)
	const n = 6
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = OpenURL(context.Background(), url, Options{}) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("instance %d: %v", i, errs[i])
			continue
		}
		if err := stores[i].Close(); err != nil {
			t.Error(err)
		}
	}
	db := sqlDB(t, url)
	var gens int
	if err := db.QueryRow("SELECT count(*) FROM key_generation").Scan(&gens); err != nil || gens != 1 {
		t.Errorf("key_generation has %d rows, %v; want 1 (migrated more than once?)", gens, err)
	}
	if names, _ := migrationNames("migrations/postgres"); schemaVersion(t, db) != len(names) {
		t.Error("schema_version not at the last migration")
	}
}

// TestPostgresSchema: the columns and types equal SQLite's schema, and the
// constraints hold.
func TestPostgresSchema(t *testing.T) {
	t.Parallel()
	url := pgtest.New(t)
	openURL(t, url, Options{})
	db := sqlDB(t, url)
	want := map[string]string{
		"keys": "id text, seq bigint, name text, hint text, created_at bigint, expires_at bigint, revoked_at bigint, " +
			"rpm bigint, tpm bigint, concurrency bigint, models text, last_used bigint, budget_nano bigint, budget_period text",
		"key_secrets":    "hash bytea, key_id text, created_at bigint, grace_until bigint",
		"usage":          "key_id text, model text, day text, requests bigint, prompt_tokens bigint, completion_tokens bigint, errors bigint, credits_nano bigint",
		"key_generation": "n bigint",
	}
	for table, cols := range want {
		rows, err := db.Query(`SELECT column_name, data_type FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var c, typ string
			if err := rows.Scan(&c, &typ); err != nil {
				t.Fatal(err)
			}
			got = append(got, c+" "+typ)
		}
		rows.Close()
		if g := strings.Join(got, ", "); g != cols {
			t.Errorf("%s columns:\n got %s\nwant %s", table, g, cols)
		}
	}
	for _, bad := range []string{
		`INSERT INTO keys (id, name, hint, created_at) VALUES ('key_a', 'dup', 'h', 0), ('key_b', 'DUP', 'h', 0)`,
		`INSERT INTO keys (id, name, hint, created_at, rpm) VALUES ('key_c', 'c', 'h', 0, -1)`,
		`INSERT INTO keys (id, name, hint, created_at, budget_nano, budget_period) VALUES ('key_d', 'd', 'h', 0, 1, 'year')`,
		`INSERT INTO key_secrets (hash, key_id, created_at) VALUES ('\x00', 'key_none', 0)`,
		`INSERT INTO usage (key_id, model, day) VALUES ('key_none', 'm', '2026-01-01')`,
	} {
		if _, err := db.Exec(bad); err == nil {
			t.Errorf("accepted: %s", bad)
		}
	}
}

// TestPostgresPollerSurvivesConnectionLoss: after the server drops every
// connection (a restart, a failover), the poller reconnects and changes
// made elsewhere still arrive.
func TestPostgresPollerSurvivesConnectionLoss(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.New(t)
	server := openURL(t, url, Options{})
	cli := openURL(t, url, Options{})
	ck := mustCreate(t, cli, CreateParams{Name: "alice"})
	if _, ok := server.Authenticate(ck.Secret); !ok {
		t.Fatal("new key refused")
	}
	admin := sqlDB(t, url)
	var killed int
	if err := admin.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed < 2 {
		t.Fatalf("terminated %d connections, want both pollers' at least", killed)
	}
	if _, err := cli.Revoke(ctx, "alice"); err != nil {
		t.Fatalf("Revoke after the connections dropped: %v", err)
	}
	eventually(t, "revocation seen after the poller's connection dropped", func() bool {
		_, ok := server.Authenticate(ck.Secret)
		return !ok
	})
}

// TestOpenURLHidesPassword: no error message carries the URL's password,
// whatever fails.
func TestOpenURLHidesPassword(t *testing.T) {
	t.Parallel()
	const pw = "S3cret-Pw_9"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	urls := []string{
		"postgres://alice:" + pw + "@127.0.0.1:1/keys?connect_timeout=5",                  // refused
		"postgresql://alice@127.0.0.1:1/keys?password=" + pw + "&connect_timeout=5",       // in the query
		"postgres://alice:" + pw + "@127.0.0.1:notaport/keys",                             // does not parse
		"postgres://alice:" + pw + "@127.0.0.1/keys?sslmode=bogus",                        // pgx refuses it
		"postgres://alice:" + pw + "@[::1/keys",                                           // broken host
		"mysql://alice:" + pw + "@127.0.0.1/keys",                                         // unknown scheme
		"postgres://al%20ice:" + strings.ReplaceAll(pw, "-", "%2D") + "@127.0.0.1:1/keys", // escaped
	}
	for _, u := range urls {
		checkOpenHidesPassword(ctx, t, u, pw)
	}
}

// TestOpenURLHidesPasswordFromServer: a server's refusal (here of a
// database that does not exist; trust authentication ignores the
// password) does not bring the password into the message either.
func TestOpenURLHidesPasswordFromServer(t *testing.T) {
	t.Parallel()
	const pw = "S3cret-Pw_9"
	u := strings.Replace(pgtest.New(t), "postgres@", "postgres:"+pw+"@", 1)
	u = u[:strings.LastIndex(u, "/")] + "/no_such_db?sslmode=disable"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := checkOpenHidesPassword(ctx, t, u, pw)
	if err != nil && !strings.Contains(err.Error(), "no_such_db") {
		t.Errorf("error does not name the database: %v", err)
	}
}

// checkOpenHidesPassword opens u, which must fail without pw in the error.
func checkOpenHidesPassword(ctx context.Context, t *testing.T, u, pw string) error {
	t.Helper()
	s, err := OpenURL(ctx, u, Options{})
	if err == nil {
		s.Close()
		t.Errorf("%s: opened", redactURL(u))
		return nil
	}
	if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "S3cret") {
		t.Errorf("error carries the password: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "cannot open key store") {
		t.Errorf("error does not say what failed: %v", err)
	}
	t.Logf("%v", err)
	return err
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"postgres://u:pw@h:5432/db?sslmode=require":  "postgres://u:xxxxx@h:5432/db?sslmode=require",
		"postgres://u@h/db":                          "postgres://u@h/db",
		"postgres://h/db?password=pw&sslpassword=q":  "postgres://h/db?password=xxxxx&sslpassword=xxxxx",
		"postgresql://u:pw@h/db?PassWord=pw":         "postgresql://u:xxxxx@h/db?PassWord=xxxxx",
		"postgres://u:pw@h:bad/db":                   "postgres://(unparsable URL)",
		"postgres://u:pw@h/db?application_name=gate": "postgres://u:xxxxx@h/db?application_name=gate",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestOpenURLSelects: the URL picks the database.
func TestOpenURLSelects(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	for _, tc := range []struct{ url, file string }{
		{"sqlite://" + filepath.Join(dir, "a.db"), filepath.Join(dir, "a.db")},
		{"SQLite://" + filepath.Join(dir, "b.db"), filepath.Join(dir, "b.db")},
		{filepath.Join(dir, "c.db"), filepath.Join(dir, "c.db")},
	} {
		s := openURL(t, tc.url, Options{})
		if s.d != sqliteDialect || s.Path() != tc.file {
			t.Errorf("%s: dialect %s at %s", tc.url, s.d.name, s.Path())
		}
		if _, err := os.Stat(tc.file); err != nil {
			t.Errorf("%s: %v", tc.url, err)
		}
	}
	for _, bad := range []string{"", "sqlite://", "redis://h/0"} {
		if s, err := OpenURL(ctx, bad, Options{}); err == nil {
			s.Close()
			t.Errorf("OpenURL(%q) succeeded", bad)
		}
	}
}
