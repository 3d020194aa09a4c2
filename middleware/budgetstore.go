package middleware

import (
	"context"
	"time"

	"github.com/copilot-proxy/copilot-proxy/credits"
)

// BudgetStore holds the spend behind Budgets: per budget and period, what
// is settled and what requests in flight have reserved. Budgets owns the
// HTTP side (which budgets apply, their periods, answers and warnings);
// a store only counts. MemoryBudgets counts in this process; package
// redislimits shares the spend between instances through Redis.
//
// The contract: Check decides on every budget of a request atomically
// (spent + reserved under the limit for each) and reserves the estimate in
// each when all have room, so parallel requests overshoot a budget by at most
// one estimate; the request's BudgetHold then settles its real cost. A
// period the store has no state for starts from spend (the recorded spend of
// that period), loaded once however many callers race. An error means the
// state (or the recorded spend) could not be read: Budgets answers 503
// limits_unavailable.
type BudgetStore interface {
	Check(ctx context.Context, specs []BudgetSpec, est int64, spend SpendFunc) (BudgetCheck, error)
}

// SpendFunc returns what keyID ("" = every key) spent in [from, to), as
// recorded (see BudgetConfig.Spend).
type SpendFunc func(ctx context.Context, keyID string, from, to time.Time) (int64, error)

// BudgetSpec is one budget a request counts against, in the period holding
// the time of the check.
type BudgetSpec struct {
	KeyID      string // "" for the global budget
	Limit      int64  // nano-credits per period
	Period     credits.Period
	Start, End time.Time // the period, [Start, End), from Period.Bounds
}

// BudgetState is one budget's spend as the store saw it at a decision.
type BudgetState struct {
	Spent, Reserved int64
}

// BudgetCheck is the outcome of BudgetStore.Check.
type BudgetCheck struct {
	// States holds each spec's spend after the decision, in specs' order.
	States []BudgetState
	// Refused is the index of the first budget without room; -1 when the
	// request is admitted.
	Refused int
	// Hold settles an admitted request (nil when refused); it holds the
	// estimate when one was reserved.
	Hold BudgetHold
}

// BudgetHold is an admitted request's claim on its budgets.
type BudgetHold interface {
	// Settle replaces the reservation, if any, with cost in each budget
	// and reports each one's spend afterwards and the warning threshold it
	// crossed (0, 80 or 100; each reported once per period).
	Settle(ctx context.Context, cost int64) ([]BudgetSettled, error)
}

// BudgetSettled is one budget after a settle, in specs' order.
type BudgetSettled struct {
	Spent   int64
	Crossed int // 80 or 100 when this settle crossed it, else 0
}

// crossedThreshold is the warning a budget of limit crosses when its spend
// becomes spent, given the highest one already reported (0, 80 or 100).
func crossedThreshold(spent, limit int64, warned int) int {
	if limit <= 0 || warned >= 100 {
		return 0
	}
	switch s := min(spent, limit*2); {
	case s >= limit:
		return 100
	case s*5 >= limit*4 && warned < 80:
		return 80
	}
	return 0
}
