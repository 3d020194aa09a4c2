package keys

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/copilot-proxy/copilot-proxy/credits"
)

// maxBudget bounds a budget (a billion credits, $10M) far from overflow
// when spends are added to it.
const maxBudget = 1_000_000_000 * credits.Nano

// validateBudget checks a budget and its period: the period defaults to a
// month, and is only stored with a budget.
func validateBudget(nano *int64, period credits.Period) (*credits.Amount, credits.Period, error) {
	if nano == nil {
		if period != "" {
			return nil, "", fmt.Errorf("%w: a budget period needs a budget", ErrInvalid)
		}
		return nil, "", nil
	}
	if *nano < 0 || *nano > maxBudget {
		return nil, "", fmt.Errorf("%w: budget must be between 0 and %s credits", ErrInvalid, credits.Format(maxBudget))
	}
	p, err := credits.ParsePeriod(string(period))
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	a := credits.Amount(*nano)
	return &a, p, nil
}

func nullBudget(a *credits.Amount, p credits.Period) (budget, period any) {
	if a == nil {
		return nil, nil
	}
	return int64(*a), string(p)
}

// Spend returns what keyID ("" = every key) spent in nano-credits on the
// UTC days from from up to (not including) to's day; pending usage is
// flushed first, so it is included.
func (s *Store) Spend(ctx context.Context, keyID string, from, to time.Time) (int64, error) {
	if err := s.Flush(ctx); err != nil {
		return 0, err
	}
	var n sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT CAST(SUM(credits_nano) AS BIGINT) FROM usage
		WHERE ($1 = '' OR key_id = $1) AND day >= $2 AND day < $3`,
		keyID, from.UTC().Format(dayLayout), to.UTC().Format(dayLayout)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("key store %s: spend: %w", s.location, err)
	}
	return n.Int64, nil
}

// addPeriodSpend fills each key's PeriodCredits: the spend of its budget
// period holding now (the month without a budget).
func (s *Store) addPeriodSpend(ctx context.Context, list []KeyWithUsage, reset time.Time) error {
	now := s.now()
	for i := range list {
		k := &list[i]
		p := k.BudgetPeriod
		if p == "" {
			p = credits.Month
		}
		from, to := p.Bounds(now, reset)
		n, err := s.Spend(ctx, k.ID, from, to)
		if err != nil {
			return fmt.Errorf("list keys: %w", err)
		}
		k.PeriodCredits, k.PeriodStart = credits.Amount(n), from
	}
	return nil
}
