package keys

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Roles of a web console session.
const (
	// RoleAdmin is a session signed in with the admin token.
	RoleAdmin = "admin"
	// RoleKey is a session signed in with a client key: it sees that key
	// only.
	RoleKey = "key"
)

// ErrNoSession is returned by Session for a token that names no live
// session: unknown, signed out, expired, or of a key that is revoked or
// expired now.
var ErrNoSession = errors.New("no such console session")

// Session is a web console sign-in, and the JSON the console's session API
// answers (AdminFP stays out of it). Its token (the cookie value) is not
// part of it: the store keeps only the token's SHA-256.
type Session struct {
	Role      string    `json:"role"`             // RoleAdmin or RoleKey
	KeyID     string    `json:"key_id,omitempty"` // the key of a RoleKey session
	CSRF      string    `json:"csrf_token"`       // sent back as X-CSRF-Token on changes
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// AdminFP is the AdminFingerprint of the admin token a RoleAdmin
	// session signed in with ("" for RoleKey). The console admits an admin
	// session only while it matches the current admin token's, so a changed
	// or removed token ends every admin session at once.
	AdminFP string `json:"-"`
}

// NewSession is a console session to create: its role, its key (for
// RoleKey) or the AdminFingerprint of the admin token (for RoleAdmin), and
// how long it lasts.
type NewSession struct {
	Role     string
	KeyID    string
	AdminFP  string
	Lifetime time.Duration
}

// AdminFingerprint is what an admin session keeps of the admin token it
// signed in with: the first 16 bytes of the token's SHA-256, in hex. It
// tells tokens apart without storing anything that would let one be
// recovered or replayed.
func AdminFingerprint(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:16])
}

// adminFPLen is the length of an AdminFingerprint.
const adminFPLen = 32

// sessionTokenBytes is the randomness of a session token and of a CSRF
// token: 256 bits.
const sessionTokenBytes = 32

// CreateSession stores a new console session and returns the token that
// names it (for the cookie; only its hash is stored) with the session.
// Expired sessions are purged on the way, so the table stays small without
// a background job.
func (s *Store) CreateSession(ctx context.Context, p NewSession) (string, Session, error) {
	switch {
	case p.Role != RoleAdmin && p.Role != RoleKey:
		return "", Session{}, fmt.Errorf("%w: session role %q", ErrInvalid, p.Role)
	case (p.Role == RoleKey) != (p.KeyID != ""):
		return "", Session{}, fmt.Errorf("%w: a key session needs a key id, an admin session none", ErrInvalid)
	case (p.Role == RoleAdmin) != (len(p.AdminFP) == adminFPLen), p.Role == RoleKey && p.AdminFP != "":
		return "", Session{}, fmt.Errorf("%w: an admin session needs the admin token's fingerprint, a key session none", ErrInvalid)
	case p.Lifetime <= 0:
		return "", Session{}, fmt.Errorf("%w: session lifetime must be positive", ErrInvalid)
	}
	token, csrf := randomToken(), randomToken()
	now := s.now().UnixMilli()
	sess := Session{Role: p.Role, KeyID: p.KeyID, CSRF: csrf, AdminFP: p.AdminFP,
		CreatedAt: fromMillis(now), ExpiresAt: fromMillis(now + p.Lifetime.Milliseconds())}
	keyID, adminFP := nullIfEmpty(p.KeyID), nullIfEmpty(p.AdminFP)
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM console_sessions WHERE expires_at <= $1", now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO console_sessions (id, role, key_id, admin_fp, csrf, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, sessionID(token), p.Role, keyID, adminFP, csrf, now, sess.ExpiresAt.UnixMilli())
		return err
	})
	if err != nil {
		return "", Session{}, fmt.Errorf("key store %s: create session: %w", s.location, err)
	}
	return token, sess, nil
}

// Session returns the live session token names, or ErrNoSession. A key
// session is live only while its key is: revoking or expiring the key ends
// its sessions at once.
func (s *Store) Session(ctx context.Context, token string) (Session, error) {
	if token == "" {
		return Session{}, ErrNoSession
	}
	now := s.now().UnixMilli()
	var (
		sess             Session
		keyID, adminFP   sql.NullString
		created, expires int64
	)
	err := s.db.QueryRowContext(ctx, `SELECT c.role, c.key_id, c.admin_fp, c.csrf, c.created_at, c.expires_at
		FROM console_sessions c LEFT JOIN keys k ON k.id = c.key_id
		WHERE c.id = $1 AND c.expires_at > $2
		  AND (c.key_id IS NULL OR (k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $2)))`,
		sessionID(token), now).Scan(&sess.Role, &keyID, &adminFP, &sess.CSRF, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, fmt.Errorf("key store %s: session: %w", s.location, err)
	}
	sess.KeyID, sess.AdminFP = keyID.String, adminFP.String
	sess.CreatedAt, sess.ExpiresAt = fromMillis(created), fromMillis(expires)
	return sess, nil
}

// nullIfEmpty is v for a nullable column: NULL when "".
func nullIfEmpty(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// DeleteSession ends the session token names (sign-out). Ending one that
// does not exist is not an error.
func (s *Store) DeleteSession(ctx context.Context, token string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM console_sessions WHERE id = $1", sessionID(token))
		return err
	})
	if err != nil {
		return fmt.Errorf("key store %s: delete session: %w", s.location, err)
	}
	return nil
}

// sessionID is what the store keeps of a session token: its SHA-256, in hex.
func sessionID(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// randomToken is 256 random bits, base64url without padding (43
// characters: cookie- and header-safe).
func randomToken() string {
	b := make([]byte, sessionTokenBytes)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}
