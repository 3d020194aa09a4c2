package keys

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func testUsageAggregates(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	clk := newClock()
	s := openURL(t, newDB(t), Options{Now: clk.Now, FlushInterval: time.Hour})
	alice := mustCreate(t, s, CreateParams{Name: "alice"})
	bob := mustCreate(t, s, CreateParams{Name: "bob"})

	day1 := time.Date(2026, 3, 13, 23, 59, 59, 0, time.UTC)
	day2 := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
	// Another zone: counts on its UTC day.
	day2Paris := time.Date(2026, 3, 14, 0, 30, 0, 0, time.FixedZone("CET", 3600)) // 13th 23:30 UTC

	for _, r := range []UsageRecord{
		{KeyID: alice.ID, Model: "gpt-4o", PromptTokens: 10, CompletionTokens: 5, At: day1},
		{KeyID: alice.ID, Model: "gpt-4o", PromptTokens: 1, CompletionTokens: 2, At: day2Paris},
		{KeyID: alice.ID, Model: "gpt-4o", PromptTokens: 7, Error: true, At: day2},
		{KeyID: alice.ID, Model: "claude", PromptTokens: 3, CompletionTokens: 4, At: day2},
		{KeyID: bob.ID, Model: "gpt-4o", PromptTokens: 100, CompletionTokens: 200, At: day2},
		{KeyID: bob.ID, Model: "gpt-4o", PromptTokens: -5, CompletionTokens: -5}, // At zero: now (day2); negatives count 0
	} {
		s.Record(r)
	}
	// Flushed in two parts: the upsert adds to existing rows.
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	s.Record(UsageRecord{KeyID: bob.ID, Model: "gpt-4o", PromptTokens: 1, CompletionTokens: 1, At: day2})

	row := func(k CreatedKey, model, day string, req, p, c, e int64) UsageRow {
		return UsageRow{KeyID: k.ID, KeyName: k.Name, Model: model, Day: day, Requests: req, PromptTokens: p, CompletionTokens: c, Errors: e}
	}
	all := []UsageRow{
		row(alice, "gpt-4o", "2026-03-13", 2, 11, 7, 0),
		row(alice, "claude", "2026-03-14", 1, 3, 4, 0),
		row(alice, "gpt-4o", "2026-03-14", 1, 7, 0, 1),
		row(bob, "gpt-4o", "2026-03-14", 3, 101, 201, 0),
	}
	tests := []struct {
		name string
		q    UsageQuery
		want []UsageRow
	}{
		{"all", UsageQuery{}, all},
		{"by name", UsageQuery{Key: "bob"}, all[3:]},
		{"by id", UsageQuery{Key: alice.ID}, all[:3]},
		{"since a time on day 2", UsageQuery{Since: day2.Add(12 * time.Hour)}, all[1:]},
		{"since day 1", UsageQuery{Since: day1}, all},
		{"since later", UsageQuery{Since: day2.Add(48 * time.Hour)}, []UsageRow{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Usage(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Usage(%+v) =\n%+v\nwant\n%+v", tc.q, got, tc.want)
			}
		})
	}

	list, err := s.List(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if l := list[0]; l.Requests != 4 || l.PromptTokens != 21 || l.CompletionTokens != 11 || l.Errors != 1 {
		t.Errorf("alice totals: %+v", l)
	}
	if l := list[1]; l.Requests != 3 || l.PromptTokens != 101 || l.CompletionTokens != 201 || l.Errors != 0 {
		t.Errorf("bob totals: %+v", l)
	}

	// Usage survives revocation.
	if _, err := s.Revoke(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Usage(ctx, UsageQuery{Key: "bob"}); err != nil || len(got) != 1 || got[0].Requests != 3 {
		t.Errorf("usage after revoke: %+v, %v", got, err)
	}
}

// TestCloseFlushes: a burst of concurrent records followed at once by Close
// loses nothing, whether or not the periodic flusher ran meanwhile.
func testCloseFlushes(t *testing.T, newDB func(*testing.T) string) {
	for _, tc := range []struct {
		name  string
		flush time.Duration
	}{
		{"only the final flush", time.Hour},
		{"periodic flushes during the burst", time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			path := newDB(t)
			s, err := OpenURL(ctx, path, Options{FlushInterval: tc.flush})
			if err != nil {
				t.Fatal(err)
			}
			ck, err := s.Create(ctx, CreateParams{Name: "alice"})
			if err != nil {
				t.Fatal(err)
			}
			const workers, each = 50, 20
			var wg sync.WaitGroup
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						s.Record(UsageRecord{KeyID: ck.ID, Model: "gpt-4o", PromptTokens: 2, CompletionTokens: 3, Error: (w+i)%10 == 0})
					}
				}()
			}
			wg.Wait()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s2 := openURL(t, path, Options{})
			rows, err := s2.Usage(ctx, UsageQuery{})
			if err != nil {
				t.Fatal(err)
			}
			got := sumUsage(rows)
			const n = workers * each
			if got.Requests != n || got.PromptTokens != 2*n || got.CompletionTokens != 3*n || got.Errors != n/10 {
				t.Errorf("after reopen: %+v, want %d requests", got, n)
			}
		})
	}
}

// TestFlushFailureKeepsBatch: a failed flush puts its batch back.
func testFlushFailureKeepsBatch(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	s := openURL(t, newDB(t), Options{FlushInterval: time.Hour})
	ck := mustCreate(t, s, CreateParams{Name: "alice"})
	s.Record(UsageRecord{KeyID: ck.ID, Model: "m", PromptTokens: 1})
	s.Authenticate(ck.Secret)
	dead, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Flush(dead); err == nil {
		t.Fatal("Flush with a cancelled context succeeded")
	}
	s.Record(UsageRecord{KeyID: ck.ID, Model: "m", PromptTokens: 1})
	rows, err := s.Usage(ctx, UsageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Requests != 2 || rows[0].PromptTokens != 2 {
		t.Errorf("rows = %+v, want one row with 2 requests", rows)
	}
	if k, _ := s.Get(ctx, "alice"); k.LastUsed == nil {
		t.Error("last_used lost by the failed flush")
	}
}

// TestUnknownKeyUsageDropped: a record for an unknown key id does not block
// the rest of its batch, and is reported.
func testUnknownKeyUsageDropped(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	var logs syncBuffer
	s := openURL(t, newDB(t), Options{FlushInterval: time.Hour, Logger: zerolog.New(&logs)})
	ck := mustCreate(t, s, CreateParams{Name: "alice"})
	s.Record(UsageRecord{KeyID: "key_unknownxxxx", Model: "m"})
	s.Record(UsageRecord{KeyID: ck.ID, Model: "m"})
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := s.Usage(ctx, UsageQuery{})
	if err != nil || len(rows) != 1 || rows[0].KeyID != ck.ID {
		t.Errorf("rows = %+v, %v", rows, err)
	}
	if !strings.Contains(logs.String(), "key_unknownxxxx") {
		t.Errorf("drop not logged: %s", logs.String())
	}
}

// TestRecordAfterClose: a record after Close is dropped with a warning: no
// panic, nothing kept in memory, no row in the file.
func testRecordAfterClose(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	path := newDB(t)
	var logs syncBuffer
	s, err := OpenURL(ctx, path, Options{Logger: zerolog.New(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	ck, err := s.Create(ctx, CreateParams{Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.Record(UsageRecord{KeyID: ck.ID, Model: "m"})
	if !strings.Contains(logs.String(), "usage recorded after Close is dropped") {
		t.Errorf("the drop was not logged: %s", logs.String())
	}
	s.usageMu.Lock()
	pending := len(s.pending)
	s.usageMu.Unlock()
	if pending != 0 {
		t.Errorf("%d usage counts kept after Close", pending)
	}
	if _, err := s.Usage(ctx, UsageQuery{}); err == nil {
		t.Error("Usage after Close succeeded")
	}
	rows, err := openURL(t, path, Options{}).Usage(ctx, UsageQuery{})
	if err != nil || len(rows) != 0 {
		t.Errorf("usage after reopening = %+v, %v; want none", rows, err)
	}
}

// TestNoSecretInLogs: nothing the store logs carries a secret, even when
// operations fail.
func testNoSecretInLogs(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	var logs syncBuffer
	s := openURL(t, newDB(t), Options{Logger: zerolog.New(&logs).Level(zerolog.TraceLevel), FlushInterval: 5 * time.Millisecond})
	ck := mustCreate(t, s, CreateParams{Name: "alice"})
	s.Authenticate(ck.Secret)
	rot, err := s.Rotate(ctx, ck.Secret, time.Hour) // by secret
	if err != nil {
		t.Fatal(err)
	}
	_, _ = s.Get(ctx, newSecret())
	s.Record(UsageRecord{KeyID: ck.ID, Model: "m"})
	s.Record(UsageRecord{KeyID: "nope", Model: "m"})
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	for _, sec := range []string{ck.Secret, rot.Secret} {
		if strings.Contains(out, sec[len(SecretPrefix):len(SecretPrefix)+12]) {
			t.Errorf("a secret reached the log: %s", out)
		}
	}
}

func TestEpochDay(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), "1970-01-01"},
		{time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), "1969-12-31"},
		{time.Date(2026, 3, 14, 23, 59, 59, 999, time.UTC), "2026-03-14"},
		{time.Date(2026, 3, 15, 0, 30, 0, 0, time.FixedZone("X", 3600)), "2026-03-14"},
	} {
		if got := dayString(epochDay(tc.at)); got != tc.want {
			t.Errorf("day of %v = %s, want %s", tc.at, got, tc.want)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the store's goroutines to log into.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
