package keys

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestNewKeyFromOtherStoreWorksAtOnce: a key the CLI (a second Store on the
// same file) just created authenticates on the server's Store at once, with
// no sleeping, even though the server's poller would take an hour.
func testNewKeyFromOtherStoreWorksAtOnce(t *testing.T, newDB func(*testing.T) string) {
	path := newDB(t)
	server := openURL(t, path, Options{PollInterval: time.Hour})
	cli := openURL(t, path, Options{PollInterval: time.Hour})
	for _, name := range []string{"alice", "bob", "carol"} {
		ck := mustCreate(t, cli, CreateParams{Name: name})
		k, ok := server.Authenticate(ck.Secret)
		if !ok || k.ID != ck.ID {
			t.Fatalf("%s: new key refused right after creation (ok=%v id=%q)", name, ok, k.ID)
		}
	}
	// Found keys land in the cache: the next use asks the store nothing.
	before := server.LookupQueries()
	ck := mustCreate(t, cli, CreateParams{Name: "dave"})
	for range 10 {
		if _, ok := server.Authenticate(ck.Secret); !ok {
			t.Fatal("key refused after it was found")
		}
	}
	if n := server.LookupQueries() - before; n != 1 {
		t.Errorf("10 uses of one new key made %d store queries, want 1", n)
	}
}

// TestMissFloodIsBounded: distinct bad keys cost at most the per-second
// budget of store queries, and one bad key repeated costs one query per TTL.
func testMissFloodIsBounded(t *testing.T, newDB func(*testing.T) string) {
	clk := newClock()
	s := openURL(t, newDB(t), Options{Now: clk.Now})
	const n = 1000
	for range n {
		if _, ok := s.Authenticate(newSecret()); ok {
			t.Fatal("random key accepted")
		}
	}
	if q := s.LookupQueries(); q > MaxLookupsPerSecond {
		t.Fatalf("%d distinct bad keys made %d store queries, want <= %d", n, q, MaxLookupsPerSecond)
	}

	clk.Advance(2 * time.Second) // a fresh budget window
	bad := newSecret()
	before := s.LookupQueries()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, ok := s.Authenticate(bad); ok {
				t.Error("bad key accepted")
			}
		})
	}
	wg.Wait()
	if q := s.LookupQueries() - before; q != 1 {
		t.Errorf("one bad key, 50 concurrent tries within the TTL: %d store queries, want 1", q)
	}
	clk.Advance(NegativeTTL)
	s.Authenticate(bad)
	if q := s.LookupQueries() - before; q != 2 {
		t.Errorf("after the TTL: %d store queries in all, want 2", q)
	}
}

// TestRevokeAfterLookupWithinPoll: a key found by a miss lookup is revoked by
// the other store; the server refuses it within the poll interval, as
// before, and its lookups do not bring it back.
func testRevokeAfterLookupWithinPoll(t *testing.T, newDB func(*testing.T) string) {
	path := newDB(t)
	server := openURL(t, path, Options{})
	cli := openURL(t, path, Options{})
	ck := mustCreate(t, cli, CreateParams{Name: "alice"})
	if _, ok := server.Authenticate(ck.Secret); !ok {
		t.Fatal("new key refused")
	}
	if _, err := cli.Revoke(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	eventually(t, "revoked key fails", func() bool {
		_, ok := server.Authenticate(ck.Secret)
		return !ok
	})
	// Poll is 50ms here; 1s is the limit the reliability table promises.
	if d := time.Since(start); d > time.Second {
		t.Errorf("revocation took %v", d)
	}
	for range 5 {
		if _, ok := server.Authenticate(ck.Secret); ok {
			t.Fatal("revoked key accepted again")
		}
	}
}
