package copilot_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/copilot"
	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
)

// fakeUser is a scripted Auth.User: call n (from 1) answers script(ctx, n).
type fakeUser struct {
	mu     sync.Mutex
	script func(ctx context.Context, n int) (*copilot.UserInfo, error)
	at     []time.Time
}

func (f *fakeUser) User(ctx context.Context) (*copilot.UserInfo, error) {
	f.mu.Lock()
	f.at = append(f.at, time.Now())
	n := len(f.at)
	f.mu.Unlock()
	return f.script(ctx, n)
}

func (f *fakeUser) calls() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.at)
}

func userInfo(login string, premiumPct float64) *copilot.UserInfo {
	return &copilot.UserInfo{Login: login, Plan: "business", SKU: "copilot_for_business_seat_quota", ResetDate: "2026-12-01",
		Quotas: copilot.Quotas{
			PremiumInteractions: &copilot.QuotaSnapshot{Entitlement: 300, Remaining: 3 * premiumPct, PercentRemaining: premiumPct},
			Chat:                &copilot.QuotaSnapshot{PercentRemaining: 100, Unlimited: true},
			Completions:         &copilot.QuotaSnapshot{PercentRemaining: 100, Unlimited: true},
		}}
}

// runWatch starts q.Run and returns a function that cancels it and waits
// for it to return.
func runWatch(t *testing.T, q *copilot.QuotaWatch) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

func TestQuotaWatchReport(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		boom := &copilot.UserError{Exchange: &copilot.ExchangeError{Kind: copilot.KindTransient, Status: http.StatusBadGateway}}
		u := &fakeUser{script: func(_ context.Context, n int) (*copilot.UserInfo, error) {
			switch n {
			case 1:
				return userInfo("octocat", 40), nil
			case 2:
				return nil, boom
			}
			return userInfo("octocat2", 35), nil
		}}
		var logs logBuffer
		q := copilot.NewQuotaWatch(u.User, nil, zerolog.New(&logs))

		// Before anything.
		if r := q.Report(); r.Headers != nil || r.Account != nil || r.AccountError != "" {
			t.Fatalf("report before a fetch: %+v", r)
		}
		if b, _ := json.Marshal(q.Report()); string(b) != `{"headers":null,"account":null}` {
			t.Fatalf("JSON before a fetch: %s", b)
		}

		stop := runWatch(t, q)
		synctest.Wait() // the first fetch is done at once; Run waits for its ticker
		r := q.Report()
		want := &copilot.AccountQuota{FetchedAt: start.UTC(), Login: "octocat", Plan: "business", SKU: "copilot_for_business_seat_quota",
			ResetDate: "2026-12-01", Quota: userInfo("octocat", 40).Quotas}
		if r.Account == nil || !accountEqual(r.Account, want) || r.AccountError != "" || r.Headers != nil {
			t.Fatalf("report after the first fetch: %+v, account %+v", r, r.Account)
		}

		// A failed fetch keeps the last account answer and says why.
		time.Sleep(copilot.DefaultQuotaInterval + time.Second)
		synctest.Wait()
		r = q.Report()
		if r.Account == nil || r.Account.Login != "octocat" || !r.Account.FetchedAt.Equal(start) || r.AccountError != boom.Error() {
			t.Fatalf("report after a failed fetch: %+v", r)
		}
		if len(logs.lines(`"level":"warn"`, "could not fetch the Copilot quota", "502")) != 1 {
			t.Fatalf("the failed fetch was not logged once: %s", logs.String())
		}

		// The next success clears the error.
		time.Sleep(copilot.DefaultQuotaInterval)
		synctest.Wait()
		r = q.Report()
		if r.Account == nil || r.Account.Login != "octocat2" || !r.Account.FetchedAt.Equal(start.Add(2*copilot.DefaultQuotaInterval)) || r.AccountError != "" {
			t.Fatalf("report after the third fetch: %+v", r)
		}

		// Run stops with its context, and fetches no more.
		stop()
		time.Sleep(3 * copilot.DefaultQuotaInterval)
		calls := u.calls()
		wantCalls := []time.Time{start, start.Add(copilot.DefaultQuotaInterval), start.Add(2 * copilot.DefaultQuotaInterval)}
		if !slices.EqualFunc(calls, wantCalls, time.Time.Equal) {
			t.Fatalf("fetched at %v, want %v", calls, wantCalls)
		}
	})
}

func accountEqual(a, b *copilot.AccountQuota) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb) && a.FetchedAt.Location() == time.UTC
}

// The clock given to NewQuotaWatch stamps the fetches; times are reported
// in UTC.
func TestQuotaWatchClockAndHeaders(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		zone := time.FixedZone("CET", 3600)
		fetched := time.Date(2026, 11, 29, 13, 0, 0, 0, zone)
		q := copilot.NewQuotaWatch(func(context.Context) (*copilot.UserInfo, error) { return userInfo("octocat", 40), nil },
			func() time.Time { return fetched }, zerolog.Nop())
		observed := time.Date(2026, 11, 29, 14, 0, 0, 0, zone)
		q.Tracker.Observe(quotaHeader("X-Quota-Snapshot-Premium_interactions", "ent=300&rem=12.5"), observed)
		stop := runWatch(t, q)
		synctest.Wait()
		stop()
		r := q.Report()
		if r.Account == nil || !r.Account.FetchedAt.Equal(fetched) || r.Account.FetchedAt.Location() != time.UTC {
			t.Fatalf("account %+v", r.Account)
		}
		if r.Headers == nil || !r.Headers.ObservedAt.Equal(observed) || r.Headers.ObservedAt.Location() != time.UTC ||
			r.Headers.Snapshots["premium_interactions"].PercentRemaining != 12.5 || len(r.Headers.Snapshots) != 1 {
			t.Fatalf("headers %+v", r.Headers)
		}
		// The report is a copy.
		r.Headers.Snapshots["chat"] = copilot.HeaderSnapshot{}
		if len(q.Report().Headers.Snapshots) != 1 {
			t.Fatal("Report exposed the tracker's map")
		}
	})
}

func TestQuotaWatchFetchErrors(t *testing.T) {
	t.Parallel()
	t.Run("a fetch that hangs times out", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			u := &fakeUser{script: func(ctx context.Context, n int) (*copilot.UserInfo, error) {
				if n == 1 {
					<-ctx.Done()
					return nil, ctx.Err()
				}
				return userInfo("octocat", 40), nil
			}}
			var logs logBuffer
			q := copilot.NewQuotaWatch(u.User, nil, zerolog.New(&logs))
			stop := runWatch(t, q)
			defer stop()
			time.Sleep(2 * time.Minute)
			synctest.Wait()
			if r := q.Report(); r.Account != nil || !strings.Contains(r.AccountError, context.DeadlineExceeded.Error()) {
				t.Fatalf("report after a hung fetch: %+v", r)
			}
			if len(logs.lines("could not fetch the Copilot quota")) != 1 {
				t.Fatalf("logs: %s", logs.String())
			}
		})
	})
	t.Run("a fetch cut by the end of Run is no error", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			entered := make(chan struct{})
			u := &fakeUser{script: func(ctx context.Context, n int) (*copilot.UserInfo, error) {
				close(entered)
				<-ctx.Done()
				return nil, ctx.Err()
			}}
			var logs logBuffer
			q := copilot.NewQuotaWatch(u.User, nil, zerolog.New(&logs))
			stop := runWatch(t, q)
			<-entered
			stop()
			if r := q.Report(); r.Account != nil || r.AccountError != "" {
				t.Fatalf("report: %+v", r)
			}
			if logs.String() != "" {
				t.Fatalf("logged: %s", logs.String())
			}
		})
	})
	t.Run("Run with an ended context returns", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			u := &fakeUser{script: func(ctx context.Context, n int) (*copilot.UserInfo, error) { return nil, ctx.Err() }}
			q := copilot.NewQuotaWatch(u.User, nil, zerolog.Nop())
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			q.Run(ctx)
			if n := len(u.calls()); n > 1 {
				t.Fatalf("%d fetches", n)
			}
			if r := q.Report(); r.AccountError != "" {
				t.Fatalf("report: %+v", r)
			}
		})
	})
}

func TestQuotaWatchLevels(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		q := copilot.NewQuotaWatch(func(context.Context) (*copilot.UserInfo, error) { return userInfo("octocat", 40), nil }, nil, zerolog.Nop())
		if l := q.Levels(); len(l) != 0 {
			t.Fatalf("levels before anything: %+v", l)
		}
		// Headers only.
		q.Tracker.Observe(http.Header{
			"X-Quota-Snapshot-Premium_interactions": {"ent=300&rem=5"},
			"X-Quota-Snapshot-Chat":                 {"ent=-1&rem=100"},
		}, time.Now())
		want := []copilot.QuotaLevel{
			{Name: "chat", PercentRemaining: 100, Entitlement: 0, Unlimited: true},
			{Name: "premium_interactions", PercentRemaining: 5, Entitlement: 300},
		}
		if l := sortedLevels(q); !slices.Equal(l, want) {
			t.Fatalf("levels from headers: %+v, want %+v", l, want)
		}
		// With the account: the headers win where both know a quota.
		stop := runWatch(t, q)
		synctest.Wait()
		stop()
		want = []copilot.QuotaLevel{
			{Name: "chat", PercentRemaining: 100, Entitlement: 0, Unlimited: true},
			{Name: "completions", PercentRemaining: 100, Entitlement: 0, Unlimited: true},
			{Name: "premium_interactions", PercentRemaining: 5, Entitlement: 300},
		}
		if l := sortedLevels(q); !slices.Equal(l, want) {
			t.Fatalf("merged levels: %+v, want %+v", l, want)
		}
	})
	// The account alone.
	synctest.Test(t, func(t *testing.T) {
		info := userInfo("octocat", 40)
		info.Quotas.Completions = nil // GitHub sent none
		q := copilot.NewQuotaWatch(func(context.Context) (*copilot.UserInfo, error) { return info, nil }, nil, zerolog.Nop())
		stop := runWatch(t, q)
		synctest.Wait()
		stop()
		want := []copilot.QuotaLevel{
			{Name: "chat", PercentRemaining: 100, Entitlement: 0, Unlimited: true},
			{Name: "premium_interactions", PercentRemaining: 40, Entitlement: 300},
		}
		if l := sortedLevels(q); !slices.Equal(l, want) {
			t.Fatalf("levels from the account: %+v, want %+v", l, want)
		}
	})
}

func sortedLevels(q *copilot.QuotaWatch) []copilot.QuotaLevel {
	l := q.Levels()
	slices.SortFunc(l, func(a, b copilot.QuotaLevel) int { return strings.Compare(a.Name, b.Name) })
	return l
}

// The gateway's wiring: the Transport feeds the watch's tracker, every
// inference response carries the low premium quota, and the warning is
// logged once (cmd/copilot-proxy's TestQuotaEndpointReflectsUpstreamHeaders
// before the move).
func TestQuotaWatchThroughTransportWarnsOnce(t *testing.T) {
	t.Parallel()
	s := copilottest.New(t)
	s.SetQuotaHeader("premium_interactions", "ent=300&ov=0.0&ovPerm=false&rem=5.0&rst=2026-12-01T00%3A00%3A00Z")
	var logs logBuffer
	log := zerolog.New(&logs)
	auth := copilot.NewAuth(testHTTPClient(t), s.URL(), copilottest.GitHubToken, copilot.DefaultEditor())
	q := copilot.NewQuotaWatch(auth.User, nil, log)
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	st := newStack(t, s, func(tr *copilot.Transport) {
		tr.Quota = &q.Tracker
		tr.Now = func() time.Time { return at }
	})

	if r := q.Report(); r.Headers != nil {
		t.Fatalf("header snapshot before any inference: %+v", r.Headers)
	}
	stop := runWatch(t, q)
	defer stop()
	eventually(t, "the account quota fetched", func() bool { return q.Report().Account != nil })
	before := q.Report()
	if before.Account.Plan != "business" || before.Account.Quota.PremiumInteractions == nil || before.Account.Quota.PremiumInteractions.Entitlement != 300 {
		t.Fatalf("account quota: %+v", before.Account)
	}

	for range 3 {
		if resp, _ := doRead(t, st.client, chatReq(t, t.Context(), chatBody)); resp.StatusCode != http.StatusOK {
			t.Fatalf("chat: %d", resp.StatusCode)
		}
	}
	after := q.Report()
	snap, ok := after.Headers.Snapshots["premium_interactions"]
	if !ok || snap.PercentRemaining != 5 || snap.Entitlement != 300 || !after.Headers.ObservedAt.Equal(at) {
		t.Fatalf("header snapshot: %+v", after.Headers)
	}
	if n := strings.Count(logs.String(), "premium requests are running out"); n != 1 {
		t.Fatalf("low-quota warning logged %d times, want once: %s", n, logs.String())
	}
	if l := logs.lines(`"level":"warn"`, `"quota":"premium_interactions"`, `"percent_remaining":5`); len(l) != 1 {
		t.Fatalf("the warning lacks the quota or its level: %s", logs.String())
	}
	checkNoSecrets(t, logs.String(), s.IssuedTokens()...)
}
