package middleware

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/rs/zerolog"
)

// fakeClock is an injectable clock that only moves when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// memOf is l's in-memory store.
func memOf(l *Limiter) *MemoryLimits { return l.store.(*MemoryLimits) }

// newTestLimiter returns a limiter on a fake clock, closed with the test.
func newTestLimiter(t testing.TB, cfg LimitConfig) (*Limiter, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	cfg.Now = clk.Now
	l := NewLimiter(cfg)
	t.Cleanup(l.Close)
	return l, clk
}

// limitResult is what a test sees of one request through the limiter.
type limitResult struct {
	rec    *httptest.ResponseRecorder
	reason LimitReason
	code   string
}

// limitChain wraps h in the production order around the limiter: access log
// (for the Entry), recover, a stand-in for Auth that installs p (nil = no
// principal), then the limiter. The result records the Entry's limit reason.
func limitChain(l *Limiter, p *Principal, h http.HandlerFunc) func() limitResult {
	return func() limitResult {
		var res limitResult
		inner := Recover(l.Middleware(h))
		chain := accessLog(zerolog.Nop())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if p != nil {
				r = r.WithContext(WithPrincipal(r.Context(), *p))
			}
			inner.ServeHTTP(w, r)
			e := EntryFrom(r.Context())
			res.reason, res.code = e.LimitReason(), e.ErrorCode()
		}))
		res.rec = httptest.NewRecorder()
		chain.ServeHTTP(res.rec, newRequest(http.MethodPost, "/v1/chat/completions", nil))
		return res
	}
}

// addTestTokens records tokens in keyID's tokens window outside of any
// request, as if an earlier request had reported them. Non-positive counts
// are ignored, as the middleware ignores them.
func addTestTokens(l *Limiter, keyID string, tokens int) {
	if tokens <= 0 {
		return
	}
	m := memOf(l)
	for {
		k := m.state(keyID)
		k.mu.Lock()
		if !k.dead {
			k.toks.add(m.elapsed(), int64(tokens))
			k.mu.Unlock()
			return
		}
		k.mu.Unlock()
	}
}

func okLimited(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }

func keyP(id string) *Principal { return &Principal{KeyID: id, KeyName: "name-" + id} }

// expect429 checks a rejection: status, envelope, message, reason and the
// retry headers.
func expect429(t *testing.T, res limitResult, reason LimitReason, msg string, retrySecs, retryMs int64) {
	t.Helper()
	if res.rec.Code != http.StatusTooManyRequests {
		t.Fatalf("status = %d, want 429 (%s)", res.rec.Code, res.rec.Body)
	}
	code, typ, gotMsg := decodeEnvelope(t, res.rec.Body.Bytes())
	if code != "rate_limit_exceeded" || typ != "rate_limit_error" {
		t.Errorf("envelope = %s / %s", code, typ)
	}
	if msg != "" && gotMsg != msg {
		t.Errorf("message = %q, want %q", gotMsg, msg)
	}
	if res.reason != reason || res.code != "rate_limit_exceeded" {
		t.Errorf("entry reason/code = %q / %q, want %q", res.reason, res.code, reason)
	}
	h := res.rec.Header()
	if h.Get("Retry-After") != strconv.FormatInt(retrySecs, 10) || h.Get("Retry-After-Ms") != strconv.FormatInt(retryMs, 10) {
		t.Errorf("Retry-After = %q, retry-after-ms = %q, want %d / %d", h.Get("Retry-After"), h.Get("Retry-After-Ms"), retrySecs, retryMs)
	}
}

func expectOK(t *testing.T, res limitResult) {
	t.Helper()
	if res.rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200 (%s)", res.rec.Code, res.rec.Body)
	}
	if res.reason != "" || res.code != "" {
		t.Fatalf("entry reason/code set on success: %q / %q", res.reason, res.code)
	}
}

// burst fires n requests through h at once (released by one barrier) and
// counts the statuses.
func burst(n int, h http.Handler, principal func(i int) *Principal) (ok, limited, other int) {
	var (
		start sync.WaitGroup
		done  sync.WaitGroup
		okN   atomic.Int64
		limN  atomic.Int64
		othN  atomic.Int64
		gate  = make(chan struct{})
	)
	start.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			req := newRequest(http.MethodPost, "/", nil)
			if p := principal(i); p != nil {
				req = req.WithContext(WithPrincipal(req.Context(), *p))
			}
			rec := httptest.NewRecorder()
			start.Done()
			<-gate
			h.ServeHTTP(rec, req)
			switch rec.Code {
			case http.StatusOK:
				okN.Add(1)
			case http.StatusTooManyRequests:
				limN.Add(1)
			default:
				othN.Add(1)
			}
		}()
	}
	start.Wait()
	close(gate)
	done.Wait()
	return int(okN.Load()), int(limN.Load()), int(othN.Load())
}

func TestLimiterBurstIsExact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cfg       LimitConfig
		principal func(i int) *Principal
	}{
		{"key rpm", LimitConfig{KeyRPM: 10}, func(int) *Principal { return keyP("hot") }},
		{"key's own rpm", LimitConfig{KeyRPM: 1000}, func(int) *Principal {
			return &Principal{KeyID: "own", RPM: intp(10)}
		}},
		{"global rpm across keys", LimitConfig{GlobalRPM: 10, KeyRPM: 1000}, func(i int) *Principal { return keyP(strconv.Itoa(i)) }},
		{"global rpm without principal", LimitConfig{GlobalRPM: 10}, func(int) *Principal { return nil }},
		{"global rpm with a mix", LimitConfig{GlobalRPM: 10, KeyRPM: 3}, func(i int) *Principal {
			if i%4 == 0 {
				return nil
			}
			return keyP(strconv.Itoa(i % 7))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, _ := newTestLimiter(t, tt.cfg)
			ok, limited, other := burst(100, l.Middleware(http.HandlerFunc(okLimited)), tt.principal)
			if ok != 10 || limited != 90 || other != 0 {
				t.Fatalf("ok=%d limited=%d other=%d, want exactly 10 / 90 / 0", ok, limited, other)
			}
		})
	}
}

func TestLimiterRPMWindow(t *testing.T) {
	t.Parallel()
	l, clk := newTestLimiter(t, LimitConfig{KeyRPM: 3})
	do := limitChain(l, keyP("k"), okLimited)

	type step struct {
		advance   time.Duration
		status    int
		remaining string
		reset     string
		retrySecs int64
		retryMs   int64
	}
	steps := []step{
		{0, 200, "2", "1m0s", 0, 0},                                      // t=0
		{10 * time.Second, 200, "1", "50s", 0, 0},                        // t=10
		{10 * time.Second, 200, "0", "40s", 0, 0},                        // t=20
		{33500 * time.Millisecond, 429, "0", "6.5s", 7, 6500},            // t=53.5: the t=0 one leaves at 60
		{6500*time.Millisecond - time.Nanosecond, 429, "0", "1ms", 1, 1}, // 1ns before
		{time.Nanosecond, 200, "0", "10s", 0, 0},                         // t=60: slid
		{0, 429, "0", "10s", 10, 10000},                                  // t=60 again: full
		{10 * time.Second, 200, "0", "10s", 0, 0},                        // t=70: the t=10 one left
		{2 * time.Minute, 200, "2", "1m0s", 0, 0},                        // long idle: empty window
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		res := do()
		if s.status == 200 {
			expectOK(t, res)
		} else {
			expect429(t, res, ReasonRPM, fmt.Sprintf("Rate limit reached for key 'name-k': 3 requests per minute. Retry after %ds.", s.retrySecs), s.retrySecs, s.retryMs)
		}
		h := res.rec.Header()
		if h.Get("X-Ratelimit-Limit-Requests") != "3" || h.Get("X-Ratelimit-Remaining-Requests") != s.remaining ||
			h.Get("X-Ratelimit-Reset-Requests") != s.reset {
			t.Errorf("step %d: headers limit=%q remaining=%q reset=%q, want 3 %s %s", i,
				h.Get("X-Ratelimit-Limit-Requests"), h.Get("X-Ratelimit-Remaining-Requests"), h.Get("X-Ratelimit-Reset-Requests"), s.remaining, s.reset)
		}
		if h.Get("X-Ratelimit-Limit-Tokens") != "" {
			t.Errorf("step %d: token headers without a token limit", i)
		}
	}
}

func TestLimiterTPM(t *testing.T) {
	t.Parallel()
	l, clk := newTestLimiter(t, LimitConfig{KeyTPM: 100})
	p := keyP("t")
	var usage atomic.Int64 // tokens the next request reports
	do := limitChain(l, p, func(w http.ResponseWriter, r *http.Request) {
		u := int(usage.Load())
		EntryFrom(r.Context()).SetUsage(api.Usage{PromptTokens: int64(u / 2), CompletionTokens: int64(u - u/2)})
		okLimited(w, r)
	})
	tokHeaders := func(res limitResult) string {
		h := res.rec.Header()
		return h.Get("X-Ratelimit-Limit-Tokens") + " " + h.Get("X-Ratelimit-Remaining-Tokens") + " " + h.Get("X-Ratelimit-Reset-Tokens")
	}

	usage.Store(60)
	res := do() // t=0: admitted with an empty window, then records 60
	expectOK(t, res)
	if got := tokHeaders(res); got != "100 100 0s" {
		t.Errorf("first token headers = %q", got)
	}
	if res.rec.Header().Get("X-Ratelimit-Limit-Requests") != "" {
		t.Error("request headers without a request limit")
	}

	clk.Advance(10 * time.Second)
	usage.Store(50)
	res = do() // t=10: 60 < 100, admitted, then records 50: 110 in the window
	expectOK(t, res)
	if got := tokHeaders(res); got != "100 40 50s" {
		t.Errorf("token headers = %q", got)
	}

	clk.Advance(5 * time.Second)
	res = do() // t=15: over; the 60 leave at t=60, then 50 < 100
	expect429(t, res, ReasonTPM, "Rate limit reached for key 'name-t': 100 tokens per minute. Retry after 45s.", 45, 45000)
	if got := tokHeaders(res); got != "100 0 45s" {
		t.Errorf("rejected token headers = %q", got)
	}

	clk.Advance(45*time.Second - time.Millisecond)
	expect429(t, do(), ReasonTPM, "", 1, 1)
	clk.Advance(time.Millisecond) // t=60
	res = do()
	expectOK(t, res)
	if got := tokHeaders(res); got != "100 50 10s" {
		t.Errorf("token headers after the slide = %q", got)
	}

	// That request recorded 50 more at t=60: exactly at the limit is over
	// ("rejected while the sum is >= tpm").
	expect429(t, do(), ReasonTPM, "", 10, 10000)
	clk.Advance(time.Minute)
	expectOK(t, do())
}

func TestLimiterTokensOnlyCountedWithATokenLimit(t *testing.T) {
	t.Parallel()
	l, _ := newTestLimiter(t, LimitConfig{KeyRPM: 100})
	do := limitChain(l, keyP("u"), func(w http.ResponseWriter, r *http.Request) {
		EntryFrom(r.Context()).SetUsage(api.Usage{PromptTokens: 1000, CompletionTokens: 1000})
	})
	expectOK(t, do())
	v, ok := memOf(l).keys.Load("u")
	if !ok {
		t.Fatal("no state for the key")
	}
	c := v.(*counters)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.toks.sum != 0 {
		t.Fatalf("tokens recorded without a token limit: %d", c.toks.sum)
	}
}

// holdChain runs requests through the limiter on goroutines, blocking each
// admitted handler until released.
type holdChain struct {
	t       *testing.T
	l       *Limiter
	entered chan struct{}
	release chan struct{}
	wg      sync.WaitGroup
}

func newHoldChain(t *testing.T, l *Limiter) *holdChain {
	hc := &holdChain{t: t, l: l, entered: make(chan struct{}, 100), release: make(chan struct{})}
	t.Cleanup(func() {
		close(hc.release)
		hc.wg.Wait()
	})
	return hc
}

// hold starts a request for p that stays in flight; it returns once the
// handler runs.
func (hc *holdChain) hold(p *Principal) {
	hc.t.Helper()
	hc.wg.Add(1)
	go func() {
		defer hc.wg.Done()
		limitChain(hc.l, p, func(w http.ResponseWriter, r *http.Request) {
			hc.entered <- struct{}{}
			<-hc.release
		})()
	}()
	select {
	case <-hc.entered:
	case <-time.After(5 * time.Second):
		hc.t.Fatal("held request never reached its handler")
	}
}

func TestLimiterConcurrency(t *testing.T) {
	t.Parallel()
	l, _ := newTestLimiter(t, LimitConfig{KeyConcurrency: 2, KeyRPM: 0})
	hc := newHoldChain(t, l)
	a := keyP("a")
	hc.hold(a)
	hc.hold(a)

	start := time.Now()
	res := limitChain(l, a, okLimited)()
	if d := time.Since(start); d > time.Second {
		t.Errorf("the over-cap request waited %v; it must be refused at once", d)
	}
	expect429(t, res, ReasonConcurrency, "Rate limit reached for key 'name-a': 2 concurrent requests. Retry after 1s.", 1, 1000)
	// The cap is per key.
	expectOK(t, limitChain(l, keyP("b"), okLimited)())

	// A handler that returns frees its slot; one that panics too.
	l2, _ := newTestLimiter(t, LimitConfig{KeyConcurrency: 1})
	panicky := limitChain(l2, a, func(http.ResponseWriter, *http.Request) { panic("boom") })
	for range 3 {
		if res := panicky(); res.rec.Code != http.StatusInternalServerError {
			t.Fatalf("panicking handler: status = %d, want 500 from Recover", res.rec.Code)
		}
	}
	expectOK(t, limitChain(l2, a, okLimited)())
	expectOK(t, limitChain(l2, a, okLimited)())
}

func TestLimiterConcurrencySlotFreedAfterHandler(t *testing.T) {
	t.Parallel()
	l, _ := newTestLimiter(t, LimitConfig{KeyConcurrency: 1})
	p := keyP("s")
	release := make(chan struct{})
	entered := make(chan struct{})
	done := make(chan limitResult)
	go func() {
		done <- limitChain(l, p, func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			<-release
			okLimited(w, r)
		})()
	}()
	<-entered
	expect429(t, limitChain(l, p, okLimited)(), ReasonConcurrency, "", 1, 1000)
	close(release)
	expectOK(t, <-done)
	expectOK(t, limitChain(l, p, okLimited)())
}

func TestLimiterGlobalConcurrency(t *testing.T) {
	t.Parallel()
	l, _ := newTestLimiter(t, LimitConfig{GlobalConcurrency: 2, KeyConcurrency: 5})
	hc := newHoldChain(t, l)
	hc.hold(keyP("a"))
	hc.hold(nil) // unauthenticated requests count against the global cap too
	for _, p := range []*Principal{keyP("c"), nil} {
		res := limitChain(l, p, okLimited)()
		expect429(t, res, ReasonGlobalConcurrency, "The gateway is at its global limit of 2 concurrent requests. Retry after 1s.", 1, 1000)
	}
}

func TestLimiterGlobalRPM(t *testing.T) {
	t.Parallel()
	l, clk := newTestLimiter(t, LimitConfig{GlobalRPM: 2, KeyRPM: 10})
	expectOK(t, limitChain(l, keyP("a"), okLimited)())
	clk.Advance(20 * time.Second)
	res := limitChain(l, nil, okLimited)()
	expectOK(t, res)
	if h := res.rec.Header(); h.Get("X-Ratelimit-Limit-Requests") != "" {
		t.Errorf("rate limit headers on a request without a principal: %v", h)
	}
	res = limitChain(l, keyP("b"), okLimited)()
	expect429(t, res, ReasonGlobalRPM, "The gateway is at its global limit of 2 requests per minute. Retry after 40s.", 40, 40000)
	// The key's own headers still describe the key.
	if h := res.rec.Header(); h.Get("X-Ratelimit-Remaining-Requests") != "10" {
		t.Errorf("key headers on a global rejection = %v", h)
	}
	clk.Advance(40 * time.Second)
	expectOK(t, limitChain(l, keyP("b"), okLimited)())
}

func TestLimiterRollback(t *testing.T) {
	t.Parallel()
	// A request refused by a key limit must not keep a global slot: neither
	// an in-flight one nor a place in the global window.
	l, _ := newTestLimiter(t, LimitConfig{GlobalRPM: 2, GlobalConcurrency: 1, KeyRPM: 1})
	a := keyP("a")
	expectOK(t, limitChain(l, a, okLimited)())
	for range 20 {
		expect429(t, limitChain(l, a, okLimited)(), ReasonRPM, "", 60, 60000)
	}
	g := &memOf(l).global
	g.mu.Lock()
	inflight, inWindow := g.inflight, g.reqs.count()
	g.mu.Unlock()
	if inflight != 0 || inWindow != 1 {
		t.Fatalf("global in flight = %d, in window = %d; want 0 and 1", inflight, inWindow)
	}
	expectOK(t, limitChain(l, keyP("b"), okLimited)())
	expect429(t, limitChain(l, keyP("c"), okLimited)(), ReasonGlobalRPM, "", 60, 60000)

	// Same for a concurrency refusal by the key while the global cap has room.
	l2, _ := newTestLimiter(t, LimitConfig{GlobalConcurrency: 2, KeyConcurrency: 1})
	hc := newHoldChain(t, l2)
	hc.hold(a)
	for range 10 {
		expect429(t, limitChain(l2, a, okLimited)(), ReasonConcurrency, "", 1, 1000)
	}
	hc.hold(keyP("b")) // the second global slot is still free
}

func TestLimiterZeroIsUnlimited(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  LimitConfig
		p    *Principal
	}{
		{"all config zero", LimitConfig{}, keyP("k")},
		{"all config zero, no principal", LimitConfig{}, nil},
		{"key's own zeros override defaults", LimitConfig{KeyRPM: 1, KeyTPM: 1, KeyConcurrency: 1},
			&Principal{KeyID: "k", RPM: intp(0), TPM: intp(0), Concurrency: intp(0)}},
		{"negative config is zero", LimitConfig{KeyRPM: -1, KeyTPM: -5, KeyConcurrency: -1, GlobalRPM: -1, GlobalConcurrency: -1}, keyP("k")},
		{"key limits do not apply without a principal", LimitConfig{KeyRPM: 1, KeyTPM: 1, KeyConcurrency: 1}, nil},
		{"global zero, keys unlimited", LimitConfig{GlobalRPM: 0, GlobalConcurrency: 0}, &Principal{KeyID: "k", RPM: intp(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, _ := newTestLimiter(t, tt.cfg)
			hc := newHoldChain(t, l)
			for range 20 {
				hc.hold(tt.p) // unlimited concurrency
			}
			do := limitChain(l, tt.p, func(w http.ResponseWriter, r *http.Request) {
				EntryFrom(r.Context()).SetUsage(api.Usage{PromptTokens: 1e6, CompletionTokens: 1e6})
			})
			for i := range 500 {
				res := do()
				if res.rec.Code != http.StatusOK {
					t.Fatalf("request %d: status = %d", i, res.rec.Code)
				}
				for k := range res.rec.Header() {
					if len(k) > 12 && k[:12] == "X-Ratelimit-" {
						t.Fatalf("header %s for an unlimited dimension", k)
					}
				}
			}
			addTestTokens(l, "k", 1e9)
			expectOK(t, do())
		})
	}
}

func TestLimiterOwnLimitsOverrideDefaults(t *testing.T) {
	t.Parallel()
	l, _ := newTestLimiter(t, LimitConfig{KeyRPM: 1, KeyTPM: 0, KeyConcurrency: 8})
	big := &Principal{KeyID: "big", KeyName: "big", RPM: intp(3), TPM: intp(1000)}
	do := limitChain(l, big, okLimited)
	for range 3 {
		res := do()
		expectOK(t, res)
		if res.rec.Header().Get("X-Ratelimit-Limit-Requests") != "3" || res.rec.Header().Get("X-Ratelimit-Limit-Tokens") != "1000" {
			t.Fatalf("headers = %v", res.rec.Header())
		}
	}
	expect429(t, do(), ReasonRPM, "Rate limit reached for key 'big': 3 requests per minute. Retry after 60s.", 60, 60000)
	// A key without its own values gets the default; the message falls back
	// to the key id when the key has no name.
	dflt := &Principal{KeyID: "key_9"}
	expectOK(t, limitChain(l, dflt, okLimited)())
	res := limitChain(l, dflt, okLimited)()
	expect429(t, res, ReasonRPM, "Rate limit reached for key 'key_9': 1 request per minute. Retry after 60s.", 60, 60000)
	if res.rec.Header().Get("X-Ratelimit-Limit-Requests") != "1" || res.rec.Header().Get("X-Ratelimit-Remaining-Requests") != "0" {
		t.Fatalf("headers = %v", res.rec.Header())
	}
}

func TestLimiterSuccessHeadersBeforeBody(t *testing.T) {
	t.Parallel()
	// A streaming handler flushes its headers right away; the rate limit
	// headers must already be there.
	l := NewLimiter(LimitConfig{KeyRPM: 60, KeyTPM: 1000})
	defer l.Close()
	h := accessLog(zerolog.Nop())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(WithPrincipal(r.Context(), Principal{KeyID: "s"}))
		l.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			_, _ = w.Write([]byte("data: {}\n\n"))
		})).ServeHTTP(w, r)
	}))
	srv := newServer(t, h)
	resp, err := srv.Client().Post(srv.URL, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := map[string]string{
		"X-Ratelimit-Limit-Requests":     "60",
		"X-Ratelimit-Remaining-Requests": "59",
		"X-Ratelimit-Reset-Requests":     "1m0s",
		"X-Ratelimit-Limit-Tokens":       "1000",
		"X-Ratelimit-Remaining-Tokens":   "1000",
		"X-Ratelimit-Reset-Tokens":       "0s",
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestLimiterCloseIdempotent(t *testing.T) {
	t.Parallel()
	// Close has nothing to stop: calling it twice returns at once, and the
	// limiter still limits and sweeps afterwards.
	l, clk := newTestLimiter(t, LimitConfig{KeyRPM: 1})
	closed := make(chan struct{})
	go func() {
		l.Close()
		l.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked")
	}
	do := limitChain(l, keyP("a"), okLimited)
	expectOK(t, do())
	expect429(t, do(), ReasonRPM, "", 60, 60000)
	clk.Advance(sweepInterval + time.Second)
	expectOK(t, limitChain(l, keyP("b"), okLimited)())
	if got := limiterKeys(l); len(got) != 1 || !got["b"] {
		t.Fatalf("keys after Close and a sweep interval = %v, want only b", got)
	}
}

// BenchmarkLimiterAdmit measures admission and release in parallel, for many
// keys and for one hot key, with and without global limits. The clock steps
// 100µs per reading so windows slide and stay bounded.
func BenchmarkLimiterAdmit(b *testing.B) {
	cases := []struct {
		name   string
		keys   int
		global bool
	}{
		{"many keys", 1000, false},
		{"one hot key", 1, false},
		{"many keys, global limits", 1000, true},
		{"one hot key, global limits", 1, true},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			var tick atomic.Int64
			base := time.Unix(0, 0)
			cfg := LimitConfig{
				KeyRPM: 1 << 30, KeyTPM: 1 << 30, KeyConcurrency: 1 << 20,
				Now: func() time.Time { return base.Add(time.Duration(tick.Add(1)) * 100 * time.Microsecond) },
			}
			if bc.global {
				cfg.GlobalRPM, cfg.GlobalConcurrency = 1<<30, 1<<20
			}
			l := NewLimiter(cfg)
			defer l.Close()
			req := AdmitRequest{Key: KeyLimits{RPM: cfg.KeyRPM, TPM: cfg.KeyTPM, Concurrency: cfg.KeyConcurrency},
				GlobalRPM: cfg.GlobalRPM, GlobalConcurrency: cfg.GlobalConcurrency}
			m := memOf(l)
			ctx := context.Background()
			ids := make([]string, bc.keys)
			for i := range ids {
				ids[i] = "key_" + strconv.Itoa(i)
			}
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(7919))
				for pb.Next() {
					i++
					r := req
					r.KeyID = ids[i%len(ids)]
					t, _, rej, _ := m.Admit(ctx, r)
					if rej != nil {
						b.Errorf("rejected: %v", rej.Reason)
						return
					}
					t.Release(10, false)
				}
			})
		})
	}
	b.Run("middleware", func(b *testing.B) {
		var tick atomic.Int64
		l := NewLimiter(LimitConfig{KeyRPM: 1 << 30, KeyConcurrency: 8, GlobalConcurrency: 64,
			Now: func() time.Time { return time.Unix(0, 0).Add(time.Duration(tick.Add(1)) * 100 * time.Microsecond) }})
		defer l.Close()
		h := l.Middleware(http.HandlerFunc(okHandler))
		req := newRequest(http.MethodPost, "/", nil)
		req = req.WithContext(WithPrincipal(req.Context(), Principal{KeyID: "k"}))
		w := &benchWriter{h: http.Header{}}
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			h.ServeHTTP(w, req)
		}
	})
}
