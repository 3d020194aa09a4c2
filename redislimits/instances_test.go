package redislimits

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/credits"
	"github.com/copilot-proxy/copilot-proxy/internal/redistest"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// Two gateway instances, each its own Client and middleware stack, sharing
// one Redis: the limits hold across both exactly as on one.

// instance is one gateway's limits: a Client and the middleware over it.
type instance struct {
	c   *Client
	lim *middleware.Limiter
	bud *middleware.Budgets
}

func newInstance(t *testing.T, srv *redistest.Server, lc middleware.LimitConfig, bc middleware.BudgetConfig, mods ...func(*Config)) *instance {
	t.Helper()
	c := newTestClient(t, srv, mods...)
	lc.Store, bc.Store = c, c
	return &instance{c: c, lim: middleware.NewLimiter(lc), bud: middleware.NewBudgets(bc)}
}

// serve sends one request as p (nil: none) through the instance's limits
// and budgets, in shape, to h.
func (in *instance) serve(p *middleware.Principal, shape api.Shape, h http.HandlerFunc) *httptest.ResponseRecorder {
	inner := middleware.ErrorShape(shape)(in.lim.Middleware(in.bud.Middleware(h)))
	chain := middleware.Entries(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p != nil {
			r = r.WithContext(middleware.WithPrincipal(r.Context(), *p))
		}
		inner.ServeHTTP(w, r)
	}))
	rec := httptest.NewRecorder()
	chain.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil))
	return rec
}

func ok(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }

// holder keeps admitted requests in flight until released.
type holder struct {
	t       *testing.T
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

func newHolder(t *testing.T) *holder {
	h := &holder{t: t, entered: make(chan struct{}, 100), release: make(chan struct{})}
	t.Cleanup(func() { h.releaseAll(); h.wg.Wait() })
	return h
}

func (h *holder) releaseAll() { h.once.Do(func() { close(h.release) }) }

// handler holds the request (after before, if it returns true).
func (h *holder) handler(before func(w http.ResponseWriter, r *http.Request) bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if before != nil && !before(w, r) {
			return
		}
		h.entered <- struct{}{}
		<-h.release
		ok(w, r)
	}
}

// hold starts a request through in that stays in flight; it returns once
// the handler runs.
func (h *holder) hold(in *instance, p *middleware.Principal) {
	h.t.Helper()
	h.wg.Go(func() { in.serve(p, api.ShapeOpenAI, h.handler(nil)) })
	select {
	case <-h.entered:
	case <-time.After(5 * time.Second):
		h.t.Fatal("held request never reached its handler")
	}
}

// errorCode reads the code of an OpenAI error envelope.
func errorCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var env struct {
		Error struct{ Code, Type string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("not an error envelope: %q", rec.Body)
	}
	return env.Error.Code
}

// spread sends n requests at once, alternately through each instance, and
// counts the statuses.
func spread(n int, ins []*instance, p func(i int) *middleware.Principal, h http.HandlerFunc) map[int]int {
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-gate
			rec := ins[i%len(ins)].serve(p(i), api.ShapeOpenAI, h)
			mu.Lock()
			codes[rec.Code]++
			mu.Unlock()
		})
	}
	close(gate)
	wg.Wait()
	return codes
}

func keyP(id string) *middleware.Principal { return &middleware.Principal{KeyID: id, KeyName: id} }

// 40 parallel requests on a key with rpm 10, spread over both: exactly 10.
func TestInstancesRPMExact(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	lc := middleware.LimitConfig{KeyRPM: 10}
	ins := []*instance{newInstance(t, srv, lc, middleware.BudgetConfig{}), newInstance(t, srv, lc, middleware.BudgetConfig{})}
	codes := spread(40, ins, func(int) *middleware.Principal { return keyP("key_hot") }, ok)
	if codes[200] != 10 || codes[429] != 30 || len(codes) != 2 {
		t.Fatalf("statuses %v, want exactly 10×200 and 30×429", codes)
	}
}

// The global limits hold across both instances and every key.
func TestInstancesGlobal(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	lc := middleware.LimitConfig{KeyRPM: 100, GlobalRPM: 10}
	ins := []*instance{newInstance(t, srv, lc, middleware.BudgetConfig{}), newInstance(t, srv, lc, middleware.BudgetConfig{})}
	codes := spread(40, ins, func(i int) *middleware.Principal { return keyP("key_" + strconv.Itoa(i)) }, ok)
	if codes[200] != 10 || codes[429] != 30 {
		t.Fatalf("global rpm: statuses %v, want exactly 10×200", codes)
	}

	lc = middleware.LimitConfig{GlobalConcurrency: 3}
	a, b := newInstance(t, srv, lc, middleware.BudgetConfig{}), newInstance(t, srv, lc, middleware.BudgetConfig{})
	h := newHolder(t)
	h.hold(a, keyP("key_1"))
	h.hold(a, nil)
	h.hold(b, keyP("key_2"))
	for _, in := range []*instance{a, b} {
		rec := in.serve(keyP("key_3"), api.ShapeOpenAI, ok)
		if rec.Code != 429 || errorCode(t, rec) != "rate_limit_exceeded" {
			t.Fatalf("fourth request: %d %s", rec.Code, rec.Body)
		}
	}
}

// Concurrency 2 holds across both instances, and a slot freed on one is
// taken on the other.
func TestInstancesConcurrency(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	lc := middleware.LimitConfig{KeyConcurrency: 2}
	a, b := newInstance(t, srv, lc, middleware.BudgetConfig{}), newInstance(t, srv, lc, middleware.BudgetConfig{})
	first, second := newHolder(t), newHolder(t)
	first.hold(a, keyP("key_c"))
	second.hold(b, keyP("key_c"))
	for _, in := range []*instance{a, b} {
		if rec := in.serve(keyP("key_c"), api.ShapeOpenAI, ok); rec.Code != 429 {
			t.Fatalf("third concurrent request: %d, want 429", rec.Code)
		}
	}
	first.releaseAll()
	first.wg.Wait()
	if rec := b.serve(keyP("key_c"), api.ShapeOpenAI, ok); rec.Code != 200 {
		t.Fatalf("after one ended on a: %d on b, want 200", rec.Code)
	}
}

// A token reservation on one instance counts on the other, and the real
// usage replaces it when the request ends.
func TestInstancesTokens(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	lc := middleware.LimitConfig{KeyTPM: 100}
	a, b := newInstance(t, srv, lc, middleware.BudgetConfig{}), newInstance(t, srv, lc, middleware.BudgetConfig{})
	reserve := func(n int64) func(w http.ResponseWriter, r *http.Request) bool {
		return func(w http.ResponseWriter, r *http.Request) bool {
			return middleware.ReserveTokens(w, r, 0, func() int64 { return n })
		}
	}
	h := newHolder(t)
	h.wg.Go(func() {
		a.serve(keyP("key_t"), api.ShapeOpenAI, func(w http.ResponseWriter, r *http.Request) {
			h.handler(reserve(80))(w, r)
			middleware.EntryFrom(r.Context()).SetUsage(api.Usage{PromptTokens: 5, CompletionTokens: 5})
		})
	})
	<-h.entered
	rec := b.serve(keyP("key_t"), api.ShapeOpenAI, func(w http.ResponseWriter, r *http.Request) {
		if reserve(30)(w, r) {
			t.Error("30 reserved on b over 80 reserved on a, of 100")
		}
	})
	if rec.Code != 429 || rec.Header().Get("X-Ratelimit-Remaining-Tokens") != "20" {
		t.Fatalf("b: %d, remaining %q", rec.Code, rec.Header().Get("X-Ratelimit-Remaining-Tokens"))
	}
	h.releaseAll()
	h.wg.Wait()
	rec = b.serve(keyP("key_t"), api.ShapeOpenAI, func(w http.ResponseWriter, r *http.Request) {
		if reserve(30)(w, r) {
			ok(w, r)
		}
	})
	if rec.Code != 200 || rec.Header().Get("X-Ratelimit-Remaining-Tokens") != "60" {
		t.Fatalf("after a settled 80 → 10: %d, remaining %q, want 200 and 60", rec.Code, rec.Header().Get("X-Ratelimit-Remaining-Tokens"))
	}
}

// A budget across both instances stops exactly under 20 parallel requests.
func TestInstancesBudgetExact(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	const c = 3 * credits.Nano
	a, b := newInstance(t, srv, middleware.LimitConfig{}, middleware.BudgetConfig{}),
		newInstance(t, srv, middleware.LimitConfig{}, middleware.BudgetConfig{})
	p := &middleware.Principal{KeyID: "key_b", KeyName: "bob", Budget: 5 * c, BudgetPeriod: credits.Month, HasBudget: true}
	h := newHolder(t)
	handler := func(w http.ResponseWriter, r *http.Request) {
		if !middleware.ReserveCredits(w, r, c) {
			return
		}
		h.entered <- struct{}{}
		<-h.release
		middleware.EntryFrom(r.Context()).SetCost(c, string(credits.Reported))
	}
	done := make(chan map[int]int)
	go func() { done <- spread(20, []*instance{a, b}, func(int) *middleware.Principal { return p }, handler) }()
	for range 5 {
		<-h.entered
	}
	h.releaseAll() // a sixth admitted would show in the statuses
	codes := <-done
	if codes[200] != 5 || codes[429] != 15 {
		t.Fatalf("statuses %v, want exactly 5×200", codes)
	}
	rec := b.serve(p, api.ShapeOpenAI, handler)
	if rec.Code != 429 || errorCode(t, rec) != "budget_exceeded" || rec.Header().Get(middleware.HeaderBudgetRemaining) != "0" {
		t.Fatalf("after the burst: %d %s remaining %q", rec.Code, rec.Body, rec.Header().Get(middleware.HeaderBudgetRemaining))
	}
}
