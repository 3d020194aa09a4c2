package keys

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"sync/atomic"
)

// cache is an immutable snapshot of the secrets that may authenticate,
// published whole through Store.cache.
type cache struct {
	byHash map[[sha256.Size]byte]*entry
}

// entry is one secret of a key that is not revoked.
type entry struct {
	key        Key
	expiresAt  int64 // the key's expiry, Unix ms; 0 = never
	graceUntil int64 // a rotated-out secret's end, Unix ms; 0 = current secret
	use        *keyUse
}

// keyUse is a key's last-used mark, kept across reloads and persisted by the
// flusher.
type keyUse struct {
	last    atomic.Int64 // Unix ms of the latest Authenticate
	flushed int64        // last value written; guarded by Store.flushMu
}

// touch raises the mark to now, lock-free.
func (u *keyUse) touch(now int64) {
	for {
		old := u.last.Load()
		if now <= old || u.last.CompareAndSwap(old, now) {
			return
		}
	}
}

// Authenticate returns the key a presented secret belongs to if it is valid
// now: the key exists, is neither revoked nor expired, and the secret is
// current or within its rotation grace period. A key it knows costs no disk
// access: it looks the secret's SHA-256 up in the in-memory cache, which this
// Store updates on its own changes and reloads within PollInterval of another
// process's. Only on a cache miss does it ask the store, so a key another
// process just created works at once; those lookups are rationed and their
// negative answers remembered briefly (see lookupMiss). It marks the key used
// (in memory; the flusher persists it).
//
// No constant-time comparison is needed: the lookup is by the SHA-256 of the
// presented secret, so its timing can only depend on hash values an attacker
// cannot steer towards a real key's hash without finding a preimage.
//
// The returned Key shares its pointers and Models with the cache (read-only);
// its LastUsed is as of the last reload.
func (s *Store) Authenticate(secret string) (Key, bool) {
	e, now, ok := s.valid(secret)
	if !ok {
		return Key{}, false
	}
	e.use.touch(now)
	return e.key, true
}

// Verify is Authenticate without marking the key used: the web console's
// sign-in checks a key this way, so signing in is not an API request.
func (s *Store) Verify(secret string) (Key, bool) {
	e, _, ok := s.valid(secret)
	if !ok {
		return Key{}, false
	}
	return e.key, true
}

// valid finds the cache entry of a secret that is valid now (see
// Authenticate), with now in Unix ms.
func (s *Store) valid(secret string) (*entry, int64, bool) {
	// Anything not shaped like a key cannot match: skip the hash.
	if len(secret) != secretLen || secret[:len(SecretPrefix)] != SecretPrefix {
		return nil, 0, false
	}
	// Hashing from a stack buffer keeps the hit path free of allocations.
	var buf [secretLen]byte
	copy(buf[:], secret)
	hash := sha256.Sum256(buf[:])
	e, ok := s.cache.Load().byHash[hash]
	if !ok {
		// Not cached: perhaps created by another process since the last
		// poll. Ask the store (rationed, see lookupMiss) before refusing.
		if !s.lookupMiss(hash) {
			return nil, 0, false
		}
		if e, ok = s.cache.Load().byHash[hash]; !ok {
			return nil, 0, false
		}
	}
	now := s.now().UnixMilli()
	if e.key.RevokedAt != nil ||
		e.expiresAt != 0 && now >= e.expiresAt ||
		e.graceUntil != 0 && now >= e.graceUntil {
		return nil, 0, false
	}
	return e, now, true
}

// HasKeys reports whether any key that is not revoked exists, from the
// cache (no disk access): the web console is off without one and without
// an admin token.
func (s *Store) HasKeys() bool {
	return len(s.cache.Load().byHash) > 0
}

// reload reads every secret of every non-revoked key into a new cache and
// publishes it. Expiry and grace are checked at Authenticate time, so the
// cache only needs reloading when the data changes.
func (s *Store) reload(ctx context.Context) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	// One statement reads one consistent snapshot of both tables.
	rows, err := s.db.QueryContext(ctx, `SELECT `+keyColumns+`, s.hash, s.grace_until
		FROM key_secrets s JOIN keys k ON k.id = s.key_id
		WHERE k.revoked_at IS NULL`)
	if err != nil {
		return fmt.Errorf("load keys: %w", err)
	}
	defer rows.Close()
	c := &cache{byHash: make(map[[sha256.Size]byte]*entry)}
	byID := make(map[string]Key) // one Key value (and Models slice) per key
	for rows.Next() {
		var (
			k     Key
			hash  []byte
			grace sql.NullInt64
		)
		if err := scanKey(rows, &k, &hash, &grace); err != nil {
			return fmt.Errorf("load keys: %w", err)
		}
		if len(hash) != sha256.Size {
			continue // the schema's CHECK forbids it; never index a short hash
		}
		if prev, ok := byID[k.ID]; ok {
			k = prev
		} else {
			byID[k.ID] = k
		}
		e := &entry{key: k, use: s.use(k.ID)}
		if k.ExpiresAt != nil {
			e.expiresAt = k.ExpiresAt.UnixMilli()
		}
		if grace.Valid {
			e.graceUntil = grace.Int64
		}
		c.byHash[[sha256.Size]byte(hash)] = e
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load keys: %w", err)
	}
	s.cache.Store(c)
	// The keys changed: a remembered "unknown" may now be a real key.
	s.misses.forget()
	return nil
}

// use returns the last-used mark of a key id, creating it on first sight.
func (s *Store) use(id string) *keyUse {
	s.usesMu.Lock()
	defer s.usesMu.Unlock()
	u := s.uses[id]
	if u == nil {
		u = &keyUse{}
		s.uses[id] = u
	}
	return u
}
