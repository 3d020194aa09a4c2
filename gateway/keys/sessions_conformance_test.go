package keys

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Conformance cases of the web console sessions (run on SQLite and
// PostgreSQL by runConformance).

// testAdminFP is the fingerprint of an admin token, as the console stores
// it with an admin session.
var testAdminFP = AdminFingerprint("admin-token-0123456789abcdef")

func testConsoleSessions(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	clk := newClock()
	s := openURL(t, newDB(t), Options{Now: clk.Now})
	ck := mustCreate(t, s, CreateParams{Name: "alice"})

	adminTok, admin, err := s.CreateSession(ctx, NewSession{Role: RoleAdmin, AdminFP: testAdminFP, Lifetime: 12 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	keyTok, keySess, err := s.CreateSession(ctx, NewSession{Role: RoleKey, KeyID: ck.ID, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(adminTok) < 43 || adminTok == keyTok || admin.CSRF == "" || admin.CSRF == keySess.CSRF || admin.CSRF == adminTok {
		t.Fatalf("tokens not distinct and random: %q %q %q %q", adminTok, keyTok, admin.CSRF, keySess.CSRF)
	}
	if !admin.ExpiresAt.Equal(clk.Now().Add(12*time.Hour)) || !admin.CreatedAt.Equal(clk.Now()) {
		t.Errorf("admin session times %v..%v", admin.CreatedAt, admin.ExpiresAt)
	}
	got, err := s.Session(ctx, adminTok)
	if err != nil || got != admin || got.AdminFP != testAdminFP {
		t.Errorf("Session(admin) = %+v, %v; want %+v with the admin token's fingerprint", got, err, admin)
	}
	got, err = s.Session(ctx, keyTok)
	if err != nil || got != keySess || got.KeyID != ck.ID || got.Role != RoleKey || got.AdminFP != "" {
		t.Errorf("Session(key) = %+v, %v; want %+v", got, err, keySess)
	}
	for _, bad := range []string{"", "nope", adminTok + "x", strings.ToUpper(adminTok)} {
		if _, err := s.Session(ctx, bad); !errors.Is(err, ErrNoSession) {
			t.Errorf("Session(%q) err = %v, want ErrNoSession", bad, err)
		}
	}
	if err := s.DeleteSession(ctx, adminTok); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, adminTok); !errors.Is(err, ErrNoSession) {
		t.Errorf("after DeleteSession: %v, want ErrNoSession", err)
	}
	if err := s.DeleteSession(ctx, adminTok); err != nil {
		t.Errorf("deleting twice: %v", err)
	}
	if _, err := s.Session(ctx, keyTok); err != nil {
		t.Errorf("signing one session out ended another: %v", err)
	}
}

func testConsoleSessionExpiry(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	clk := newClock()
	s := openURL(t, newDB(t), Options{Now: clk.Now})
	short, _, err := s.CreateSession(ctx, NewSession{Role: RoleAdmin, AdminFP: testAdminFP, Lifetime: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	long, _, err := s.CreateSession(ctx, NewSession{Role: RoleAdmin, AdminFP: testAdminFP, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute - time.Millisecond)
	if _, err := s.Session(ctx, short); err != nil {
		t.Fatalf("a session before its expiry: %v", err)
	}
	clk.Advance(time.Millisecond)
	if _, err := s.Session(ctx, short); !errors.Is(err, ErrNoSession) {
		t.Errorf("a session at its expiry: %v, want ErrNoSession", err)
	}
	// Creating a session purges the expired ones, and only those.
	if _, _, err := s.CreateSession(ctx, NewSession{Role: RoleAdmin, AdminFP: testAdminFP, Lifetime: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if rows := countRows(t, s, "console_sessions"); rows != 2 {
		t.Errorf("%d session rows after a create past one expiry, want 2", rows)
	}
	if _, err := s.Session(ctx, long); err != nil {
		t.Errorf("purge took a live session: %v", err)
	}
	clk.Advance(time.Hour)
	if _, _, err := s.CreateSession(ctx, NewSession{Role: RoleAdmin, AdminFP: testAdminFP, Lifetime: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if rows := countRows(t, s, "console_sessions"); rows != 1 {
		t.Errorf("%d session rows after a create past every expiry, want 1", rows)
	}
}

func testConsoleSessionEndsWithItsKey(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	clk := newClock()
	s := openURL(t, newDB(t), Options{Now: clk.Now})
	exp := clk.Now().Add(time.Hour)
	revoked := mustCreate(t, s, CreateParams{Name: "revoked"})
	expiring := mustCreate(t, s, CreateParams{Name: "expiring", ExpiresAt: &exp})
	rotated := mustCreate(t, s, CreateParams{Name: "rotated"})
	tokens := map[string]string{}
	for _, k := range []CreatedKey{revoked, expiring, rotated} {
		tok, _, err := s.CreateSession(ctx, NewSession{Role: RoleKey, KeyID: k.ID, Lifetime: 12 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		tokens[k.Name] = tok
	}
	if _, err := s.Revoke(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, tokens["revoked"]); !errors.Is(err, ErrNoSession) {
		t.Errorf("session of a revoked key: %v, want ErrNoSession", err)
	}
	// A rotation keeps the key, so its sessions live on.
	if _, err := s.Rotate(ctx, rotated.ID, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, tokens["rotated"]); err != nil {
		t.Errorf("session of a rotated key: %v", err)
	}
	clk.Advance(time.Hour)
	if _, err := s.Session(ctx, tokens["expiring"]); !errors.Is(err, ErrNoSession) {
		t.Errorf("session of an expired key: %v, want ErrNoSession", err)
	}
}

func testConsoleSessionSharedByInstances(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	loc := newDB(t)
	a, b := openURL(t, loc, Options{}), openURL(t, loc, Options{})
	tok, sess, err := a.CreateSession(ctx, NewSession{Role: RoleAdmin, AdminFP: testAdminFP, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.Session(ctx, tok); err != nil || got.CSRF != sess.CSRF {
		t.Fatalf("the other instance: %+v, %v", got, err)
	}
	if err := b.DeleteSession(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Session(ctx, tok); !errors.Is(err, ErrNoSession) {
		t.Errorf("signed out on one instance, still in on the other: %v", err)
	}
}

func testConsoleSessionInvalid(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	s := openURL(t, newDB(t), Options{})
	ck := mustCreate(t, s, CreateParams{Name: "alice"})
	for _, p := range []NewSession{
		{Role: "root", Lifetime: time.Hour},
		{Role: RoleKey, Lifetime: time.Hour},
		{Role: RoleAdmin, KeyID: ck.ID, Lifetime: time.Hour},
		{Role: RoleAdmin, AdminFP: testAdminFP},
		{Role: RoleAdmin, Lifetime: time.Hour},
		{Role: RoleAdmin, AdminFP: "short", Lifetime: time.Hour},
		{Role: RoleAdmin, AdminFP: testAdminFP + "00", Lifetime: time.Hour},
		{Role: RoleKey, KeyID: ck.ID, AdminFP: testAdminFP, Lifetime: time.Hour},
	} {
		if _, _, err := s.CreateSession(ctx, p); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateSession(%+v) err = %v, want ErrInvalid", p, err)
		}
	}
	// An unknown key is refused by the database (REFERENCES keys).
	if _, _, err := s.CreateSession(ctx, NewSession{Role: RoleKey, KeyID: "key_nobody", Lifetime: time.Hour}); err == nil {
		t.Error("a session of an unknown key was created")
	}
}

func testConsoleSessionOnlyHashStored(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	s := openURL(t, newDB(t), Options{})
	tok, _, err := s.CreateSession(ctx, NewSession{Role: RoleAdmin, AdminFP: testAdminFP, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	dump := string(dumpTable(t, s, "console_sessions"))
	for i := 0; i+8 <= len(tok); i++ {
		if strings.Contains(dump, tok[i:i+8]) {
			t.Fatal("part of the session token found in the table")
		}
	}
	if !strings.Contains(dump, sessionID(tok)) {
		t.Error("the token's hash is not in the table")
	}
}

// countRows counts the rows of table.
func countRows(t *testing.T, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.db.QueryRowContext(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// KeyUsage (the key holder's view) is exactly the key's List entry.
func testKeyUsageIsTheListEntry(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	clk := newClock()
	s := openURL(t, newDB(t), Options{Now: clk.Now})
	budget := int64(5e9)
	a := mustCreate(t, s, CreateParams{Name: "alice", Budget: &budget})
	b := mustCreate(t, s, CreateParams{Name: "bob"})
	s.Record(UsageRecord{KeyID: a.ID, Model: "gpt-4o", PromptTokens: 3, CompletionTokens: 4, Credits: 7})
	s.Record(UsageRecord{KeyID: b.ID, Model: "gpt-4o", PromptTokens: 30, Error: true})
	list, err := s.List(ctx, time.Time{})
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %v, %v", list, err)
	}
	for i, id := range []string{a.ID, b.ID} {
		got, err := s.KeyUsage(ctx, id, time.Time{})
		if err != nil || !reflect.DeepEqual(got, list[i]) {
			t.Errorf("KeyUsage(%s) = %+v, %v\nwant %+v", id, got, err, list[i])
		}
	}
	// By id only: a name, an unknown id or none is not found.
	for _, ref := range []string{"bob", "key_nobody", ""} {
		if _, err := s.KeyUsage(ctx, ref, time.Time{}); !errors.Is(err, ErrNotFound) {
			t.Errorf("KeyUsage(%q) err = %v, want ErrNotFound", ref, err)
		}
	}
}
