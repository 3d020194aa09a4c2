package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/credits"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// budgetServer is Budgets in front of a handler that reserves est and
// costs cost nano-credits; hold, when set, keeps each admitted request in
// flight until it is closed.
type budgetServer struct {
	b         *middleware.Budgets
	est, cost int64
	hold      chan struct{}
	admitted  atomic.Int64
}

func (s *budgetServer) handler() http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !middleware.ReserveCredits(w, r, s.est) {
			return
		}
		s.admitted.Add(1)
		if s.hold != nil {
			<-s.hold
		}
		middleware.EntryFrom(r.Context()).SetCost(s.cost, string(credits.Reported))
	})
	return middleware.Entries(s.b.Middleware(inner))
}

// do sends one request as principal p.
func (s *budgetServer) do(t *testing.T, p middleware.Principal) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
	r = r.WithContext(middleware.WithPrincipal(r.Context(), p))
	s.handler().ServeHTTP(rec, r)
	return rec
}

func keyWithBudget(nano int64, period credits.Period) middleware.Principal {
	return middleware.Principal{KeyID: "key_alice", KeyName: "alice", Budget: nano, BudgetPeriod: period, HasBudget: true}
}

// Twenty parallel requests against a budget of five requests' cost: the
// reservations let exactly five through, and the spend lands on the budget;
// with a budget that is not a multiple, the overshoot is under one estimate.
func TestBudgetParallelExact(t *testing.T) {
	t.Parallel()
	const c = 3 * credits.Nano
	for _, tt := range []struct {
		name     string
		budget   int64
		admitted int64
	}{
		{"multiple", 5 * c, 5},
		{"not a multiple", 5*c + c/2, 6},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &budgetServer{b: middleware.NewBudgets(middleware.BudgetConfig{}), est: c, cost: c, hold: make(chan struct{})}
			p := keyWithBudget(tt.budget, credits.Month)
			var wg sync.WaitGroup
			codes := make(chan int, 20)
			for range 20 {
				wg.Go(func() { codes <- s.do(t, p).Code })
			}
			// Wait until every request was decided: admitted ones block.
			deadline := time.Now().Add(10 * time.Second)
			for s.admitted.Load()+int64(len(codes)) < 20 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			close(s.hold)
			wg.Wait()
			close(codes)
			refused := 0
			for code := range codes {
				if code == http.StatusTooManyRequests {
					refused++
				}
			}
			if s.admitted.Load() != tt.admitted || refused != 20-int(tt.admitted) {
				t.Fatalf("admitted %d, refused %d; want %d admitted", s.admitted.Load(), refused, tt.admitted)
			}
			spent := tt.admitted * c
			if over := spent - tt.budget; over >= s.est {
				t.Errorf("spent %d over a budget of %d: overshoot %d is not under one estimate", spent, tt.budget, over)
			}
			// Settled: the next request is refused on spend alone.
			rec := s.do(t, p)
			if rec.Code != http.StatusTooManyRequests || rec.Header().Get(middleware.HeaderBudgetRemaining) != "0" {
				t.Errorf("after the burst: %d, remaining %q", rec.Code, rec.Header().Get(middleware.HeaderBudgetRemaining))
			}
		})
	}
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time       { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time)      { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func mustTime(s string) time.Time     { t, _ := time.Parse(time.RFC3339, s); return t }
func decode(b []byte) (e errorFields) { _ = json.Unmarshal(b, &e); return e }

type errorFields struct {
	Error struct {
		Code, Type, Message string
	}
}

// A daily budget: refused once spent, with the budget, the spend and the
// reset in the message and Retry-After to midnight UTC; admitted again the
// next day, when the spend recorded for the new day is loaded.
func TestBudgetPeriodRollover(t *testing.T) {
	t.Parallel()
	clk := &clock{t: mustTime("2026-12-05T23:59:00Z")}
	var loads []string
	var mu sync.Mutex
	spend := func(_ context.Context, keyID string, from, to time.Time) (int64, error) {
		mu.Lock()
		defer mu.Unlock()
		loads = append(loads, keyID+" "+from.Format(time.DateOnly)+" "+to.Format(time.DateOnly))
		if from.Day() == 5 {
			return 9 * credits.Nano, nil // spent earlier today, by this or another process
		}
		return 0, nil
	}
	s := &budgetServer{b: middleware.NewBudgets(middleware.BudgetConfig{Spend: spend, Now: clk.now}), est: credits.Nano, cost: credits.Nano}
	p := keyWithBudget(10*credits.Nano, credits.Day)
	if rec := s.do(t, p); rec.Code != http.StatusOK || rec.Header().Get(middleware.HeaderBudgetRemaining) != "0" {
		t.Fatalf("first: %d remaining %q", rec.Code, rec.Header().Get(middleware.HeaderBudgetRemaining))
	}
	rec := s.do(t, p)
	e := decode(rec.Body.Bytes())
	if rec.Code != http.StatusTooManyRequests || e.Error.Code != "budget_exceeded" || e.Error.Type != "insufficient_quota" {
		t.Fatalf("second: %d %s", rec.Code, rec.Body)
	}
	for _, want := range []string{"'alice'", "10 of 10 AI credits per day", "2026-12-06T00:00:00Z"} {
		if !strings.Contains(e.Error.Message, want) {
			t.Errorf("message %q lacks %q", e.Error.Message, want)
		}
	}
	if got := rec.Header().Get("Retry-After"); got != "60" {
		t.Errorf("Retry-After %q, want 60 (to midnight)", got)
	}
	if rec.Header().Get("X-Should-Retry") != "false" {
		t.Error("no X-Should-Retry: false")
	}
	clk.set(mustTime("2026-12-06T00:00:01Z"))
	if rec := s.do(t, p); rec.Code != http.StatusOK || rec.Header().Get(middleware.HeaderBudgetRemaining) != "9" {
		t.Fatalf("next day: %d remaining %q", rec.Code, rec.Header().Get(middleware.HeaderBudgetRemaining))
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"key_alice 2026-12-05 2026-12-06", "key_alice 2026-12-06 2026-12-07"}
	if strings.Join(loads, ",") != strings.Join(want, ",") {
		t.Errorf("spend loads %q, want %q", loads, want)
	}
}

// The global budget counts every request, keyless ones included, and
// names itself in the refusal; keys without a budget get no header.
func TestBudgetGlobal(t *testing.T) {
	t.Parallel()
	b := middleware.NewBudgets(middleware.BudgetConfig{Global: 2 * credits.Nano, GlobalPeriod: credits.Week})
	s := &budgetServer{b: b, est: credits.Nano, cost: credits.Nano}
	for i, p := range []middleware.Principal{{}, {KeyID: "key_bob", KeyName: "bob"}} {
		if rec := s.do(t, p); rec.Code != http.StatusOK || rec.Header().Get(middleware.HeaderBudgetRemaining) != "" {
			t.Fatalf("request %d: %d, remaining header %q", i, rec.Code, rec.Header().Get(middleware.HeaderBudgetRemaining))
		}
	}
	rec := s.do(t, middleware.Principal{KeyID: "key_bob", KeyName: "bob"})
	e := decode(rec.Body.Bytes())
	if rec.Code != http.StatusTooManyRequests || !strings.Contains(e.Error.Message, "global budget") ||
		!strings.Contains(e.Error.Message, "2 of 2 AI credits per week") {
		t.Fatalf("third: %d %s", rec.Code, rec.Body)
	}
	// A key with its own budget left is still held by the global one.
	if rec := s.do(t, keyWithBudget(100*credits.Nano, credits.Month)); rec.Code != http.StatusTooManyRequests ||
		rec.Header().Get(middleware.HeaderBudgetRemaining) != "100" {
		t.Fatalf("key with room: %d remaining %q", rec.Code, rec.Header().Get(middleware.HeaderBudgetRemaining))
	}
}

// Passing 80 % and 100 % is logged and reported once each per period.
func TestBudgetThresholds(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []int
	var logs strings.Builder
	b := middleware.NewBudgets(middleware.BudgetConfig{
		Logger: zerolog.New(&syncWriter{w: &logs}),
		OnThreshold: func(keyID string, pct int) {
			mu.Lock()
			defer mu.Unlock()
			if keyID == "key_alice" {
				got = append(got, pct)
			}
		},
	})
	s := &budgetServer{b: b, est: 1, cost: 3 * credits.Nano}
	p := keyWithBudget(10*credits.Nano, credits.Month)
	for range 4 { // 3, 6, 9 (80 %), 12 (100 %)
		s.do(t, p)
	}
	s.do(t, p) // refused: no new crossing
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0] != 80 || got[1] != 100 {
		t.Errorf("thresholds %v, want [80 100]", got)
	}
	if !strings.Contains(logs.String(), `"percent":80`) || !strings.Contains(logs.String(), "key 'alice' passed 100% of its budget") {
		t.Errorf("log: %s", logs.String())
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// When the recorded spend cannot be read, a budgeted request is refused
// with 503 limits_unavailable rather than let through unchecked.
func TestBudgetSpendUnavailable(t *testing.T) {
	t.Parallel()
	b := middleware.NewBudgets(middleware.BudgetConfig{Spend: func(context.Context, string, time.Time, time.Time) (int64, error) {
		return 0, errors.New("database is locked")
	}})
	s := &budgetServer{b: b, est: 1, cost: 1}
	rec := s.do(t, keyWithBudget(credits.Nano, credits.Month))
	if rec.Code != http.StatusServiceUnavailable || decode(rec.Body.Bytes()).Error.Code != "limits_unavailable" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	// A key without a budget does not need the spend.
	if rec := s.do(t, middleware.Principal{KeyID: "key_x"}); rec.Code != http.StatusOK {
		t.Fatalf("no budget: %d", rec.Code)
	}
}
