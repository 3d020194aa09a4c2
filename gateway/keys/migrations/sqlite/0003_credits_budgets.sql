-- AI credits (issue 15): the cost of each key's usage and per-key budgets.
-- Credits are exact integers of nano-credits (1e9 = one credit = $0.01).

ALTER TABLE usage ADD COLUMN credits_nano INTEGER NOT NULL DEFAULT 0;

-- A key's budget: at most budget_nano nano-credits per budget_period
-- (calendar day, ISO week from Monday or month, in UTC). NULL: no budget.
ALTER TABLE keys ADD COLUMN budget_nano INTEGER CHECK (budget_nano >= 0);
ALTER TABLE keys ADD COLUMN budget_period TEXT CHECK (budget_period IN ('day', 'week', 'month'));

-- The budget is part of what authentication reads: a change must move the
-- generation so every process's cache reloads it.
DROP TRIGGER keys_changed;
CREATE TRIGGER keys_changed AFTER UPDATE OF id, name, hint, expires_at, revoked_at, rpm, tpm, concurrency, models, budget_nano, budget_period ON keys
BEGIN UPDATE key_generation SET n = n + 1; END;
