package redislimits

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// spendError is a failure to read the recorded spend: the key store's,
// not Redis's, so it does not open the breaker.
type spendError struct{ err error }

func (e spendError) Error() string { return "reading the recorded spend: " + e.err.Error() }
func (e spendError) Unwrap() error { return e.err }

// Check implements middleware.BudgetStore with budgetCheckScript. While
// Redis is unreachable the failure mode applies: an error (closed) or this
// instance's memory (open).
func (c *Client) Check(ctx context.Context, specs []middleware.BudgetSpec, est int64, spend middleware.SpendFunc) (middleware.BudgetCheck, error) {
	gen, ok := c.br.allow()
	if !ok {
		return c.checkFallback(ctx, specs, est, spend, ErrUnavailable)
	}
	res, err := c.check(ctx, specs, est, spend)
	var se spendError
	if errors.As(err, &se) {
		c.br.done(gen, nil) // Redis answered; the key store did not
		return middleware.BudgetCheck{}, se
	}
	c.br.done(gen, err)
	if err != nil {
		return c.checkFallback(ctx, specs, est, spend, err)
	}
	return res, nil
}

func (c *Client) checkFallback(ctx context.Context, specs []middleware.BudgetSpec, est int64, spend middleware.SpendFunc, err error) (middleware.BudgetCheck, error) {
	if c.cfg.Failure == FailOpen {
		return c.memBudgets.Check(ctx, specs, est, spend)
	}
	return middleware.BudgetCheck{}, err
}

// check runs budgetCheckScript, loading the spend of periods Redis has no
// state for and running it again (a period is loaded at most once per
// check; a concurrent loader's value may win, which is as good).
func (c *Client) check(ctx context.Context, specs []middleware.BudgetSpec, est int64, spend middleware.SpendFunc) (middleware.BudgetCheck, error) {
	keys := c.budgetKeys(specs)
	id := c.newID()
	args := make([]any, 0, 3+3*len(specs))
	args = append(args, est, id, micros(c.cfg.LeaseTTL))
	for _, s := range specs {
		args = append(args, s.Limit, s.End.Add(budgetMargin).UnixMilli(), "")
	}
	for range 3 {
		v, err := c.runCheck(ctx, keys, args)
		if err != nil {
			return middleware.BudgetCheck{}, err
		}
		if len(v) > 0 && v[0] == "load" {
			if err := loadSpend(ctx, specs, spend, v[1:], args); err != nil {
				return middleware.BudgetCheck{}, err
			}
			continue
		}
		return c.parseCheck(v, specs, keys, id, est)
	}
	return middleware.BudgetCheck{}, errors.New("redislimits: the budget state vanished while it was loaded")
}

func (c *Client) runCheck(ctx context.Context, keys []string, args []any) ([]any, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	return budgetCheckScript.Run(ctx, c.rdb, keys, args...).Slice()
}

// loadSpend reads the recorded spend of the budgets at indexes into their
// "loaded spend" argument.
func loadSpend(ctx context.Context, specs []middleware.BudgetSpec, spend middleware.SpendFunc, indexes []any, args []any) error {
	for _, x := range indexes {
		i, ok := x.(int64)
		if !ok || i < 0 || int(i) >= len(specs) {
			return fmt.Errorf("redislimits: unexpected script reply %v", indexes)
		}
		var spent int64
		if spend != nil {
			var err error
			s := specs[i]
			if spent, err = spend(ctx, s.KeyID, s.Start, s.End); err != nil {
				return spendError{err}
			}
		}
		args[3+3*int(i)+2] = strconv.FormatInt(spent, 10)
	}
	return nil
}

// parseCheck reads {"ok", refused, spent, reserved, ...} and makes the hold.
func (c *Client) parseCheck(v []any, specs []middleware.BudgetSpec, keys []string, id string, est int64) (middleware.BudgetCheck, error) {
	if len(v) != 2+2*len(specs) || v[0] != "ok" {
		return middleware.BudgetCheck{}, fmt.Errorf("redislimits: unexpected script reply %v", v)
	}
	ints := make([]int64, len(v)-1)
	for i := range ints {
		x, ok := v[i+1].(int64)
		if !ok {
			return middleware.BudgetCheck{}, fmt.Errorf("redislimits: unexpected script reply %v", v)
		}
		ints[i] = x
	}
	out := middleware.BudgetCheck{Refused: int(ints[0]), States: make([]middleware.BudgetState, len(specs))}
	for i := range specs {
		out.States[i] = middleware.BudgetState{Spent: ints[1+2*i], Reserved: ints[2+2*i]}
	}
	if out.Refused >= 0 {
		return out, nil
	}
	h := &hold{c: c, keys: keys, limits: make([]int64, len(specs))}
	for i, s := range specs {
		h.limits[i] = s.Limit
	}
	if est > 0 {
		h.member, h.amount = id+":"+strconv.FormatInt(est, 10), est
		for i := 1; i < len(keys); i += 2 {
			c.leases.add(keys[i], h.member)
		}
	}
	out.Hold = h
	return out, nil
}

// hold is a request's claim on its budgets in Redis.
type hold struct {
	c      *Client
	keys   []string
	limits []int64
	member string // the reservation's member in each :res set; "" for none
	amount int64
}

// Settle implements middleware.BudgetHold. If Redis cannot be reached the
// reservation expires after LeaseTTL, and the cost reaches Redis's count
// only when the period is loaded again from the key store.
func (h *hold) Settle(ctx context.Context, cost int64) ([]middleware.BudgetSettled, error) {
	c := h.c
	if h.member != "" {
		for i := 1; i < len(h.keys); i += 2 {
			c.leases.remove(h.keys[i], h.member)
		}
	}
	if h.member == "" && cost == 0 {
		return nil, nil
	}
	gen, ok := c.br.allow()
	if !ok {
		return nil, ErrUnavailable
	}
	out, err := h.settle(ctx, cost)
	c.br.done(gen, err)
	return out, err
}

func (h *hold) settle(ctx context.Context, cost int64) ([]middleware.BudgetSettled, error) {
	args := make([]any, 0, 3+len(h.limits))
	args = append(args, h.member, h.amount, cost)
	for _, l := range h.limits {
		args = append(args, l)
	}
	ctx, cancel := h.c.callCtx(ctx)
	defer cancel()
	v, err := budgetSettleScript.Run(ctx, h.c.rdb, h.keys, args...).Slice()
	if err != nil {
		return nil, err
	}
	if len(v) != 2*len(h.limits) {
		return nil, fmt.Errorf("redislimits: unexpected script reply %v", v)
	}
	out := make([]middleware.BudgetSettled, len(h.limits))
	for i := range out {
		spent, _ := v[2*i].(int64)
		crossed, _ := v[2*i+1].(int64)
		out[i] = middleware.BudgetSettled{Spent: spent, Crossed: int(crossed)}
	}
	return out, nil
}
