-- Web console sign-ins (issue 18). A session is found by the SHA-256 (hex)
-- of the random token in the browser's cookie; the token itself is never
-- stored. role is 'admin' (signed in with the admin token) or 'key' (signed
-- in with the client key key_id, whose own page is all it may see).
CREATE TABLE console_sessions (
    id         TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 64),
    role       TEXT    NOT NULL CHECK (role IN ('admin', 'key')),
    key_id     TEXT    REFERENCES keys (id),
    csrf       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    CHECK ((role = 'key') = (key_id IS NOT NULL))
);
-- Purging expired sessions reads this index.
CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);
