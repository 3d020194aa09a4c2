package keys

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// negativeTTL is how long a hash the store did not know is refused
	// without asking the store again. A reload (the poller seeing a change)
	// forgets these answers sooner, so a key created after a miss works
	// within one poll interval at worst.
	negativeTTL = time.Second

	// maxLookupsPerSecond caps the store queries that cache misses cause,
	// so a flood of random bad keys costs at most this many cheap indexed
	// reads a second. Beyond it a miss is refused as before this lookup
	// existed: the poller still picks up new keys within its interval.
	maxLookupsPerSecond = 32

	// maxNegative bounds the remembered misses. With the rate cap and the
	// TTL it is never reached in practice; it is a hard memory ceiling.
	maxNegative = 4 * maxLookupsPerSecond

	// lookupTimeout bounds one miss lookup; neither an SQLite WAL read nor
	// a PostgreSQL read waits for writers, so this only guards against a
	// stuck file system or network.
	lookupTimeout = 2 * time.Second
)

// missCache remembers recent store answers for hashes not in the cache and
// rations store lookups. Its zero value is ready to use.
type missCache struct {
	mu       sync.Mutex
	negative map[[sha256.Size]byte]time.Time // hash -> refused until
	inflight map[[sha256.Size]byte]*lookupCall
	window   time.Time // start of the current one-second budget window
	used     int       // lookups started in the window
	queries  atomic.Int64
}

// lookupCall lets concurrent misses on one hash share one store query.
type lookupCall struct {
	done  chan struct{}
	found bool
}

// forget drops the remembered misses: the keys changed, so a remembered
// "unknown" may now be wrong.
func (m *missCache) forget() {
	m.mu.Lock()
	m.negative = nil
	m.mu.Unlock()
}

// begin decides what a miss on hash does: refuse at once (nil, false), wait
// for a lookup already running (call, false), or run the lookup itself
// (call, true), in which case it must call finish.
func (m *missCache) begin(hash [sha256.Size]byte, now time.Time) (*lookupCall, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.inflight[hash]; c != nil {
		return c, false
	}
	if until, ok := m.negative[hash]; ok {
		if now.Before(until) {
			return nil, false
		}
		delete(m.negative, hash)
	}
	if now.Sub(m.window) >= time.Second || now.Before(m.window) {
		m.window, m.used = now, 0
	}
	if m.used >= maxLookupsPerSecond {
		return nil, false
	}
	m.used++
	if m.inflight == nil {
		m.inflight = make(map[[sha256.Size]byte]*lookupCall)
	}
	c := &lookupCall{done: make(chan struct{})}
	m.inflight[hash] = c
	return c, true
}

// finish publishes a lookup's answer and remembers a negative one.
func (m *missCache) finish(hash [sha256.Size]byte, c *lookupCall, found bool, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.inflight, hash)
	c.found = found
	close(c.done)
	if found {
		return
	}
	if len(m.negative) >= maxNegative {
		for h, until := range m.negative {
			if !now.Before(until) {
				delete(m.negative, h)
			}
		}
	}
	if len(m.negative) >= maxNegative {
		return // still full: not remembering costs a lookup, never memory
	}
	if m.negative == nil {
		m.negative = make(map[[sha256.Size]byte]time.Time)
	}
	m.negative[hash] = now.Add(negativeTTL)
}

// lookupMiss asks the store whether hash, absent from the cache, belongs to
// a live key (one created by another process since the last poll), and if
// so reloads the cache. It reports whether the caller should look in the
// cache again.
func (s *Store) lookupMiss(hash [sha256.Size]byte) bool {
	c, leader := s.misses.begin(hash, s.now())
	if c == nil {
		return false
	}
	if !leader {
		<-c.done
		return c.found
	}
	found := s.queryHash(hash)
	s.misses.finish(hash, c, found, s.now())
	return found
}

// queryHash reads whether a non-revoked key has the secret hash and, if so,
// reloads the cache so it holds the key. Errors count as "not found": the
// caller then refuses the key as it would have without this lookup.
func (s *Store) queryHash(hash [sha256.Size]byte) bool {
	s.misses.queries.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM key_secrets s
		JOIN keys k ON k.id = s.key_id
		WHERE s.hash = $1 AND k.revoked_at IS NULL`, hash[:]).Scan(&one)
	if err != nil {
		if !errors.Is(err, sql.ErrNoRows) {
			s.log.Warn().Err(err).Msg("key store: lookup of an unknown key failed")
		}
		return false
	}
	// A full reload (not a one-entry insert) keeps the cache a consistent
	// snapshot, so revocation keeps working through the poller alone.
	if err := s.reload(ctx); err != nil {
		s.log.Warn().Err(err).Msg("key store: reload after finding a new key failed")
		return false
	}
	return true
}
