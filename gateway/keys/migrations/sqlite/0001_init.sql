-- Key store schema, version 1.
-- Times are INTEGER Unix milliseconds (UTC); NULL means "not set".

-- One row per issued key: its public identity and its options. Rows are never
-- deleted (revocation sets revoked_at) so usage history keeps its key name.
CREATE TABLE keys (
    id          TEXT    NOT NULL PRIMARY KEY,          -- public id, "key_" + 12 base32 chars
    name        TEXT    NOT NULL UNIQUE COLLATE NOCASE, -- "alice" and "Alice" are the same person
    hint        TEXT    NOT NULL,                      -- "cpk_…" + last 4 chars of the current secret
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,                               -- NULL: never
    revoked_at  INTEGER,                               -- NULL: active
    rpm         INTEGER CHECK (rpm >= 0),              -- NULL: server default; 0: unlimited
    tpm         INTEGER CHECK (tpm >= 0),
    concurrency INTEGER CHECK (concurrency >= 0),
    models      TEXT,                                  -- JSON array of allowed models; NULL: all
    last_used   INTEGER
);

-- The secrets of a key, stored only as SHA-256. A key has one current secret
-- (grace_until NULL) and, after a rotation, previous ones that keep working
-- until grace_until.
CREATE TABLE key_secrets (
    hash        BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
    key_id      TEXT    NOT NULL REFERENCES keys (id),
    created_at  INTEGER NOT NULL,
    grace_until INTEGER
);
CREATE INDEX key_secrets_key_id ON key_secrets (key_id);

-- Usage per key, model and UTC day, added to by the batched flusher.
CREATE TABLE usage (
    key_id            TEXT    NOT NULL REFERENCES keys (id),
    model             TEXT    NOT NULL,
    day               TEXT    NOT NULL, -- "2006-01-02", UTC
    requests          INTEGER NOT NULL DEFAULT 0,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    errors            INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, model, day)
) WITHOUT ROWID;
CREATE INDEX usage_day ON usage (day);
