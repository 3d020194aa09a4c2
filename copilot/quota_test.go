package copilot_test

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot"
	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
)

func TestAuthUser(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t)
	auth := copilot.NewAuth(fake.Client(), fake.URL()+"/", copilottest.GitHubToken, copilot.Editor{})
	u, err := auth.User(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if u.Login != "octocat" || u.Plan != "business" || u.SKU != copilottest.DefaultSKU || u.ResetDate != "2026-12-01" {
		t.Errorf("user %+v", u)
	}
	p := u.Quotas.PremiumInteractions
	if p == nil || *p != (copilot.QuotaSnapshot{Entitlement: 300, Remaining: 120, PercentRemaining: 40}) {
		t.Errorf("premium %+v", p)
	}
	if c := u.Quotas.Chat; c == nil || !c.Unlimited || c.PercentRemaining != 100 {
		t.Errorf("chat %+v", c)
	}
	if u.Quotas.Completions == nil {
		t.Error("completions missing")
	}
	reqs := fake.RequestsTo("/copilot_internal/user")
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	h := reqs[0].Header
	if h.Get("Authorization") != "token "+copilottest.GitHubToken || h.Get("Editor-Version") != copilot.DefaultEditorVersion ||
		h.Get("Accept") != "application/json" || h.Get("User-Agent") != copilot.DefaultUserAgent {
		t.Errorf("headers: Editor-Version=%q Accept=%q User-Agent=%q", h.Get("Editor-Version"), h.Get("Accept"), h.Get("User-Agent"))
	}
	// The JSON names are GitHub's, so the value round-trips.
	b, _ := json.Marshal(u)
	for _, k := range []string{`"copilot_plan":"business"`, `"quota_snapshots":{`, `"premium_interactions":{"entitlement":300,"remaining":120,"percent_remaining":40,"unlimited":false,"overage_count":0,"overage_permitted":false}`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("JSON %s lacks %s", b, k)
		}
	}
}

func TestAuthUserErrors(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	tests := []struct {
		name     string
		setup    func(s *copilottest.Server)
		url      string // "" → the fake
		token    string
		kind     copilot.ErrorKind
		status   int
		wantText string
	}{
		{name: "bad token", token: "ghu_wrong", kind: copilot.KindBadToken, status: 401, wantText: "run `copilot-proxy login`"},
		{name: "bad JSON", setup: func(s *copilottest.Server) { s.SetUserJSON(`[1,2]`) }, kind: copilot.KindTransient, status: 200,
			wantText: "GitHub returned an unusable Copilot user answer (200): the body is not the expected JSON"},
		{name: "unreachable", url: closed, kind: copilot.KindTransient, status: 0, wantText: "GitHub unreachable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := copilottest.New(t)
			if tc.setup != nil {
				tc.setup(fake)
			}
			url, token := tc.url, tc.token
			if url == "" {
				url = fake.URL()
			}
			if token == "" {
				token = copilottest.GitHubToken
			}
			_, err := copilot.NewAuth(fake.Client(), url, token, copilot.Editor{}).User(t.Context())
			var ue *copilot.UserError
			var ee *copilot.ExchangeError
			if !errors.As(err, &ue) || !errors.As(err, &ee) {
				t.Fatalf("err %T %v: want a *UserError wrapping an *ExchangeError", err, err)
			}
			if ee.Kind != tc.kind || ee.Status != tc.status || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("got kind %v status %d %q; want %v %d containing %q", ee.Kind, ee.Status, err, tc.kind, tc.status, tc.wantText)
			}
			if strings.Contains(err.Error(), token) {
				t.Fatal("token in the error")
			}
		})
	}
	// A 5xx is worded for this call, not the exchange.
	e := &copilot.UserError{Exchange: &copilot.ExchangeError{Kind: copilot.KindTransient, Status: 502, Message: "down"}}
	if got := e.Error(); got != "GitHub returned 502 Bad Gateway on the Copilot user request: down" {
		t.Errorf("5xx text %q", got)
	}
	e = &copilot.UserError{Exchange: &copilot.ExchangeError{Kind: copilot.KindNoAccess, Status: 403, Message: "flagged"}}
	if got := e.Error(); !strings.Contains(got, "no Copilot access") || !strings.Contains(got, "flagged") {
		t.Errorf("403 text %q", got)
	}
}

func TestParseQuotaHeader(t *testing.T) {
	t.Parallel()
	reset := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want copilot.HeaderSnapshot
		ok   bool
	}{
		{"ent=300&ov=0.0&ovPerm=false&rem=29.7&rst=2026-12-01T00:00:00Z",
			copilot.HeaderSnapshot{Entitlement: 300, PercentRemaining: 29.7, ResetAt: reset}, true},
		{copilottest.DefaultPremiumQuotaHeader, // URL-encoded colons
			copilot.HeaderSnapshot{Entitlement: 300, PercentRemaining: 40, ResetAt: reset}, true},
		{"ent=-1&ov=2.5&ovPerm=true&rem=100",
			copilot.HeaderSnapshot{Entitlement: -1, Overage: 2.5, OveragePermitted: true, PercentRemaining: 100, Unlimited: true}, true},
		{"ent=50&rem=5&rst=2026-12-01T01:00:00+01:00", // unescaped + read as a space
			copilot.HeaderSnapshot{Entitlement: 50, PercentRemaining: 5, ResetAt: reset}, true},
		{"rem=12.5&rst=2026-12-01", copilot.HeaderSnapshot{PercentRemaining: 12.5, ResetAt: reset}, true},
		{"ent=300&rem=NaN", copilot.HeaderSnapshot{}, false},
		{"ent=300", copilot.HeaderSnapshot{}, false},
		{"ent=x&rem=7", copilot.HeaderSnapshot{PercentRemaining: 7}, true},
		{"rem=abc&ent=Inf", copilot.HeaderSnapshot{}, false},
		{"", copilot.HeaderSnapshot{}, false},
		{"ovPerm=true", copilot.HeaderSnapshot{}, false},
		{"ent=%zz", copilot.HeaderSnapshot{}, false},
	}
	for _, tc := range tests {
		got, ok := copilot.ParseQuotaHeader(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("ParseQuotaHeader(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	// JSON: the reset time is left out when unknown.
	b, _ := json.Marshal(copilot.HeaderSnapshot{PercentRemaining: 1})
	if strings.Contains(string(b), "reset_at") {
		t.Errorf("zero reset_at encoded: %s", b)
	}
}

func quotaHeader(pairs ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(pairs); i += 2 {
		h.Set(pairs[i], pairs[i+1])
	}
	return h
}

func TestQuotaTracker(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var warned []string
	tr := &copilot.QuotaTracker{OnLow: func(name string, pct float64) {
		mu.Lock()
		defer mu.Unlock()
		warned = append(warned, name)
	}}
	warnings := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(warned)
	}
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

	snap, at := tr.Snapshot()
	if len(snap) != 0 || !at.IsZero() {
		t.Fatalf("empty tracker: %v %v", snap, at)
	}
	// No quota header: nothing recorded.
	tr.Observe(quotaHeader("Content-Type", "application/json"), t0)
	if snap, _ := tr.Snapshot(); len(snap) != 0 {
		t.Fatal("recorded without a header")
	}

	steps := []struct {
		premium   string
		at        time.Duration
		wantPct   float64
		wantWarns int
	}{
		{"ent=300&rem=40", 0, 40, 0},
		{"ent=300&rem=9.5", time.Second, 9.5, 1}, // under 10 %: one warning
		{"ent=300&rem=8", 2 * time.Second, 8, 1}, // still low: no second warning
		{"ent=300&rem=50", time.Second, 8, 1},    // older than what is held: ignored
		{"ent=300&rem=12", 3 * time.Second, 12, 1},
		{"ent=300&rem=3", 4 * time.Second, 3, 2},   // re-armed above 10 %, warns again
		{"ent=-1&rem=0", 5 * time.Second, 0, 2},    // unlimited never warns
		{"garbage", 6 * time.Second, 0, 2},         // unparsable: kept the last
		{"ent=300&rem=10", 7 * time.Second, 10, 2}, // exactly 10 % is not under
	}
	for i, st := range steps {
		// Raw lowercase keys, as a map literal would hold them, are found too.
		h := http.Header{"x-quota-snapshot-premium_interactions": {st.premium}}
		h.Set("X-Quota-Snapshot-Chat", "ent=0&rem=100")
		tr.Observe(h, t0.Add(st.at))
		snap, _ := tr.Snapshot()
		if got := snap["premium_interactions"].PercentRemaining; got != st.wantPct {
			t.Fatalf("step %d: premium %v, want %v", i, got, st.wantPct)
		}
		if snap["chat"].PercentRemaining != 100 {
			t.Fatalf("step %d: chat %+v", i, snap["chat"])
		}
		if w := warnings(); w != st.wantWarns {
			t.Fatalf("step %d: %d warnings, want %d", i, w, st.wantWarns)
		}
	}
	_, at = tr.Snapshot()
	if !at.Equal(t0.Add(7 * time.Second)) {
		t.Errorf("observed at %v", at)
	}
	// Snapshot returns a copy.
	snap, _ = tr.Snapshot()
	delete(snap, "chat")
	if s2, _ := tr.Snapshot(); len(s2) != 2 {
		t.Error("Snapshot exposed the tracker's map")
	}
}

func TestQuotaTrackerConcurrentWarnsOnce(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	n := 0
	tr := &copilot.QuotaTracker{OnLow: func(string, float64) {
		mu.Lock()
		n++
		mu.Unlock()
	}}
	t0 := time.Now()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr.Observe(quotaHeader("X-Quota-Snapshot-Premium_interactions", "ent=300&rem=5"), t0.Add(time.Duration(i)))
			tr.Snapshot()
		}()
	}
	wg.Wait()
	if n != 1 {
		t.Fatalf("OnLow called %d times, want 1", n)
	}
}

func TestQuotaTrackerZeroValueWithoutHook(t *testing.T) {
	t.Parallel()
	var tr copilot.QuotaTracker
	tr.Observe(quotaHeader("X-Quota-Snapshot-Premium_interactions", "ent=300&rem=1"), time.Now())
	if snap, _ := tr.Snapshot(); snap["premium_interactions"].PercentRemaining != 1 {
		t.Fatalf("%+v", snap)
	}
}

func BenchmarkQuotaTrackerObserveNoHeader(b *testing.B) {
	var tr copilot.QuotaTracker
	h := quotaHeader("Content-Type", "text/event-stream", "X-Request-Id", "abc", "Date", "x", "Cache-Control", "no-cache")
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		tr.Observe(h, now)
	}
}

func TestQuotaSnapshotDescribe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		q    copilot.QuotaSnapshot
		want string
	}{
		{copilot.QuotaSnapshot{Unlimited: true, Entitlement: -1}, "unlimited"},
		{copilot.QuotaSnapshot{Entitlement: 300, Remaining: 120, PercentRemaining: 40}, "120 of 300 left (40.0%)"},
		{copilot.QuotaSnapshot{Entitlement: 300, Remaining: 0, PercentRemaining: 0, OverageCount: 12.5, OveragePermitted: true},
			"0 of 300 left (0.0%), 12.5 over the entitlement, paid overage allowed"},
	}
	for _, tt := range tests {
		if got := tt.q.Describe(); got != tt.want {
			t.Errorf("Describe(%+v) = %q, want %q", tt.q, got, tt.want)
		}
	}
}
