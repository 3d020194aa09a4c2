package keys

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/copilot-proxy/copilot-proxy/credits"
)

// Errors returned by key operations; match them with errors.Is. The wrapping
// error's text says what exactly is wrong.
var (
	ErrNotFound      = errors.New("key not found")
	ErrDuplicateName = errors.New("a key with this name already exists")
	ErrInvalid       = errors.New("invalid argument")
)

const (
	// SecretPrefix starts every client key, so secret scanners can spot a
	// leaked one.
	SecretPrefix = "cpk_"
	// secretChars base62 characters carry 43*log2(62) ≈ 256 bits.
	secretChars = 43
	secretLen   = len(SecretPrefix) + secretChars
	base62      = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

	idPrefix   = "key_"
	idChars    = 12 // 60 random bits: an id is public, it only has to be unique
	idAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

	maxNameLen  = 64
	maxModelLen = 128
	maxModels   = 256
	// maxLimit keeps limits far from int overflow in the limiters.
	maxLimit = 1_000_000_000
)

// Key is an issued client key as listed: everything but the secret.
// Pointer fields are nil when unset. Values returned by Authenticate share
// their pointers and Models with the cache: treat them as read-only.
type Key struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Hint        string     `json:"hint"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at"` // nil: never
	RevokedAt   *time.Time `json:"revoked_at"`
	RPM         *int       `json:"rpm"` // nil: server default; 0: unlimited
	TPM         *int       `json:"tpm"`
	Concurrency *int       `json:"concurrency"`
	Models      []string   `json:"models"` // nil: all models
	// Budget is the most the key may spend per BudgetPeriod, in AI
	// credits; nil: no budget. BudgetPeriod is "" without a budget.
	Budget       *credits.Amount `json:"budget_credits"`
	BudgetPeriod credits.Period  `json:"budget_period,omitempty"`
	LastUsed     *time.Time      `json:"last_used"`
}

// KeyWithUsage is a key with its all-time usage totals, as `keys list` shows.
type KeyWithUsage struct {
	Key
	Requests         int64 `json:"requests"`
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	Errors           int64 `json:"errors"`
	// Credits is the all-time spend; PeriodCredits the spend in the
	// current budget period (the calendar month without a budget).
	Credits       credits.Amount `json:"credits"`
	CreditsNano   int64          `json:"credits_nano"`
	PeriodCredits credits.Amount `json:"period_credits"`
	PeriodStart   time.Time      `json:"period_start"`
}

// CreatedKey is a key with its secret, returned once by Create and Rotate.
// Its JSON form is the Key's fields plus "key"; its String form hides the
// secret so it cannot reach a log by accident.
type CreatedKey struct {
	Key
	Secret string `json:"key"`
}

// String describes the key without its secret.
func (c CreatedKey) String() string { return c.ID + " (" + c.Name + ", " + c.Hint + ")" }

// GoString hides the secret from %#v too.
func (c CreatedKey) GoString() string { return "keys.CreatedKey{" + c.String() + "}" }

// CreateParams are the options of a new key. Nil pointers leave a setting
// unset; limits are >= 0 (0 = unlimited); ExpiresAt must be in the future.
type CreateParams struct {
	Name        string
	ExpiresAt   *time.Time
	RPM         *int
	TPM         *int
	Concurrency *int
	Models      []string // nil or empty: all models
	// Budget in nano-credits per BudgetPeriod (default month); nil: none.
	Budget       *int64
	BudgetPeriod credits.Period
}

// Create issues a new key. Names are unique, compared case-insensitively, and
// are 1-64 characters of A-Z a-z 0-9 . _ @ -.
func (s *Store) Create(ctx context.Context, p CreateParams) (CreatedKey, error) {
	now := s.now().UnixMilli()
	k, err := newKey(p, now)
	if err != nil {
		return CreatedKey{}, err
	}
	secret := newSecret()
	k.Hint = hint(secret)
	hash := sha256.Sum256([]byte(secret))

	err = s.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM keys k WHERE "+s.d.nameIs, p.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: %q", ErrDuplicateName, p.Name)
		}
		// A 60-bit id collides practically never; checking costs nothing.
		for {
			k.ID = newID()
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM keys WHERE id = $1", k.ID).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				break
			}
		}
		models, err := encodeModels(k.Models)
		if err != nil {
			return err
		}
		budget, period := nullBudget(k.Budget, k.BudgetPeriod)
		if _, err := tx.ExecContext(ctx, `INSERT INTO keys
			(id, name, hint, created_at, expires_at, rpm, tpm, concurrency, models, budget_nano, budget_period)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			k.ID, k.Name, k.Hint, now, nullMillis(k.ExpiresAt),
			nullInt(k.RPM), nullInt(k.TPM), nullInt(k.Concurrency), models, budget, period); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO key_secrets (hash, key_id, created_at) VALUES ($1, $2, $3)",
			hash[:], k.ID, now)
		return err
	})
	if s.d.duplicateName(err) {
		// Another instance created the name after the check above.
		return CreatedKey{}, fmt.Errorf("%w: %q", ErrDuplicateName, p.Name)
	}
	if err != nil {
		return CreatedKey{}, err
	}
	s.refresh(ctx)
	return CreatedKey{Key: k, Secret: secret}, nil
}

// newKey validates p into a key created at now (Unix ms), without id or
// secret yet.
func newKey(p CreateParams, now int64) (Key, error) {
	k := Key{Name: p.Name, CreatedAt: fromMillis(now)}
	if err := validateName(p.Name); err != nil {
		return Key{}, err
	}
	var err error
	if k.RPM, err = validateLimit("rpm", p.RPM); err != nil {
		return Key{}, err
	}
	if k.TPM, err = validateLimit("tpm", p.TPM); err != nil {
		return Key{}, err
	}
	if k.Concurrency, err = validateLimit("concurrency", p.Concurrency); err != nil {
		return Key{}, err
	}
	if k.Models, err = validateModels(p.Models); err != nil {
		return Key{}, err
	}
	if k.Budget, k.BudgetPeriod, err = validateBudget(p.Budget, p.BudgetPeriod); err != nil {
		return Key{}, err
	}
	if p.ExpiresAt != nil {
		exp := p.ExpiresAt.UnixMilli()
		if exp <= now {
			return Key{}, fmt.Errorf("%w: expiry %s is not in the future", ErrInvalid, p.ExpiresAt.UTC().Format(time.RFC3339))
		}
		t := fromMillis(exp)
		k.ExpiresAt = &t
	}
	return k, nil
}

// List returns every key, revoked ones included, oldest first, with all-time
// usage totals and the spend of the current budget period (month bounds
// from reset, see credits.Period.Bounds). It flushes pending usage first
// so the totals are current.
func (s *Store) List(ctx context.Context, reset time.Time) ([]KeyWithUsage, error) {
	return s.listWhere(ctx, reset, "")
}

// KeyUsage is the key with this id as List shows it (all-time totals and
// the spend of its current budget period): a key holder's own view. It
// takes the id only (a session's key), so it is one query, run on every
// refresh of the key holder's page.
func (s *Store) KeyUsage(ctx context.Context, id string, reset time.Time) (KeyWithUsage, error) {
	if id == "" { // listWhere would list every key
		return KeyWithUsage{}, ErrNotFound
	}
	list, err := s.listWhere(ctx, reset, id)
	if err != nil {
		return KeyWithUsage{}, err
	}
	if len(list) != 1 {
		return KeyWithUsage{}, notFound(id)
	}
	return list[0], nil
}

// listWhere is List, of the key id only when id is not "".
func (s *Store) listWhere(ctx context.Context, reset time.Time, id string) ([]KeyWithUsage, error) {
	if err := s.Flush(ctx); err != nil {
		return nil, err
	}
	// CAST: PostgreSQL sums BIGINT as NUMERIC.
	rows, err := s.db.QueryContext(ctx, `SELECT `+keyColumns+`,
			COALESCE(u.requests, 0), COALESCE(u.prompt_tokens, 0),
			COALESCE(u.completion_tokens, 0), COALESCE(u.errors, 0), COALESCE(u.credits, 0)
		FROM keys k LEFT JOIN (
			SELECT key_id, CAST(SUM(requests) AS BIGINT) AS requests,
				CAST(SUM(prompt_tokens) AS BIGINT) AS prompt_tokens,
				CAST(SUM(completion_tokens) AS BIGINT) AS completion_tokens,
				CAST(SUM(errors) AS BIGINT) AS errors,
				CAST(SUM(credits_nano) AS BIGINT) AS credits
			FROM usage GROUP BY key_id
		) u ON u.key_id = k.id
		WHERE $1 = '' OR k.id = $1
		ORDER BY k.created_at, `+s.d.insertOrder, id)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	out := []KeyWithUsage{} // "[]", not null, for scripts
	for rows.Next() {
		var kw KeyWithUsage
		if err := scanKey(rows, &kw.Key, &kw.Requests, &kw.PromptTokens, &kw.CompletionTokens, &kw.Errors, &kw.CreditsNano); err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		kw.Credits = credits.Amount(kw.CreditsNano)
		out = append(out, kw)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	rows.Close()
	return out, s.addPeriodSpend(ctx, out, reset)
}

// Get finds a key by id or name (ids win). A full secret ("cpk_...") finds
// the key it belongs to, so a leaked key can be revoked by pasting it.
func (s *Store) Get(ctx context.Context, idOrName string) (Key, error) {
	return s.find(ctx, s.db, idOrName, false)
}

// Revoke revokes a key at once. It is idempotent: revoking a revoked key
// changes nothing and returns it with its original RevokedAt and no error
// (callers can compare RevokedAt with the time of the call to tell).
// Usage history is kept.
func (s *Store) Revoke(ctx context.Context, idOrName string) (Key, error) {
	var k Key
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		if k, err = s.find(ctx, tx, idOrName, true); err != nil || k.RevokedAt != nil {
			return err
		}
		now := s.now().UnixMilli()
		if _, err := tx.ExecContext(ctx, "UPDATE keys SET revoked_at = $1 WHERE id = $2", now, k.ID); err != nil {
			return err
		}
		t := fromMillis(now)
		k.RevokedAt = &t
		return nil
	})
	if err != nil {
		return Key{}, err
	}
	s.refresh(ctx)
	return k, nil
}

// Rotate gives a key a new secret, keeping its id, name, limits and usage.
// The previous secret(s) keep working until now+grace (grace 0 cuts them off
// at once; a shorter grace than one already running wins). A revoked or
// expired key cannot be rotated (ErrInvalid).
func (s *Store) Rotate(ctx context.Context, idOrName string, grace time.Duration) (CreatedKey, error) {
	if grace < 0 {
		return CreatedKey{}, fmt.Errorf("%w: grace period must not be negative", ErrInvalid)
	}
	secret := newSecret()
	var k Key
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		if k, err = s.find(ctx, tx, idOrName, true); err != nil {
			return err
		}
		now := s.now().UnixMilli()
		switch {
		case k.RevokedAt != nil:
			return fmt.Errorf("%w: key %s is revoked; create a new key instead", ErrInvalid, k.ID)
		case k.ExpiresAt != nil && k.ExpiresAt.UnixMilli() <= now:
			return fmt.Errorf("%w: key %s has expired; create a new key instead", ErrInvalid, k.ID)
		}
		return rotateSecrets(ctx, tx, &k, secret, now, now+grace.Milliseconds())
	})
	if err != nil {
		return CreatedKey{}, err
	}
	s.refresh(ctx)
	return CreatedKey{Key: k, Secret: secret}, nil
}

// rotateSecrets makes secret k's current one and ends the others' grace at
// until. The key row is written first: every write takes the key's row
// before key_generation (which the triggers update), so writers of several
// instances lock in one order and cannot deadlock.
func rotateSecrets(ctx context.Context, tx *sql.Tx, k *Key, secret string, now, until int64) error {
	k.Hint = hint(secret)
	if _, err := tx.ExecContext(ctx, "UPDATE keys SET hint = $1 WHERE id = $2", k.Hint, k.ID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE key_secrets SET grace_until = $1
		WHERE key_id = $2 AND (grace_until IS NULL OR grace_until > $1)`, until, k.ID); err != nil {
		return err
	}
	// Secrets past their grace can never work again: drop their hashes.
	if _, err := tx.ExecContext(ctx, "DELETE FROM key_secrets WHERE key_id = $1 AND grace_until <= $2", k.ID, now); err != nil {
		return err
	}
	hash := sha256.Sum256([]byte(secret))
	_, err := tx.ExecContext(ctx, "INSERT INTO key_secrets (hash, key_id, created_at) VALUES ($1, $2, $3)",
		hash[:], k.ID, now)
	return err
}

// CountKeys counts the active keys (not revoked, not expired), for the
// "no keys yet" startup hint.
func (s *Store) CountKeys(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM keys
		WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)`, s.now().UnixMilli()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count keys: %w", err)
	}
	return n, nil
}

// write runs fn in a write transaction.
func (s *Store) write(ctx context.Context, fn func(*sql.Tx) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("key store %s: %w", s.location, err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("key store %s: %w", s.location, err)
	}
	return nil
}

// refresh reloads the cache after this Store's own change, so the change
// holds for Authenticate as soon as the call returns. The change is
// committed either way; on failure the poller retries within a poll interval.
func (s *Store) refresh(ctx context.Context) {
	if err := s.reload(ctx); err != nil {
		s.log.Warn().Err(err).Msg("key store: reload after change failed; the poller will retry")
	}
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// keyColumns are the columns scanKey reads, from table alias k.
const keyColumns = `k.id, k.name, k.hint, k.created_at, k.expires_at, k.revoked_at,
	k.rpm, k.tpm, k.concurrency, k.models, k.last_used, k.budget_nano, k.budget_period`

// find resolves an id, a name or a full secret to its key. lock (inside a
// write transaction) locks the key's row until commit where the database
// needs it, so a read-modify-write loses no concurrent change.
func (s *Store) find(ctx context.Context, q queryer, idOrName string, lock bool) (Key, error) {
	suffix := ""
	if lock {
		suffix = s.d.lockKey
	}
	var row *sql.Row
	if strings.HasPrefix(idOrName, SecretPrefix) {
		hash := sha256.Sum256([]byte(idOrName))
		row = q.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM keys k
			JOIN key_secrets s ON s.key_id = k.id WHERE s.hash = $1`+suffix, hash[:])
	} else {
		row = q.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM keys k
			WHERE k.id = $1 OR `+s.d.nameIs+` ORDER BY k.id = $1 DESC LIMIT 1`+suffix, idOrName)
	}
	var k Key
	if err := scanKey(row, &k); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Key{}, notFound(idOrName)
		}
		return Key{}, fmt.Errorf("key store %s: %w", s.location, err)
	}
	return k, nil
}

// notFound names what was looked for, unless it may be a secret or
// arbitrary text: an error message must never carry a key.
func notFound(idOrName string) error {
	if validateName(idOrName) == nil && !strings.HasPrefix(idOrName, SecretPrefix) {
		return fmt.Errorf("%w: %q", ErrNotFound, idOrName)
	}
	return ErrNotFound
}

type scanner interface{ Scan(dest ...any) error }

// scanKey reads keyColumns, then extra.
func scanKey(sc scanner, k *Key, extra ...any) error {
	var (
		created                int64
		expires, revoked, used sql.NullInt64
		rpm, tpm, conc, budget sql.NullInt64
		models, period         sql.NullString
	)
	dest := append([]any{&k.ID, &k.Name, &k.Hint, &created, &expires, &revoked,
		&rpm, &tpm, &conc, &models, &used, &budget, &period}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return err
	}
	k.CreatedAt = fromMillis(created)
	k.ExpiresAt = optTime(expires)
	k.RevokedAt = optTime(revoked)
	k.LastUsed = optTime(used)
	k.RPM, k.TPM, k.Concurrency = optInt(rpm), optInt(tpm), optInt(conc)
	k.Budget, k.BudgetPeriod = nil, ""
	if budget.Valid {
		a := credits.Amount(budget.Int64)
		k.Budget, k.BudgetPeriod = &a, credits.Month
		if period.Valid && period.String != "" {
			k.BudgetPeriod = credits.Period(period.String)
		}
	}
	k.Models = nil
	if models.Valid && models.String != "" {
		if err := json.Unmarshal([]byte(models.String), &k.Models); err != nil {
			return fmt.Errorf("key %s: bad models column: %w", k.ID, err)
		}
		if len(k.Models) == 0 {
			k.Models = nil
		}
	}
	return nil
}

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func optTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMillis(v.Int64)
	return &t
}

func optInt(v sql.NullInt64) *int {
	if !v.Valid {
		return nil
	}
	n := int(v.Int64)
	return &n
}

func nullMillis(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

func nullInt(n *int) any {
	if n == nil {
		return nil
	}
	return int64(*n)
}

func encodeModels(models []string) (any, error) {
	if len(models) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(models)
	return string(b), err
}

func validateName(name string) error {
	const rule = "name must be 1-64 characters of A-Z a-z 0-9 . _ @ -"
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("%w: %s", ErrInvalid, rule)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '_' || c == '@' || c == '-') {
			return fmt.Errorf("%w: %s", ErrInvalid, rule)
		}
	}
	// Names that look like a secret or a key id would make ID|NAME arguments
	// ambiguous.
	if strings.HasPrefix(name, SecretPrefix) {
		return fmt.Errorf("%w: name must not start with %q", ErrInvalid, SecretPrefix)
	}
	if isID(name) {
		return fmt.Errorf("%w: name must not look like a key id (%s + %d characters)", ErrInvalid, idPrefix, idChars)
	}
	return nil
}

func isID(s string) bool {
	if len(s) != len(idPrefix)+idChars || !strings.HasPrefix(s, idPrefix) {
		return false
	}
	for i := len(idPrefix); i < len(s); i++ {
		if strings.IndexByte(idAlphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}

func validateLimit(what string, n *int) (*int, error) {
	if n == nil {
		return nil, nil
	}
	if *n < 0 || *n > maxLimit {
		return nil, fmt.Errorf("%w: %s must be between 0 (unlimited) and %d", ErrInvalid, what, maxLimit)
	}
	v := *n
	return &v, nil
}

// validateModels checks model names and drops duplicates, keeping order.
func validateModels(models []string) ([]string, error) {
	if len(models) == 0 {
		return nil, nil
	}
	if len(models) > maxModels {
		return nil, fmt.Errorf("%w: at most %d models", ErrInvalid, maxModels)
	}
	out := make([]string, 0, len(models))
	seen := make(map[string]bool, len(models))
	for _, m := range models {
		if m == "" || len(m) > maxModelLen || strings.ContainsFunc(m, func(r rune) bool {
			return r <= ' ' || r == ',' || r == 0x7f
		}) {
			return nil, fmt.Errorf("%w: model names must be 1-%d characters without spaces or commas", ErrInvalid, maxModelLen)
		}
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	return out, nil
}

// newSecret returns SecretPrefix + 43 uniformly random base62 characters
// from crypto/rand (≈256 bits).
func newSecret() string {
	b := make([]byte, secretLen)
	copy(b, SecretPrefix)
	n := len(SecretPrefix)
	var buf [64]byte
	for n < secretLen {
		_, _ = rand.Read(buf[:]) // never fails (crypto/rand crashes the program instead)
		for _, c := range buf {
			// 248 = 4*62: rejecting larger bytes keeps c%62 uniform.
			if c < 248 && n < secretLen {
				b[n] = base62[c%62]
				n++
			}
		}
	}
	return string(b)
}

// newID returns a public key id: idPrefix + 12 random base32 characters.
func newID() string {
	var buf [idChars]byte
	_, _ = rand.Read(buf[:])
	b := make([]byte, 0, len(idPrefix)+idChars)
	b = append(b, idPrefix...)
	for _, c := range buf {
		b = append(b, idAlphabet[c&31]) // 256 is a multiple of 32: uniform
	}
	return string(b)
}

// hint identifies a secret in listings without revealing it.
func hint(secret string) string {
	return SecretPrefix + "…" + secret[len(secret)-4:]
}
