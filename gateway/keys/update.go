package keys

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/copilot-proxy/copilot-proxy/credits"
)

// Change is an update of one setting: left as it is unless Set; Set with a
// nil Value clears it (a limit back to the server default, all models, no
// budget, no expiry).
type Change[T any] struct {
	Set   bool
	Value *T
}

// To is a Change that sets v.
func To[T any](v T) Change[T] { return Change[T]{Set: true, Value: &v} }

// Clear is a Change that clears the setting.
func Clear[T any]() Change[T] { return Change[T]{Set: true} }

// UpdateParams are the settings Update changes; unset ones are kept.
// BudgetPeriod needs a budget (set now or already there).
type UpdateParams struct {
	RPM, TPM, Concurrency Change[int]
	Models                Change[[]string]
	Budget                Change[int64] // nano-credits
	BudgetPeriod          Change[credits.Period]
	ExpiresAt             Change[time.Time]
}

// Update changes a key's limits, models, budget or expiry. It takes effect
// for Authenticate at once in this process and, through the key generation,
// within a poll interval in every other process on the same database. A
// revoked key cannot be updated (ErrInvalid).
func (s *Store) Update(ctx context.Context, idOrName string, p UpdateParams) (Key, error) {
	var k Key
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		if k, err = s.find(ctx, tx, idOrName, true); err != nil {
			return err
		}
		if k.RevokedAt != nil {
			return fmt.Errorf("%w: key %s is revoked", ErrInvalid, k.ID)
		}
		if err := applyUpdate(&k, p, s.now()); err != nil {
			return err
		}
		models, err := encodeModels(k.Models)
		if err != nil {
			return err
		}
		budget, period := nullBudget(k.Budget, k.BudgetPeriod)
		_, err = tx.ExecContext(ctx, `UPDATE keys SET rpm = $1, tpm = $2, concurrency = $3, models = $4,
			budget_nano = $5, budget_period = $6, expires_at = $7 WHERE id = $8`,
			nullInt(k.RPM), nullInt(k.TPM), nullInt(k.Concurrency), models,
			budget, period, nullMillis(k.ExpiresAt), k.ID)
		return err
	})
	if err != nil {
		return Key{}, err
	}
	s.refresh(ctx)
	return k, nil
}

// applyUpdate validates p and applies it to k.
func applyUpdate(k *Key, p UpdateParams, now time.Time) error {
	for _, l := range []struct {
		name string
		c    Change[int]
		dst  **int
	}{{"rpm", p.RPM, &k.RPM}, {"tpm", p.TPM, &k.TPM}, {"concurrency", p.Concurrency, &k.Concurrency}} {
		if l.c.Set {
			v, err := validateLimit(l.name, l.c.Value)
			if err != nil {
				return err
			}
			*l.dst = v
		}
	}
	if p.Models.Set {
		var ms []string
		if p.Models.Value != nil {
			ms = *p.Models.Value
		}
		v, err := validateModels(ms)
		if err != nil {
			return err
		}
		k.Models = v
	}
	if err := applyBudget(k, p); err != nil {
		return err
	}
	if p.ExpiresAt.Set {
		k.ExpiresAt = nil
		if v := p.ExpiresAt.Value; v != nil {
			if !v.After(now) {
				return fmt.Errorf("%w: expiry %s is not in the future", ErrInvalid, v.UTC().Format(time.RFC3339))
			}
			t := fromMillis(v.UnixMilli())
			k.ExpiresAt = &t
		}
	}
	return nil
}

// applyBudget applies the budget and period changes of p to k: a new
// budget keeps the key's period unless p sets one; clearing the budget
// clears the period.
func applyBudget(k *Key, p UpdateParams) error {
	var nano *int64
	if k.Budget != nil {
		n := int64(*k.Budget)
		nano = &n
	}
	period := k.BudgetPeriod
	if p.Budget.Set {
		nano = p.Budget.Value
		if nano == nil {
			period = ""
		}
	}
	if p.BudgetPeriod.Set {
		period = ""
		if p.BudgetPeriod.Value != nil {
			period = *p.BudgetPeriod.Value
		}
	}
	b, per, err := validateBudget(nano, period)
	if err != nil {
		return err
	}
	k.Budget, k.BudgetPeriod = b, per
	return nil
}
