package keys

import "slices"

// Helpers only the tests use; the server decides model access on
// middleware.Principal and knows the path it opened.

// Path is the absolute path of the database file (SQLite), or the URL
// without its password (PostgreSQL).
func (s *Store) Path() string { return s.location }

// AllowsModel reports whether the key may use model: every model when its
// allow-list is empty.
func (k Key) AllowsModel(model string) bool {
	return len(k.Models) == 0 || slices.Contains(k.Models, model)
}

// LookupQueries counts the store queries cache misses have made.
func (s *Store) LookupQueries() int64 { return s.misses.queries.Load() }

// Exported for tests that check the lookup rationing.
const (
	MaxLookupsPerSecond = maxLookupsPerSecond
	NegativeTTL         = negativeTTL
)
