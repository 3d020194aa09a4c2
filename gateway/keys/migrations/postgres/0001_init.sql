-- Key store schema for PostgreSQL, version 1: the tables, columns and rules
-- of the SQLite schema after its migrations 0001-0003 (migrations/sqlite).
-- Times are BIGINT Unix milliseconds (UTC); NULL means "not set".

-- One row per issued key: its public identity and its options. Rows are never
-- deleted (revocation sets revoked_at) so usage history keeps its key name.
CREATE TABLE keys (
    id            TEXT   NOT NULL PRIMARY KEY,           -- public id, "key_" + 12 base32 chars
    seq           BIGINT GENERATED ALWAYS AS IDENTITY,  -- insertion order (SQLite's rowid)
    name          TEXT   NOT NULL,                       -- unique case-insensitively, see below
    hint          TEXT   NOT NULL,                       -- "cpk_…" + last 4 chars of the current secret
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT,                                -- NULL: never
    revoked_at    BIGINT,                                -- NULL: active
    rpm           BIGINT CHECK (rpm >= 0),               -- NULL: server default; 0: unlimited
    tpm           BIGINT CHECK (tpm >= 0),
    concurrency   BIGINT CHECK (concurrency >= 0),
    models        TEXT,                                  -- JSON array of allowed models; NULL: all
    last_used     BIGINT,
    -- At most budget_nano nano-credits (1e9 = one credit) per budget_period
    -- (calendar day, ISO week from Monday or month, in UTC). NULL: no budget.
    budget_nano   BIGINT CHECK (budget_nano >= 0),
    budget_period TEXT   CHECK (budget_period IN ('day', 'week', 'month'))
);
-- "alice" and "Alice" are the same person (SQLite: COLLATE NOCASE). Names are
-- ASCII, so lower() folds exactly what NOCASE folds; lookups compare lower().
CREATE UNIQUE INDEX keys_name_lower ON keys (lower(name));

-- The secrets of a key, stored only as SHA-256. A key has one current secret
-- (grace_until NULL) and, after a rotation, previous ones that keep working
-- until grace_until.
CREATE TABLE key_secrets (
    hash        BYTEA  NOT NULL UNIQUE CHECK (octet_length(hash) = 32),
    key_id      TEXT   NOT NULL REFERENCES keys (id),
    created_at  BIGINT NOT NULL,
    grace_until BIGINT
);
CREATE INDEX key_secrets_key_id ON key_secrets (key_id);

-- Usage per key, model and UTC day, added to by the batched flushers of
-- every instance (upserts with increments, so concurrent flushes add up).
CREATE TABLE usage (
    key_id            TEXT   NOT NULL REFERENCES keys (id),
    model             TEXT   NOT NULL,
    day               TEXT   NOT NULL, -- "2006-01-02", UTC
    requests          BIGINT NOT NULL DEFAULT 0,
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    errors            BIGINT NOT NULL DEFAULT 0,
    credits_nano      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, model, day)
);
CREATE INDEX usage_day ON usage (day);

-- A counter bumped by every change to what authentication reads (a key's
-- identity, limits, budget and state, and its secrets). Every instance polls
-- it and reloads its key cache when it moves; usage flushes (usage rows and
-- last_used) do not move it.
CREATE TABLE key_generation (n BIGINT NOT NULL);
INSERT INTO key_generation (n) VALUES (0);

CREATE FUNCTION bump_key_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE key_generation SET n = n + 1;
    RETURN NULL;
END
$$;

-- Row triggers, as SQLite's: a statement that changes no row bumps nothing.
CREATE TRIGGER keys_inserted AFTER INSERT ON keys
    FOR EACH ROW EXECUTE FUNCTION bump_key_generation();
CREATE TRIGGER keys_changed AFTER UPDATE OF id, name, hint, expires_at, revoked_at, rpm, tpm, concurrency, models, budget_nano, budget_period ON keys
    FOR EACH ROW EXECUTE FUNCTION bump_key_generation();
CREATE TRIGGER keys_deleted AFTER DELETE ON keys
    FOR EACH ROW EXECUTE FUNCTION bump_key_generation();
CREATE TRIGGER secrets_inserted AFTER INSERT ON key_secrets
    FOR EACH ROW EXECUTE FUNCTION bump_key_generation();
CREATE TRIGGER secrets_changed AFTER UPDATE ON key_secrets
    FOR EACH ROW EXECUTE FUNCTION bump_key_generation();
CREATE TRIGGER secrets_deleted AFTER DELETE ON key_secrets
    FOR EACH ROW EXECUTE FUNCTION bump_key_generation();
