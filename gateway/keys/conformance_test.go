package keys

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/credits"
	"github.com/copilot-proxy/copilot-proxy/internal/pgtest"
)

// The conformance suite: every behaviour of the Store both databases must
// share. Each case gets newDB, which returns the location (for OpenURL) of
// a fresh, empty store; opening it twice gives two Stores on one database,
// as two gateway instances (or serve and the CLI) have.

func TestConformanceSQLite(t *testing.T) {
	t.Parallel()
	runConformance(t, func(t *testing.T) string {
		return "sqlite://" + filepath.Join(t.TempDir(), "keys.db")
	})
}

func TestConformancePostgres(t *testing.T) {
	t.Parallel()
	runConformance(t, func(t *testing.T) string { return pgtest.New(t) })
}

// runConformance runs every conformance case, in parallel, each on its own
// databases from newDB.
func runConformance(t *testing.T, newDB func(t *testing.T) string) {
	cases := []struct {
		name string
		run  func(t *testing.T, newDB func(*testing.T) string)
	}{
		// keys: create, get, list, revoke, rotate, update
		{"CreateGetList", testCreateGetList},
		{"ListEmpty", testListEmpty},
		{"CreateInvalid", testCreateInvalid},
		{"DuplicateNameAcrossStores", testDuplicateNameAcrossStores},
		{"DuplicateNameMapping", testDuplicateNameMapping},
		{"NotFound", testNotFound},
		{"Revoke", testRevoke},
		{"Rotate", testRotate},
		{"Update", testUpdate},
		{"UpdateRefused", testUpdateRefused},
		{"ConcurrentUpdatesOnTwoStores", testConcurrentUpdatesOnTwoStores},
		{"CountKeys", testCountKeys},
		{"OnlyHashStored", testOnlyHashStoredInTables},
		// authentication and the cache
		{"Authenticate", testAuthenticate},
		{"LastUsed", testLastUsed},
		{"CrossStoreVisibility", testCrossStoreVisibility},
		{"TwoInstancesSeeChanges", testTwoInstancesSeeChanges},
		{"ConcurrentUse", testConcurrentUse},
		{"UsageFlushDoesNotReloadTheCache", testUsageFlushDoesNotReloadTheCache},
		{"NewKeyFromOtherStoreWorksAtOnce", testNewKeyFromOtherStoreWorksAtOnce},
		{"MissFloodIsBounded", testMissFloodIsBounded},
		{"RevokeAfterLookupWithinPoll", testRevokeAfterLookupWithinPoll},
		// usage, credits, spend
		{"UsageAggregates", testUsageAggregates},
		{"UsageCredits", testUsageCredits},
		{"SpendAndPeriods", testSpendAndPeriods},
		{"RecordStartThenEnd", testRecordStartThenEnd},
		{"DefaultFlushIsBounded", testDefaultFlushIsBounded},
		{"CloseFlushes", testCloseFlushes},
		{"FlushFailureKeepsBatch", testFlushFailureKeepsBatch},
		{"UnknownKeyUsageDropped", testUnknownKeyUsageDropped},
		{"RecordAfterClose", testRecordAfterClose},
		{"NoSecretInLogs", testNoSecretInLogs},
		{"UsageBurstOnTwoStoresAddsUp", testUsageBurstOnTwoStores},
		// web console sessions (see sessions_conformance_test.go)
		{"ConsoleSessions", testConsoleSessions},
		{"ConsoleSessionExpiry", testConsoleSessionExpiry},
		{"ConsoleSessionEndsWithItsKey", testConsoleSessionEndsWithItsKey},
		{"ConsoleSessionSharedByInstances", testConsoleSessionSharedByInstances},
		{"ConsoleSessionInvalid", testConsoleSessionInvalid},
		{"ConsoleSessionOnlyHashStored", testConsoleSessionOnlyHashStored},
		{"KeyUsageIsTheListEntry", testKeyUsageIsTheListEntry},
		// the database
		{"PingAndCloseIdempotent", testPingAndCloseIdempotent},
		{"ReopenKeepsSchema", testReopenKeepsSchema},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, newDB)
		})
	}
}

// testConcurrentUpdatesOnTwoStores: two instances patching different
// settings of one key at the same moment both keep their change. Update
// reads the row, merges, and writes every column back, so without the row
// lock (PostgreSQL's lockKey) the second write would put back the value the
// first one replaced. Each round starts both updates together, then checks
// the row.
func testConcurrentUpdatesOnTwoStores(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	loc := newDB(t)
	a, b := openURL(t, loc, Options{}), openURL(t, loc, Options{})
	ck := mustCreate(t, a, CreateParams{Name: "alice"})
	const rounds = 25
	for i := 1; i <= rounds; i++ {
		var (
			wg    sync.WaitGroup
			errs  [2]error
			start = make(chan struct{})
		)
		wg.Go(func() { <-start; _, errs[0] = a.Update(ctx, ck.ID, UpdateParams{RPM: To(i)}) })
		wg.Go(func() { <-start; _, errs[1] = b.Update(ctx, ck.ID, UpdateParams{TPM: To(i)}) })
		close(start)
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("round %d: %v, %v", i, errs[0], errs[1])
		}
		k, err := a.Get(ctx, ck.ID)
		if err != nil {
			t.Fatal(err)
		}
		if k.RPM == nil || k.TPM == nil || *k.RPM != i || *k.TPM != i {
			t.Fatalf("round %d: rpm %v tpm %v, want both %d: a concurrent update was lost", i, deref(k.RPM), deref(k.TPM), i)
		}
	}
}

// deref is *p, or -1 for nil.
func deref(p *int) int {
	if p == nil {
		return -1
	}
	return *p
}

func testUpdate(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	clk := newClock()
	s := openURL(t, newDB(t), Options{Now: clk.Now})
	ck := mustCreate(t, s, CreateParams{Name: "alice"})
	exp := clk.Now().Add(48 * time.Hour)
	budget := credits.Amount(50 * credits.Nano)

	k, err := s.Update(ctx, "ALICE", UpdateParams{
		RPM: To(5), TPM: To(1000), Concurrency: To(2), Models: To([]string{"gpt-4o", "claude", "gpt-4o"}),
		Budget: To(int64(budget)), BudgetPeriod: To(credits.Week), ExpiresAt: To(exp),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := ck.Key
	want.RPM, want.TPM, want.Concurrency = ptr(5), ptr(1000), ptr(2)
	want.Models, want.Budget, want.BudgetPeriod, want.ExpiresAt = []string{"gpt-4o", "claude"}, &budget, credits.Week, &exp
	used := false // after Authenticate, the usage flush may set LastUsed at any time
	checkKey := func(what string, got Key, err error) {
		t.Helper()
		if used {
			got.LastUsed = want.LastUsed
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %+v, %v\nwant %+v", what, got, err, want)
		}
	}
	checkKey("Update", k, nil)
	k, err = s.Get(ctx, ck.ID)
	checkKey("Get after Update", k, err)
	// At once for Authenticate in this store.
	if a, ok := s.Authenticate(ck.Secret); !ok || a.RPM == nil || *a.RPM != 5 || a.BudgetPeriod != credits.Week {
		t.Errorf("Authenticate after Update = %+v, %v", a, ok)
	}
	used = true

	// Only the settings given change; a new budget keeps its period.
	budget = credits.Amount(10 * credits.Nano)
	want.RPM = ptr(7)
	k, err = s.Update(ctx, ck.ID, UpdateParams{RPM: To(7), Budget: To(int64(budget))})
	checkKey("partial Update", k, err)

	// Clearing: server defaults, all models, no budget (nor period), never.
	k, err = s.Update(ctx, ck.Secret, UpdateParams{
		RPM: Clear[int](), TPM: Clear[int](), Concurrency: Clear[int](), Models: Clear[[]string](),
		Budget: Clear[int64](), ExpiresAt: Clear[time.Time](),
	})
	want.RPM, want.TPM, want.Concurrency, want.Models = nil, nil, nil, nil
	want.Budget, want.BudgetPeriod, want.ExpiresAt = nil, "", nil
	checkKey("clearing Update", k, err)
	k, err = s.Get(ctx, "alice")
	checkKey("Get after clearing", k, err)
}

// testUpdateRefused: invalid changes, unknown and revoked keys change
// nothing.
func testUpdateRefused(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	clk := newClock()
	s := openURL(t, newDB(t), Options{Now: clk.Now})
	ck := mustCreate(t, s, CreateParams{Name: "alice", RPM: ptr(4)})
	past := clk.Now().Add(-time.Hour)
	for _, p := range []UpdateParams{
		{RPM: To(-1)},
		{Models: To([]string{"a b"})},
		{BudgetPeriod: To(credits.Day)}, // no budget
		{Budget: To(int64(-1))},
		{ExpiresAt: To(past)},
	} {
		if _, err := s.Update(ctx, "alice", p); !errors.Is(err, ErrInvalid) {
			t.Errorf("Update(%+v): %v, want ErrInvalid", p, err)
		}
	}
	if k, err := s.Get(ctx, "alice"); err != nil || !reflect.DeepEqual(k, ck.Key) {
		t.Errorf("Get after refused updates = %+v, %v\nwant %+v", k, err, ck.Key)
	}
	if _, err := s.Update(ctx, "nobody", UpdateParams{RPM: To(1)}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update unknown: %v", err)
	}
	if _, err := s.Revoke(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, "alice", UpdateParams{RPM: To(1)}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Update revoked: %v, want ErrInvalid", err)
	}
}

func testCountKeys(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	clk := newClock()
	s := openURL(t, newDB(t), Options{Now: clk.Now})
	exp := clk.Now().Add(time.Hour)
	mustCreate(t, s, CreateParams{Name: "active"})
	mustCreate(t, s, CreateParams{Name: "expiring", ExpiresAt: &exp})
	mustCreate(t, s, CreateParams{Name: "revoked"})
	if _, err := s.Revoke(ctx, "revoked"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountKeys(ctx); err != nil || n != 2 {
		t.Errorf("CountKeys = %d, %v; want 2", n, err)
	}
	clk.Advance(time.Hour)
	if n, err := s.CountKeys(ctx); err != nil || n != 1 {
		t.Errorf("CountKeys after expiry = %d, %v; want 1", n, err)
	}
}

// testDuplicateNameAcrossStores: of concurrent creates of one name in any
// case on two stores (two instances), exactly one wins; the others get
// ErrDuplicateName.
func testDuplicateNameAcrossStores(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	loc := newDB(t)
	stores := []*Store{openURL(t, loc, Options{}), openURL(t, loc, Options{})}
	names := []string{"team", "TEAM", "Team", "tEaM"}
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = stores[i%2].Create(ctx, CreateParams{Name: names[i%len(names)]})
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrDuplicateName):
			t.Errorf("create #%d: %v, want ErrDuplicateName", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d creates of one name succeeded, want 1", won)
	}
	if list, err := stores[1].List(ctx, time.Time{}); err != nil || len(list) != 1 {
		t.Errorf("List = %d keys, %v; want 1", len(list), err)
	}
}

// testDuplicateNameMapping: the database's refusal of a second name in
// another case is what Create maps to ErrDuplicateName when a concurrent
// create got past its check; other unique violations are not.
func testDuplicateNameMapping(t *testing.T, newDB func(*testing.T) string) {
	s := openURL(t, newDB(t), Options{})
	mustCreate(t, s, CreateParams{Name: "alice"})
	_, err := s.db.Exec(`INSERT INTO keys (id, name, hint, created_at) VALUES ('key_x', 'ALICE', 'h', 0)`)
	if err == nil || !s.d.duplicateName(err) {
		t.Errorf("duplicateName(%v) = false", err)
	}
	_, err = s.db.Exec(`INSERT INTO keys (id, name, hint, created_at) VALUES ('key_y', 'x', 'h', 0), ('key_y', 'y', 'h', 0)`)
	if err == nil || s.d.duplicateName(err) {
		t.Errorf("a duplicate id maps to a duplicate name: %v", err)
	}
}

// testOnlyHashStoredInTables: no column of any row holds a secret or a
// piece of one; the secret's SHA-256 is there.
func testOnlyHashStoredInTables(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	s := openURL(t, newDB(t), Options{})
	ck := mustCreate(t, s, CreateParams{Name: "alice"})
	rot, err := s.Rotate(ctx, "alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s.Authenticate(rot.Secret)
	s.Record(UsageRecord{KeyID: ck.ID, Model: "m"})
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, table := range []string{"keys", "key_secrets", "usage", "key_generation"} {
		all = append(all, dumpTable(t, s, table)...)
	}
	for _, sec := range []string{ck.Secret, rot.Secret} {
		body := sec[len(SecretPrefix):]
		for i := 0; i+8 <= len(body); i++ {
			if strings.Contains(string(all), body[i:i+8]) {
				t.Fatal("part of a secret found in the tables")
			}
		}
		if h := sha256.Sum256([]byte(sec)); !strings.Contains(string(all), string(h[:])) {
			t.Error("the secret's hash is not in the tables (dumping the wrong tables?)")
		}
	}
}

// dumpTable is every value of every row of table, bytes as they are.
func dumpTable(t *testing.T, s *Store, table string) []byte {
	t.Helper()
	rows, err := s.db.QueryContext(context.Background(), "SELECT * FROM "+table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			switch v := v.(type) {
			case []byte:
				out = append(out, v...)
			default:
				out = fmt.Append(out, v)
			}
			out = append(out, 0)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// testTwoInstancesSeeChanges: a key created, updated, rotated or revoked
// through one Store takes effect in the other's Authenticate within 1 s, at
// the default poll interval, both ways.
func testTwoInstancesSeeChanges(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	loc := newDB(t)
	a := openURL(t, loc, Options{PollInterval: defaultPollInterval})
	b := openURL(t, loc, Options{PollInterval: defaultPollInterval})
	within := func(what string, st *Store, cond func(k Key, ok bool) bool, secret string) {
		t.Helper()
		start := time.Now()
		eventually(t, what, func() bool { return cond(st.Authenticate(secret)) })
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s took %v, want under 1s", what, d)
		}
	}
	accepted := func(k Key, ok bool) bool { return ok }
	refused := func(k Key, ok bool) bool { return !ok }

	ck := mustCreate(t, a, CreateParams{Name: "alice", RPM: ptr(10)})
	within("created on a, works on b", b, accepted, ck.Secret)
	if _, err := a.Update(ctx, "alice", UpdateParams{RPM: To(3), Budget: To(int64(credits.Nano))}); err != nil {
		t.Fatal(err)
	}
	within("updated on a, seen on b", b, func(k Key, ok bool) bool {
		return ok && k.RPM != nil && *k.RPM == 3 && k.Budget != nil
	}, ck.Secret)
	rot, err := a.Rotate(ctx, "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	within("rotated on a: old secret refused on b", b, refused, ck.Secret)
	within("rotated on a: new secret works on b", b, accepted, rot.Secret)
	if _, err := b.Revoke(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	within("revoked on b, refused on a", a, refused, rot.Secret)
}

func testUsageCredits(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	clk := newClock()
	s := openURL(t, newDB(t), Options{Now: clk.Now, FlushInterval: time.Hour})
	alice := mustCreate(t, s, CreateParams{Name: "alice"})
	bob := mustCreate(t, s, CreateParams{Name: "bob"})
	for _, r := range []UsageRecord{
		{KeyID: alice.ID, Model: "gpt-4o", Credits: 41_875_000},
		{KeyID: alice.ID, Model: "gpt-4o", Credits: 1},
		{KeyID: alice.ID, Model: "claude", Credits: 3 * credits.Nano},
		{KeyID: bob.ID, Model: "gpt-4o", Credits: -5}, // negative counts 0
		// Beyond 2^31 nano-credits: the columns are 64-bit.
		{KeyID: bob.ID, Model: "gpt-4o", Credits: 5_000_000 * credits.Nano},
	} {
		s.Record(r)
	}
	rows, err := s.Usage(ctx, UsageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, r := range rows {
		if int64(r.Credits) != r.CreditsNano {
			t.Errorf("row %+v: Credits and CreditsNano differ", r)
		}
		got[r.KeyName+"/"+r.Model] = r.CreditsNano
	}
	want := map[string]int64{"alice/gpt-4o": 41_875_001, "alice/claude": 3 * credits.Nano, "bob/gpt-4o": 5_000_000 * credits.Nano}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("credits per row = %v, want %v", got, want)
	}
	list, err := s.List(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if list[0].CreditsNano != 3_041_875_001 || list[0].Credits != 3_041_875_001 || list[1].CreditsNano != 5_000_000*credits.Nano {
		t.Errorf("List credits: alice %d, bob %d", list[0].CreditsNano, list[1].CreditsNano)
	}
}

// testSpendAndPeriods: Spend over day ranges, and List's spend of each
// key's budget period (ISO week, day, month; the month following a quota
// reset date when given). The clock is Saturday 2026-03-14.
func testSpendAndPeriods(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	clk := newClock()
	s := openURL(t, newDB(t), Options{Now: clk.Now, FlushInterval: time.Hour})
	weekly := recordSpends(t, s)
	for _, tc := range []struct {
		key      string
		from, to string
		want     int64
	}{
		{weekly.ID, "2026-03-09", "2026-03-16", 6},
		{weekly.ID, "2026-03-14", "2026-03-14", 0}, // empty range
		{"", "2026-03-01", "2026-04-01", 1 + 2 + 4 + 8 + 16 + 64 + 128},
		{"", "2000-01-01", "2100-01-01", 255},
		{"key_unknownxxxx", "2000-01-01", "2100-01-01", 0},
	} {
		if got, err := s.Spend(ctx, tc.key, noon(tc.from), noon(tc.to)); err != nil || got != tc.want {
			t.Errorf("Spend(%q, %s, %s) = %d, %v; want %d", tc.key, tc.from, tc.to, got, err, tc.want)
		}
	}
	check := func(reset time.Time, want map[string][3]any) {
		t.Helper()
		list, err := s.List(ctx, reset)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range list {
			got := [3]any{int64(k.Credits), int64(k.PeriodCredits), k.PeriodStart.Format(dayLayout)}
			if got != want[k.Name] {
				t.Errorf("reset %v: %s: total, period, start = %v, want %v", reset, k.Name, got, want[k.Name])
			}
		}
	}
	check(time.Time{}, map[string][3]any{
		"weekly": {int64(7), int64(6), "2026-03-09"}, "daily": {int64(24), int64(16), "2026-03-14"},
		"monthly": {int64(224), int64(192), "2026-03-01"},
	})
	// Quota resets on the 20th: the month runs from 02-20 to 03-20.
	check(noon("2026-03-20"), map[string][3]any{
		"weekly": {int64(7), int64(6), "2026-03-09"}, "daily": {int64(24), int64(16), "2026-03-14"},
		"monthly": {int64(224), int64(224), "2026-02-20"},
	})
}

// recordSpends creates keys weekly, daily and monthly (no budget) and
// records spends of 1, 2, 4, ... nano-credits on days around 2026-03-14.
func recordSpends(t *testing.T, s *Store) (weekly CreatedKey) {
	weekly = mustCreate(t, s, CreateParams{Name: "weekly", Budget: ptr(int64(100 * credits.Nano)), BudgetPeriod: credits.Week})
	daily := mustCreate(t, s, CreateParams{Name: "daily", Budget: ptr(int64(100 * credits.Nano)), BudgetPeriod: credits.Day})
	monthly := mustCreate(t, s, CreateParams{Name: "monthly"})
	for _, r := range []struct {
		k    CreatedKey
		day  string
		nano int64
	}{
		{weekly, "2026-03-08", 1}, {weekly, "2026-03-09", 2}, {weekly, "2026-03-14", 4},
		{daily, "2026-03-13", 8}, {daily, "2026-03-14", 16},
		{monthly, "2026-02-28", 32}, {monthly, "2026-03-01", 64}, {monthly, "2026-03-14", 128},
	} {
		s.Record(UsageRecord{KeyID: r.k.ID, Model: "m", Credits: r.nano, At: noon(r.day)})
	}
	return weekly
}

// noon is 12:00 UTC on day "2006-01-02".
func noon(day string) time.Time {
	t, err := time.Parse(dayLayout, day)
	if err != nil {
		panic(err)
	}
	return t.Add(12 * time.Hour)
}

// testUsageBurstOnTwoStores: 8 goroutines × 200 records spread over two
// Stores on one database (two instances), with both flushing all the
// while, add up exactly.
func testUsageBurstOnTwoStores(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	loc := newDB(t)
	opts := Options{FlushInterval: 5 * time.Millisecond}
	stores := []*Store{openURL(t, loc, opts), openURL(t, loc, opts)}
	alice := mustCreate(t, stores[0], CreateParams{Name: "alice"})
	bob := mustCreate(t, stores[1], CreateParams{Name: "bob"})
	day1, day2 := time.Date(2026, 3, 13, 10, 0, 0, 0, time.UTC), time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			s := stores[w%2]
			for i := range each {
				k := []CreatedKey{alice, bob}[(w/2+i)%2]
				s.Authenticate(k.Secret)
				r := UsageRecord{KeyID: k.ID, Model: []string{"gpt-4o", "claude"}[i%2], At: []time.Time{day1, day2}[i%3%2],
					PromptTokens: 3, CompletionTokens: 5, Credits: 1_000_000_007, Error: i%7 == 0}
				if i%5 == 0 { // a stream: counted at its start, settled at its end
					s.RecordStart(r)
					r.Started = true
				}
				s.Record(r)
			}
		})
	}
	wg.Wait()
	for _, s := range stores {
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	const n = workers * each
	wantErrors := int64(workers * ((each + 6) / 7))
	for i, s := range stores {
		rows, err := s.Usage(ctx, UsageQuery{})
		if err != nil {
			t.Fatal(err)
		}
		got := sumUsage(rows)
		if got.Requests != n || got.PromptTokens != 3*n || got.CompletionTokens != 5*n ||
			got.Errors != wantErrors || got.CreditsNano != n*1_000_000_007 || len(rows) != 8 {
			t.Errorf("store %d: %d rows, totals %+v; want %d requests, %d errors, %d credits", i, len(rows), got, n, wantErrors, n*1_000_000_007)
		}
	}
	for _, name := range []string{"alice", "bob"} {
		if k, err := stores[0].Get(ctx, name); err != nil || k.LastUsed == nil {
			t.Errorf("%s: last_used not written: %+v, %v", name, k.LastUsed, err)
		}
	}
}

// testReopenKeepsSchema: a fresh database gets every migration; reopening
// it keeps the data and applies nothing more.
func testReopenKeepsSchema(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	loc := newDB(t)
	var id string
	for i := range 3 {
		s, err := OpenURL(ctx, loc, Options{PollInterval: testPoll})
		if err != nil {
			t.Fatalf("open #%d: %v", i+1, err)
		}
		if i == 0 {
			id = mustCreate(t, s, CreateParams{Name: "alice"}).ID
		}
		if k, err := s.Get(ctx, "alice"); err != nil || k.ID != id {
			t.Errorf("open #%d: Get = %+v, %v", i+1, k, err)
		}
		names, err := migrationNames("migrations/" + s.d.name)
		if err != nil || len(names) == 0 {
			t.Fatalf("migrations: %v %v", names, err)
		}
		if v := storeSchemaVersion(t, s); v != len(names) {
			t.Errorf("open #%d: schema version %d, want %d", i+1, v, len(names))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// storeSchemaVersion is the number of migrations s's database has applied:
// SQLite's user_version (with the key store's application_id), PostgreSQL's
// schema_version.
func storeSchemaVersion(t *testing.T, s *Store) int {
	t.Helper()
	var v int
	if s.d.name == "postgres" {
		if err := s.db.QueryRow("SELECT version FROM schema_version").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	var app int
	if err := s.db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRow("PRAGMA application_id").Scan(&app); err != nil || app != applicationID {
		t.Errorf("application_id %#x, %v; want %#x", app, err, applicationID)
	}
	return v
}

// sumUsage adds up the counts and credits of rows.
func sumUsage(rows []UsageRow) UsageRow {
	var sum UsageRow
	for _, r := range rows {
		sum.Requests += r.Requests
		sum.PromptTokens += r.PromptTokens
		sum.CompletionTokens += r.CompletionTokens
		sum.Errors += r.Errors
		sum.CreditsNano += r.CreditsNano
	}
	return sum
}
