package keys

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func testAuthenticate(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	clk := newClock()
	s := openURL(t, newDB(t), Options{Now: clk.Now})
	start := clk.Now()

	valid := mustCreate(t, s, CreateParams{Name: "valid", RPM: ptr(7)})
	revoked := mustCreate(t, s, CreateParams{Name: "revoked"})
	if _, err := s.Revoke(ctx, "revoked"); err != nil {
		t.Fatal(err)
	}
	exp := start.Add(time.Hour)
	expiring := mustCreate(t, s, CreateParams{Name: "expiring", ExpiresAt: &exp})

	graced := mustCreate(t, s, CreateParams{Name: "graced"})
	gracedNew, err := s.Rotate(ctx, "graced", 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	cut := mustCreate(t, s, CreateParams{Name: "cut"})
	cutNew, err := s.Rotate(ctx, "cut", 0)
	if err != nil {
		t.Fatal(err)
	}
	// Rotating twice: the second, shorter grace also shortens the first's.
	twice := mustCreate(t, s, CreateParams{Name: "twice"})
	twice2, err := s.Rotate(ctx, "twice", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	twice3, err := s.Rotate(ctx, "twice", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		secret string
		after  time.Duration // since start
		wantID string        // "" = rejected
	}{
		{"valid", valid.Secret, 0, valid.ID},
		{"valid much later", valid.Secret, 1000 * time.Hour, valid.ID},
		{"unknown", newSecret(), 0, ""},
		{"empty", "", 0, ""},
		{"prefix only", SecretPrefix, 0, ""},
		{"wrong prefix", "sk-" + valid.Secret[3:], 0, ""},
		{"truncated", valid.Secret[:len(valid.Secret)-1], 0, ""},
		{"extended", valid.Secret + "x", 0, ""},
		{"different case", strings.ToUpper(valid.Secret[:4]) + valid.Secret[4:], 0, ""},
		{"revoked", revoked.Secret, 0, ""},
		{"before expiry", expiring.Secret, 59 * time.Minute, expiring.ID},
		{"at expiry", expiring.Secret, time.Hour, ""},
		{"after expiry", expiring.Secret, 2 * time.Hour, ""},
		{"old secret within grace", graced.Secret, 29 * time.Minute, graced.ID},
		{"old secret after grace", graced.Secret, 30 * time.Minute, ""},
		{"new secret after grace", gracedNew.Secret, 31 * time.Minute, graced.ID},
		{"grace 0 cuts at once", cut.Secret, 0, ""},
		{"grace 0 new secret", cutNew.Secret, 0, cut.ID},
		{"first of three within shortened grace", twice.Secret, 9 * time.Minute, twice.ID},
		{"first of three after shortened grace", twice.Secret, 11 * time.Minute, ""},
		{"second of three after its grace", twice2.Secret, 11 * time.Minute, ""},
		{"third of three", twice3.Secret, 48 * time.Hour, twice.ID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Subtests are sequential: they share the clock.
			clk.mu.Lock()
			clk.t = start.Add(tc.after)
			clk.mu.Unlock()
			k, ok := s.Authenticate(tc.secret)
			switch {
			case tc.wantID == "" && ok:
				t.Errorf("accepted as %s, want rejected", k.ID)
			case tc.wantID != "" && !ok:
				t.Error("rejected, want accepted")
			case ok && k.ID != tc.wantID:
				t.Errorf("key %s, want %s", k.ID, tc.wantID)
			}
		})
	}
	if k, _ := s.Authenticate(valid.Secret); k.RPM == nil || *k.RPM != 7 || k.Name != "valid" {
		t.Errorf("Authenticate returned incomplete key: %+v", k)
	}
}

// TestLastUsed: Authenticate marks the key used in memory; a flush persists it.
func testLastUsed(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	clk := newClock()
	s := openURL(t, newDB(t), Options{Now: clk.Now, FlushInterval: time.Hour})
	ck := mustCreate(t, s, CreateParams{Name: "alice"})
	if k, _ := s.Get(ctx, "alice"); k.LastUsed != nil {
		t.Fatalf("LastUsed before use = %v", k.LastUsed)
	}
	clk.Advance(time.Minute)
	used := clk.Now()
	s.Authenticate(ck.Secret)
	clk.Advance(-time.Second) // an older use must not move the mark back
	s.Authenticate(ck.Secret)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	k, err := s.Get(ctx, "alice")
	if err != nil || k.LastUsed == nil || !k.LastUsed.Equal(used) {
		t.Errorf("LastUsed = %v, %v; want %v", k.LastUsed, err, used)
	}
}

// TestCrossStoreVisibility: changes made through another Store on the same
// file (as the CLI does while serve runs) reach Authenticate within a poll.
func testCrossStoreVisibility(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	path := newDB(t)
	server := openURL(t, path, Options{})
	cli := openURL(t, path, Options{})

	accepts := func(secret string, want bool) func() bool {
		return func() bool { _, ok := server.Authenticate(secret); return ok == want }
	}

	ck := mustCreate(t, cli, CreateParams{Name: "alice"})
	eventually(t, "key created by the other store works", accepts(ck.Secret, true))

	rot, err := cli.Rotate(ctx, "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "rotated-in secret works", accepts(rot.Secret, true))
	eventually(t, "rotated-out secret (grace 0) fails", accepts(ck.Secret, false))

	if _, err := cli.Revoke(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	eventually(t, "revoked key fails", accepts(rot.Secret, false))
	// The issue asks for 1s (the default poll is 250ms); the poll is 50ms
	// here, so 1s leaves ample slack even on a busy machine.
	if d := time.Since(start); d > time.Second {
		t.Errorf("revocation took %v to take effect", d)
	}
}

// TestCrossProcessRevoke: a real second process (this test binary, re-run as
// a helper) revokes a key; the running store stops accepting it.
func TestCrossProcessRevoke(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys.db")
	server := openURL(t, path, Options{})
	ck := mustCreate(t, server, CreateParams{Name: "alice"})
	if _, ok := server.Authenticate(ck.Secret); !ok {
		t.Fatal("key does not work before revocation")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "KEYS_HELPER_DB="+path, "KEYS_HELPER_REVOKE=alice")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helper process: %v\n%s", err, out)
	}
	eventually(t, "key revoked by another process fails", func() bool {
		_, ok := server.Authenticate(ck.Secret)
		return !ok
	})
}

// TestHelperProcess is the second process of TestCrossProcessRevoke; it does
// nothing in a normal run.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv("KEYS_HELPER_DB")
	if path == "" {
		t.Skip("helper process only")
	}
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Revoke(context.Background(), os.Getenv("KEYS_HELPER_REVOKE")); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentUse runs Authenticate, Record, Flush and key changes at once,
// for the race detector.
func testConcurrentUse(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	s := openURL(t, newDB(t), Options{FlushInterval: 10 * time.Millisecond, PollInterval: 10 * time.Millisecond})
	ck := mustCreate(t, s, CreateParams{Name: "alice"})

	const workers, rounds = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				k, ok := s.Authenticate(ck.Secret)
				if !ok {
					t.Error("valid key rejected during concurrent use")
					return
				}
				// Reads the cached Key's Models while reloads replace the cache.
				if !k.AllowsModel("gpt-4o") {
					t.Error("a key without an allow-list refused a model")
					return
				}
				s.Record(UsageRecord{KeyID: k.ID, Model: fmt.Sprintf("m%d", w%2), PromptTokens: 1})
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 10 {
			if _, err := s.Create(ctx, CreateParams{Name: fmt.Sprintf("k%d", i)}); err != nil {
				t.Error(err)
			}
			if _, err := s.Rotate(ctx, fmt.Sprintf("k%d", i), time.Hour); err != nil {
				t.Error(err)
			}
			if _, err := s.List(ctx, time.Time{}); err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
	rows, err := s.Usage(ctx, UsageQuery{Key: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, r := range rows {
		total += r.Requests
	}
	if total != workers*rounds {
		t.Errorf("requests = %d, want %d", total, workers*rounds)
	}
}

// The cache follows changes to the keys, not every commit: a usage flush
// (which writes usage rows and last_used each second under traffic) must not
// make the store reload every key and secret.
func testUsageFlushDoesNotReloadTheCache(t *testing.T, newDB func(*testing.T) string) {
	st := openURL(t, newDB(t), Options{PollInterval: 10 * time.Millisecond})
	created := mustCreate(t, st, CreateParams{Name: "flusher"})
	time.Sleep(100 * time.Millisecond) // let the poller catch up with the create
	before := st.cache.Load()
	for i := 0; i < 3; i++ {
		st.Record(UsageRecord{KeyID: created.ID, Model: "m", PromptTokens: 1, At: time.Now()})
		if _, ok := st.Authenticate(created.Secret); !ok {
			t.Fatal("key not valid")
		}
		if err := st.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // several poll intervals
	}
	if st.cache.Load() != before {
		t.Fatal("a usage flush reloaded the key cache")
	}
	// A change to the keys still does.
	if _, err := st.Revoke(context.Background(), "flusher"); err != nil {
		t.Fatal(err)
	}
	if st.cache.Load() == before {
		t.Fatal("revoking did not reload the cache")
	}
}

// Verify checks a secret as Authenticate does without marking the key
// used (the web console's sign-in).
func TestVerifyDoesNotMarkUsed(t *testing.T) {
	ctx := context.Background()
	s := openURL(t, tempDB(t), Options{})
	ck := mustCreate(t, s, CreateParams{Name: "alice"})
	if !s.HasKeys() {
		t.Error("HasKeys with a key = false")
	}
	if k, ok := s.Verify(ck.Secret); !ok || k.ID != ck.ID {
		t.Fatalf("Verify = %+v, %v", k, ok)
	}
	if _, ok := s.Verify(ck.Secret + "x"); ok {
		t.Error("Verify accepted a wrong secret")
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if k, err := s.Get(ctx, ck.ID); err != nil || k.LastUsed != nil {
		t.Errorf("after Verify, LastUsed = %v, %v; want nil", k.LastUsed, err)
	}
	if _, err := s.Revoke(ctx, ck.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Verify(ck.Secret); ok {
		t.Error("Verify accepted a revoked key")
	}
	if s.HasKeys() {
		t.Error("HasKeys with only a revoked key = true")
	}
}
