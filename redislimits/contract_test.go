package redislimits

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/internal/redistest"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// The contract of middleware.LimitStore and middleware.BudgetStore, run
// against the in-memory stores (on a fake clock) and against Redis (on
// Redis's clock, with a short window): both must decide the same way.

// limitEnv is one LimitStore under test, with its clock.
type limitEnv struct {
	store  middleware.LimitStore
	window time.Duration
	// advance moves time on: the fake clock, or a real sleep.
	advance func(time.Duration)
	// slack is how much real time may pass between steps (0 on a fake
	// clock): a reported wait may be that much under the exact value.
	slack time.Duration
}

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func limitEnvs() map[string]func(t *testing.T) limitEnv {
	return map[string]func(t *testing.T) limitEnv{
		"memory": func(*testing.T) limitEnv {
			clk := &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
			return limitEnv{store: middleware.NewMemoryLimits(clk.now), window: time.Minute, advance: clk.advance}
		},
		"redis": func(t *testing.T) limitEnv {
			c := newTestClient(t, redistest.Start(t))
			return limitEnv{store: c, window: testWindow, advance: time.Sleep, slack: 500 * time.Millisecond}
		},
	}
}

// runLimitContract runs f against every implementation.
func runLimitContract(t *testing.T, f func(t *testing.T, e limitEnv)) {
	for name, mk := range limitEnvs() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, mk(t))
		})
	}
}

// admit asks e for req, failing t on an error.
func (e limitEnv) admit(t *testing.T, req middleware.AdmitRequest) (middleware.LimitTicket, middleware.LimitSnapshot, *middleware.LimitRejection) {
	t.Helper()
	tk, snap, rej, err := e.store.Admit(context.Background(), req)
	if err != nil {
		t.Fatalf("Admit: %v", err)
	}
	return tk, snap, rej
}

// mustAdmit admits req or fails t.
func (e limitEnv) mustAdmit(t *testing.T, req middleware.AdmitRequest) (middleware.LimitTicket, middleware.LimitSnapshot) {
	t.Helper()
	tk, snap, rej := e.admit(t, req)
	if rej != nil {
		t.Fatalf("refused by %s (limit %d), want admitted", rej.Reason, rej.Limit)
	}
	return tk, snap
}

// mustRefuse expects req to be refused for reason.
func (e limitEnv) mustRefuse(t *testing.T, req middleware.AdmitRequest, reason middleware.LimitReason) (*middleware.LimitRejection, middleware.LimitSnapshot) {
	t.Helper()
	tk, snap, rej := e.admit(t, req)
	if rej == nil {
		tk.Release(0, false)
		t.Fatalf("admitted, want refused by %s", reason)
	}
	if rej.Reason != reason {
		t.Fatalf("refused by %s, want %s", rej.Reason, reason)
	}
	return rej, snap
}

// near checks a duration the store reported against the exact want.
func (e limitEnv) near(t *testing.T, what string, got, want time.Duration) {
	t.Helper()
	if got > want || got < want-e.slack {
		t.Errorf("%s = %v, want %v (slack %v)", what, got, want, e.slack)
	}
}

func keyReq(id string, lim middleware.KeyLimits) middleware.AdmitRequest {
	return middleware.AdmitRequest{KeyID: id, Key: lim}
}

// A burst of 100 at once against a limit of 10 admits exactly 10, whatever
// the limit and however global and key limits mix.
func TestContractBurstIsExact(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		req  func(i int) middleware.AdmitRequest
	}{
		{"key rpm", func(int) middleware.AdmitRequest { return keyReq("hot", middleware.KeyLimits{RPM: 10}) }},
		{"key concurrency", func(int) middleware.AdmitRequest {
			return keyReq("hot", middleware.KeyLimits{Concurrency: 10})
		}},
		{"global rpm across keys", func(i int) middleware.AdmitRequest {
			r := keyReq("k"+strconv.Itoa(i), middleware.KeyLimits{RPM: 1000})
			r.GlobalRPM = 10
			return r
		}},
		{"global concurrency without a key", func(int) middleware.AdmitRequest {
			return middleware.AdmitRequest{GlobalConcurrency: 10, GlobalRPM: 1000}
		}},
		{"global rpm with a mix", func(i int) middleware.AdmitRequest {
			r := middleware.AdmitRequest{GlobalRPM: 10}
			if i%4 != 0 {
				r.KeyID, r.Key = "m"+strconv.Itoa(i%7), middleware.KeyLimits{RPM: 3}
			}
			return r
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runLimitContract(t, func(t *testing.T, e limitEnv) {
				tickets := burstAdmit(t, e.store, 100, tc.req)
				if len(tickets) != 10 {
					t.Errorf("admitted %d of 100, want exactly 10", len(tickets))
				}
				for _, tk := range tickets {
					tk.Release(0, false)
				}
			})
		})
	}
}

// burstAdmit sends n admissions at once (one barrier) and returns the
// tickets of those admitted, unreleased.
func burstAdmit(t *testing.T, s middleware.LimitStore, n int, req func(i int) middleware.AdmitRequest) []middleware.LimitTicket {
	t.Helper()
	var (
		mu      sync.Mutex
		tickets []middleware.LimitTicket
		errs    atomic.Int64
		wg      sync.WaitGroup
		gate    = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-gate
			tk, _, rej, err := s.Admit(context.Background(), req(i))
			if err != nil {
				errs.Add(1)
				return
			}
			if rej == nil {
				mu.Lock()
				tickets = append(tickets, tk)
				mu.Unlock()
			}
		})
	}
	close(gate)
	wg.Wait()
	if errs.Load() > 0 {
		t.Fatalf("%d admissions failed", errs.Load())
	}
	return tickets
}

// A concurrency slot is held until release, and only then given to the next.
func TestContractConcurrency(t *testing.T) {
	t.Parallel()
	runLimitContract(t, func(t *testing.T, e limitEnv) {
		req := keyReq("c", middleware.KeyLimits{Concurrency: 2})
		a, _ := e.mustAdmit(t, req)
		b, _ := e.mustAdmit(t, req)
		e.mustRefuse(t, req, middleware.ReasonConcurrency)
		other, _ := e.mustAdmit(t, keyReq("other", middleware.KeyLimits{Concurrency: 2}))
		other.Release(0, false)
		a.Release(0, false)
		c, _ := e.mustAdmit(t, req)
		b.Release(0, false)
		c.Release(0, false)
	})
}

// A request refused by one limit holds no slot of another: neither an
// in-flight one nor a place in a window.
func TestContractRefusalHoldsNothing(t *testing.T) {
	t.Parallel()
	runLimitContract(t, func(t *testing.T, e limitEnv) {
		req := func(id string) middleware.AdmitRequest {
			return middleware.AdmitRequest{KeyID: id, Key: middleware.KeyLimits{RPM: 1}, GlobalRPM: 2, GlobalConcurrency: 1}
		}
		tk, _ := e.mustAdmit(t, req("a"))
		tk.Release(0, false)
		for range 20 {
			e.mustRefuse(t, req("a"), middleware.ReasonRPM)
		}
		tk, _ = e.mustAdmit(t, req("b"))
		tk.Release(0, false)
		e.mustRefuse(t, req("c"), middleware.ReasonGlobalRPM)

		conc := func(id string) middleware.AdmitRequest {
			return middleware.AdmitRequest{KeyID: id, Key: middleware.KeyLimits{Concurrency: 1}, GlobalConcurrency: 2}
		}
		held, _ := e.mustAdmit(t, conc("x"))
		for range 10 {
			e.mustRefuse(t, conc("x"), middleware.ReasonConcurrency)
		}
		second, _ := e.mustAdmit(t, conc("y")) // the second global slot is free
		e.mustRefuse(t, conc("z"), middleware.ReasonGlobalConcurrency)
		held.Release(0, false)
		second.Release(0, false)
	})
}

// The request window slides: a full window refuses with the time until its
// oldest admission leaves, and admits again once it has.
func TestContractRequestWindowSlides(t *testing.T) {
	t.Parallel()
	runLimitContract(t, func(t *testing.T, e limitEnv) {
		req := keyReq("w", middleware.KeyLimits{RPM: 3})
		for i, want := range []int{2, 1, 0} {
			tk, snap := e.mustAdmit(t, req)
			tk.Release(0, false)
			if snap.RPM != 3 || snap.ReqRemaining != want {
				t.Fatalf("admission %d: snapshot %+v, want 3 / %d remaining", i, snap, want)
			}
			e.near(t, "reset", snap.ReqReset, e.window)
		}
		e.advance(e.window / 2)
		rej, snap := e.mustRefuse(t, req, middleware.ReasonRPM)
		e.near(t, "wait", rej.Wait, e.window/2)
		if rej.Limit != 3 || snap.ReqRemaining != 0 {
			t.Errorf("rejection %+v, snapshot %+v", rej, snap)
		}
		e.advance(e.window/2 + e.slack/5) // the first three leave
		tk, snap := e.mustAdmit(t, req)
		tk.Release(0, false)
		if snap.ReqRemaining != 2 {
			t.Errorf("after the slide: %d remaining, want 2", snap.ReqRemaining)
		}
	})
}

// Tokens: reservations count at once, a window at its limit refuses, and
// the real usage replaces a reservation at release.
func TestContractTokens(t *testing.T) {
	t.Parallel()
	runLimitContract(t, func(t *testing.T, e limitEnv) {
		ctx := context.Background()
		req := keyReq("t", middleware.KeyLimits{TPM: 100})
		a, snap := e.mustAdmit(t, req)
		if snap.TPM != 100 || snap.TokRemaining != 100 || snap.TokReset != 0 {
			t.Fatalf("first snapshot %+v", snap)
		}
		if snap, rej, err := a.ReserveTokens(ctx, 60); err != nil || rej != nil || snap.TokRemaining != 40 {
			t.Fatalf("reserve 60: %+v %+v %v", snap, rej, err)
		}
		b, _ := e.mustAdmit(t, req) // 60 < 100
		snap, rej, err := b.ReserveTokens(ctx, 50)
		if err != nil || rej == nil || rej.Reason != middleware.ReasonTPM || snap.TokRemaining != 40 {
			t.Fatalf("reserve 50 over 60 of 100: %+v %+v %v", snap, rej, err)
		}
		e.near(t, "wait for the 60 to leave", rej.Wait, e.window)
		if _, rej, err := b.ReserveTokens(ctx, 40); err != nil || rej != nil {
			t.Fatalf("reserve 40, up to the limit: %+v %v", rej, err)
		}
		e.mustRefuse(t, req, middleware.ReasonTPM) // at the limit is over
		a.Release(30, false)                       // 60 reserved → 30 used
		c, snap := e.mustAdmit(t, req)
		if snap.TokRemaining != 30 {
			t.Errorf("after settling 60 → 30: %d remaining, want 30", snap.TokRemaining)
		}
		b.Release(0, false)
		c.Release(0, false)
		e.advance(e.window + e.slack/5)
		tk, snap := e.mustAdmit(t, req)
		tk.Release(0, false)
		if snap.TokRemaining != 100 {
			t.Errorf("after the window: %d remaining, want 100", snap.TokRemaining)
		}
	})
}

// A refunded request gives its place in the request windows back.
func TestContractRefund(t *testing.T) {
	t.Parallel()
	runLimitContract(t, func(t *testing.T, e limitEnv) {
		req := middleware.AdmitRequest{KeyID: "r", Key: middleware.KeyLimits{RPM: 2}, GlobalRPM: 2}
		for range 5 {
			tk, _ := e.mustAdmit(t, req)
			tk.Release(0, true)
		}
		for range 2 {
			tk, _ := e.mustAdmit(t, req)
			tk.Release(0, false)
		}
		e.mustRefuse(t, req, middleware.ReasonGlobalRPM) // checked first
	})
}

// A global refusal still reports the key's own window.
func TestContractGlobalRefusalReportsKey(t *testing.T) {
	t.Parallel()
	runLimitContract(t, func(t *testing.T, e limitEnv) {
		tk, _ := e.mustAdmit(t, middleware.AdmitRequest{KeyID: "a", Key: middleware.KeyLimits{RPM: 10}, GlobalRPM: 1})
		tk.Release(0, false)
		rej, snap := e.mustRefuse(t, middleware.AdmitRequest{KeyID: "b", Key: middleware.KeyLimits{RPM: 10}, GlobalRPM: 1}, middleware.ReasonGlobalRPM)
		if snap.RPM != 10 || snap.ReqRemaining != 10 || rej.Limit != 1 {
			t.Errorf("snapshot %+v, rejection %+v", snap, rej)
		}
	})
}
