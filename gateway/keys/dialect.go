package keys

import (
	"context"
	"database/sql"
)

// dialect is what differs between the databases the Store runs on; the rest
// of the Store is one code path over database/sql. Statements are written
// once with $N placeholders, which both drivers bind by position (modernc's
// SQLite driver reads $N as the Nth argument).
type dialect struct {
	name string
	// migrate brings the schema up to date, or refuses a database it cannot
	// use (another program's, or one a newer build migrated).
	migrate func(ctx context.Context, db *sql.DB) error
	// nameIs is a condition matching keys.name (alias k) against the
	// parameter $1 case-insensitively, in a way the name index serves.
	nameIs string
	// greatest is the scalar function for the larger of two values.
	greatest string
	// insertOrder orders keys (alias k) by insertion.
	insertOrder string
	// lockKey ends a SELECT of a key row (alias k) inside a write
	// transaction, locking the row against other instances until commit;
	// "" where the write transaction already excludes every other writer.
	lockKey string
	// duplicateName reports whether err is the unique index on key names
	// refusing an insert (a concurrent Create of the same name).
	duplicateName func(err error) bool
}
