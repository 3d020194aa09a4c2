package redislimits

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/credits"
	"github.com/copilot-proxy/copilot-proxy/internal/redistest"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// runBudgetContract runs f against the in-memory and the Redis BudgetStore.
func runBudgetContract(t *testing.T, f func(t *testing.T, s middleware.BudgetStore)) {
	envs := map[string]func(t *testing.T) middleware.BudgetStore{
		"memory": func(*testing.T) middleware.BudgetStore { return middleware.NewMemoryBudgets() },
		"redis":  func(t *testing.T) middleware.BudgetStore { return newTestClient(t, redistest.Start(t)) },
	}
	for name, mk := range envs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, mk(t))
		})
	}
}

// spec is a budget of limit for keyID ("" global) in this month.
func spec(keyID string, limit int64) middleware.BudgetSpec {
	start, end := credits.Month.Bounds(time.Now(), time.Time{})
	return middleware.BudgetSpec{KeyID: keyID, Limit: limit, Period: credits.Month, Start: start, End: end}
}

func mustCheck(t *testing.T, s middleware.BudgetStore, specs []middleware.BudgetSpec, est int64, spend middleware.SpendFunc) middleware.BudgetCheck {
	t.Helper()
	res, err := s.Check(context.Background(), specs, est, spend)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return res
}

func mustSettle(t *testing.T, h middleware.BudgetHold, cost int64) []middleware.BudgetSettled {
	t.Helper()
	out, err := h.Settle(context.Background(), cost)
	if err != nil {
		t.Fatalf("Settle: %v", err)
	}
	return out
}

// Twenty checks at once against five estimates' worth admit exactly five;
// a budget that is not a multiple overshoots by less than one estimate.
func TestContractBudgetParallelExact(t *testing.T) {
	t.Parallel()
	const c = 3 * credits.Nano
	for _, tc := range []struct {
		name     string
		budget   int64
		admitted int
	}{{"multiple", 5 * c, 5}, {"not a multiple", 5*c + c/2, 6}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runBudgetContract(t, func(t *testing.T, s middleware.BudgetStore) {
				specs := []middleware.BudgetSpec{spec("key_a", tc.budget)}
				holds := burstCheck(t, s, 20, specs, c)
				if len(holds) != tc.admitted {
					t.Fatalf("admitted %d, want %d", len(holds), tc.admitted)
				}
				for _, h := range holds {
					mustSettle(t, h, c)
				}
				res := mustCheck(t, s, specs, 0, nil)
				spent := int64(tc.admitted) * c
				if res.Refused != 0 || res.States[0] != (middleware.BudgetState{Spent: spent}) {
					t.Errorf("after the burst: %+v, want refused with %d spent, nothing reserved", res, spent)
				}
				if over := spent - tc.budget; over >= c {
					t.Errorf("overshoot %d is not under one estimate", over)
				}
			})
		})
	}
}

// burstCheck runs n checks of est at once and returns the holds.
func burstCheck(t *testing.T, s middleware.BudgetStore, n int, specs []middleware.BudgetSpec, est int64) []middleware.BudgetHold {
	t.Helper()
	var (
		mu    sync.Mutex
		holds []middleware.BudgetHold
		errs  atomic.Int64
		wg    sync.WaitGroup
		gate  = make(chan struct{})
	)
	for range n {
		wg.Go(func() {
			<-gate
			res, err := s.Check(context.Background(), specs, est, nil)
			if err != nil {
				errs.Add(1)
				return
			}
			if res.Refused < 0 {
				mu.Lock()
				holds = append(holds, res.Hold)
				mu.Unlock()
			}
		})
	}
	close(gate)
	wg.Wait()
	if errs.Load() > 0 {
		t.Fatalf("%d checks failed", errs.Load())
	}
	return holds
}

// A period's recorded spend is read once, when the period starts.
func TestContractBudgetLoadsSpendOnce(t *testing.T) {
	t.Parallel()
	runBudgetContract(t, func(t *testing.T, s middleware.BudgetStore) {
		var mu sync.Mutex
		var loads []string
		spend := func(_ context.Context, keyID string, from, to time.Time) (int64, error) {
			mu.Lock()
			defer mu.Unlock()
			loads = append(loads, keyID+" "+from.Format(time.DateOnly))
			return 9 * credits.Nano, nil
		}
		sp := spec("key_l", 10*credits.Nano)
		for range 3 {
			res := mustCheck(t, s, []middleware.BudgetSpec{sp}, 0, spend)
			if res.Refused != -1 || res.States[0].Spent != 9*credits.Nano {
				t.Fatalf("check: %+v", res)
			}
			mustSettle(t, res.Hold, 0)
		}
		next := sp
		next.Start, next.End = sp.End, sp.End.AddDate(0, 1, 0)
		if res := mustCheck(t, s, []middleware.BudgetSpec{next}, 0, spend); res.States[0].Spent != 9*credits.Nano {
			t.Fatalf("next period: %+v", res)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(loads) != 2 || loads[0] != "key_l "+sp.Start.Format(time.DateOnly) || loads[1] != "key_l "+next.Start.Format(time.DateOnly) {
			t.Errorf("loads %q, want one per period", loads)
		}
	})
}

// Passing 80 % and 100 % is reported once each.
func TestContractBudgetThresholds(t *testing.T) {
	t.Parallel()
	runBudgetContract(t, func(t *testing.T, s middleware.BudgetStore) {
		specs := []middleware.BudgetSpec{spec("key_w", 10*credits.Nano)}
		var crossed []int
		for range 4 { // 3, 6, 9 (80 %), 12 (100 %)
			res := mustCheck(t, s, specs, 1, nil)
			if res.Refused != -1 {
				t.Fatalf("refused early: %+v", res)
			}
			crossed = append(crossed, mustSettle(t, res.Hold, 3*credits.Nano)[0].Crossed)
		}
		if crossed[0] != 0 || crossed[1] != 0 || crossed[2] != 80 || crossed[3] != 100 {
			t.Errorf("crossed %v, want [0 0 80 100]", crossed)
		}
		if res := mustCheck(t, s, specs, 1, nil); res.Refused != 0 || res.States[0].Spent != 12*credits.Nano {
			t.Errorf("spent budget: %+v", res)
		}
	})
}

// The global budget holds a key that has room; the refusal names it.
func TestContractBudgetGlobal(t *testing.T) {
	t.Parallel()
	runBudgetContract(t, func(t *testing.T, s middleware.BudgetStore) {
		specs := []middleware.BudgetSpec{spec("key_g", 100*credits.Nano), spec("", 2*credits.Nano)}
		for range 2 {
			res := mustCheck(t, s, specs, credits.Nano, nil)
			if res.Refused != -1 {
				t.Fatalf("refused early: %+v", res)
			}
			mustSettle(t, res.Hold, credits.Nano)
		}
		res := mustCheck(t, s, specs, credits.Nano, nil)
		want := []middleware.BudgetState{{Spent: 2 * credits.Nano}, {Spent: 2 * credits.Nano}}
		if res.Refused != 1 || res.Hold != nil || res.States[0] != want[0] || res.States[1] != want[1] {
			t.Errorf("got %+v, want refused by the global budget", res)
		}
	})
}

// An unreadable spend is an error, not an unchecked request.
func TestContractBudgetSpendError(t *testing.T) {
	t.Parallel()
	runBudgetContract(t, func(t *testing.T, s middleware.BudgetStore) {
		fail := func(context.Context, string, time.Time, time.Time) (int64, error) {
			return 0, errors.New("database is locked")
		}
		if _, err := s.Check(context.Background(), []middleware.BudgetSpec{spec("key_e", 10)}, 1, fail); err == nil {
			t.Fatal("no error for an unreadable spend")
		}
		// The store still works (for Redis: the breaker stayed closed).
		if res := mustCheck(t, s, []middleware.BudgetSpec{spec("key_f", 10)}, 1, nil); res.Refused != -1 {
			t.Errorf("next check: %+v", res)
		}
	})
}

// Two instances starting the same period at once both read the recorded
// spend, but the first value stored wins and both decide on it.
func TestFirstSpendLoaderWins(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a, b := newTestClient(t, srv), newTestClient(t, srv)
	specs := []middleware.BudgetSpec{spec("key_r", 100*credits.Nano)}
	var arrived sync.WaitGroup
	arrived.Add(2)
	// Each loader waits for the other, so both found the period unloaded.
	loader := func(v int64) middleware.SpendFunc {
		return func(context.Context, string, time.Time, time.Time) (int64, error) {
			arrived.Done()
			arrived.Wait()
			return v, nil
		}
	}
	results := make([]middleware.BudgetCheck, 2)
	var wg sync.WaitGroup
	for i, c := range []*Client{a, b} {
		wg.Go(func() { results[i] = mustCheck(t, c, specs, 0, loader(int64(7+2*i)*credits.Nano)) })
	}
	wg.Wait()
	got := results[0].States[0].Spent
	if got != results[1].States[0].Spent || (got != 7*credits.Nano && got != 9*credits.Nano) {
		t.Fatalf("instances saw %d and %d", got, results[1].States[0].Spent)
	}
	stored, err := a.rdb.HGet(context.Background(), a.budgetKeys(specs)[0], "spent").Int64()
	if err != nil || stored != got {
		t.Fatalf("stored %d (%v), want %d", stored, err, got)
	}
}
