package keys

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func TestAdminFingerprint(t *testing.T) {
	t.Parallel()
	const tok = "admin-token-0123456789abcdef"
	fp := AdminFingerprint(tok)
	if len(fp) != adminFPLen || strings.Trim(fp, "0123456789abcdef") != "" {
		t.Errorf("AdminFingerprint = %q, want %d hex digits", fp, adminFPLen)
	}
	if fp != AdminFingerprint(tok) || fp == AdminFingerprint(tok+"x") || strings.Contains(fp, tok[:8]) {
		t.Errorf("AdminFingerprint is not a stable, distinct digest: %q", fp)
	}
}

// TestMigrationEndsAdminSessionsWithoutFingerprint: an admin session from
// before migration 0005 has no admin token fingerprint, so nothing could
// tie it to the current token; the migration ends it and keeps key
// holders' sessions.
func TestMigrationEndsAdminSessionsWithoutFingerprint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	names, err := migrationNames("migrations/sqlite")
	if err != nil || len(names) < 5 || !strings.Contains(names[4], "0005_") {
		t.Fatalf("migrations %v, %v", names, err)
	}
	for _, name := range names[:4] {
		body, _ := migrationsFS.ReadFile(name)
		if _, err := db.ExecContext(ctx, string(body)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	for _, q := range []string{
		fmt.Sprintf("PRAGMA application_id = %d", applicationID),
		"PRAGMA user_version = 4",
		`INSERT INTO keys (id, name, hint, created_at) VALUES ('key_a', 'alice', 'cpk_…abcd', 0)`,
		`INSERT INTO console_sessions (id, role, key_id, csrf, created_at, expires_at) VALUES
			('` + strings.Repeat("a", 64) + `', 'admin', NULL, 'c', 0, 9e15),
			('` + strings.Repeat("b", 64) + `', 'key', 'key_a', 'c', 0, 9e15)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s := openURL(t, path, Options{})
	var roles []string
	rows, err := s.db.QueryContext(ctx, "SELECT role FROM console_sessions")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var r string
		_ = rows.Scan(&r)
		roles = append(roles, r)
	}
	if strings.Join(roles, ",") != RoleKey {
		t.Errorf("sessions after the migration: %v, want the key holder's only", roles)
	}
}
