-- A counter bumped by every change to what authentication reads (a key's
-- identity, limits and state, and its secrets). The cache reloads when it
-- moves, not after every commit: the usage flusher commits each second
-- (usage rows and last_used), which changes nothing the cache holds.
CREATE TABLE key_generation (n INTEGER NOT NULL);
INSERT INTO key_generation (n) VALUES (0);

CREATE TRIGGER keys_inserted AFTER INSERT ON keys
BEGIN UPDATE key_generation SET n = n + 1; END;
CREATE TRIGGER keys_changed AFTER UPDATE OF id, name, hint, expires_at, revoked_at, rpm, tpm, concurrency, models ON keys
BEGIN UPDATE key_generation SET n = n + 1; END;
CREATE TRIGGER keys_deleted AFTER DELETE ON keys
BEGIN UPDATE key_generation SET n = n + 1; END;
CREATE TRIGGER secrets_inserted AFTER INSERT ON key_secrets
BEGIN UPDATE key_generation SET n = n + 1; END;
CREATE TRIGGER secrets_changed AFTER UPDATE ON key_secrets
BEGIN UPDATE key_generation SET n = n + 1; END;
CREATE TRIGGER secrets_deleted AFTER DELETE ON key_secrets
BEGIN UPDATE key_generation SET n = n + 1; END;
