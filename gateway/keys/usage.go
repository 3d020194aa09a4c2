package keys

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/copilot-proxy/copilot-proxy/credits"
)

const dayLayout = "2006-01-02"

// UsageRecord is one finished request, counted by Record.
type UsageRecord struct {
	KeyID            string
	Model            string
	PromptTokens     int64
	CompletionTokens int64
	Credits          int64 // nano-credits the request cost
	Error            bool
	At               time.Time // zero: now; decides the UTC day it counts on
	// Started says RecordStart already counted this request (same KeyID,
	// Model and At): Record then adds only the tokens and, unless Error,
	// takes back the error RecordStart counted.
	Started bool
}

// UsageQuery selects usage rows.
type UsageQuery struct {
	Key   string    // id or name; "" = all keys
	Since time.Time // rows from this time's UTC day on; zero = all
}

// UsageRow is the usage of one key for one model on one UTC day.
type UsageRow struct {
	KeyID            string `json:"key_id"`
	KeyName          string `json:"key_name"`
	Model            string `json:"model"`
	Day              string `json:"day"` // "2006-01-02", UTC
	Requests         int64  `json:"requests"`
	PromptTokens     int64  `json:"prompt_tokens"`
	CompletionTokens int64  `json:"completion_tokens"`
	Errors           int64  `json:"errors"`
	// Credits is what the usage cost, in AI credits (exact decimals in
	// JSON); CreditsNano the same in nano-credits.
	Credits     credits.Amount `json:"credits"`
	CreditsNano int64          `json:"credits_nano"`
}

// usageKey groups pending counts; day is days since the Unix epoch (UTC), so
// Record does not format a string per request.
type usageKey struct {
	keyID, model string
	day          int64
}

type usageCounts struct {
	requests, prompt, completion, errors, credits int64
}

func (c *usageCounts) add(o usageCounts) {
	c.credits += o.credits
	c.requests += o.requests
	c.prompt += o.prompt
	c.completion += o.completion
	c.errors += o.errors
}

// Record counts a request. It never waits for the disk: it adds to an
// in-memory batch that the background flusher writes every FlushInterval
// (and Flush and Close write at once). Records for a key id the store does
// not know are dropped at flush with a warning. Records after Close are
// dropped.
func (s *Store) Record(r UsageRecord) {
	c := usageCounts{requests: 1, prompt: max(r.PromptTokens, 0), completion: max(r.CompletionTokens, 0),
		credits: max(r.Credits, 0)}
	switch {
	case r.Started && !r.Error:
		c.requests, c.errors = 0, -1 // the start counted it as an error
	case r.Started:
		c.requests = 0
	case r.Error:
		c.errors = 1
	}
	s.add(r, c)
}

// RecordStart counts a request that is still running, a long stream, as a
// failed one without tokens, so that a crash before it ends leaves it
// counted as an error. Its end is then recorded with Started set, and the
// two add up to what Record alone would have counted. r's tokens and Error
// are ignored.
func (s *Store) RecordStart(r UsageRecord) {
	s.add(r, usageCounts{requests: 1, errors: 1})
}

// add adds c to the pending counts of r's key, model and day.
func (s *Store) add(r UsageRecord, c usageCounts) {
	at := r.At
	if at.IsZero() {
		at = s.now()
	}
	k := usageKey{keyID: r.KeyID, model: r.Model, day: epochDay(at)}
	s.usageMu.Lock()
	if s.closed {
		s.usageMu.Unlock()
		s.log.Warn().Str("key_id", r.KeyID).Msg("key store: usage recorded after Close is dropped")
		return
	}
	p := s.pending[k]
	p.add(c)
	s.pending[k] = p
	s.usageMu.Unlock()
}

// Flush writes the pending usage counts and last-used marks now, in one
// transaction. On failure the batch is kept for the next flush.
func (s *Store) Flush(ctx context.Context) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	batch := s.takePending()
	marks := s.dueMarks()
	if len(batch) == 0 && len(marks) == 0 {
		return nil
	}
	var dropped []string
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		if dropped, err = writeUsage(ctx, tx, batch); err != nil {
			return err
		}
		return s.writeMarks(ctx, tx, marks)
	})
	if err != nil {
		s.putBack(batch)
		return fmt.Errorf("flush usage: %w", err)
	}
	// Only now that they are committed: a failed flush retries the marks.
	for _, m := range marks {
		m.u.flushed = m.at
	}
	for _, id := range dropped {
		s.log.Warn().Str("key_id", id).Msg("key store: usage for an unknown key id dropped")
	}
	return nil
}

// takePending hands the pending counts over to a flush, leaving an empty
// batch for Record; nil when there is nothing pending.
func (s *Store) takePending() map[usageKey]usageCounts {
	s.usageMu.Lock()
	defer s.usageMu.Unlock()
	if len(s.pending) == 0 {
		return nil
	}
	batch := s.pending
	s.pending = make(map[usageKey]usageCounts, len(batch))
	return batch
}

// putBack merges a batch that failed to flush into the pending counts, so
// the next flush writes it along with what was recorded meanwhile.
func (s *Store) putBack(batch map[usageKey]usageCounts) {
	s.usageMu.Lock()
	defer s.usageMu.Unlock()
	for k, c := range batch {
		p := s.pending[k]
		p.add(c)
		s.pending[k] = p
	}
}

// lastUsedMark is a key's last-used time not yet written to the database.
type lastUsedMark struct {
	u  *keyUse
	id string
	at int64 // Unix ms
}

// dueMarks lists the keys used since their mark was last flushed. Call with
// flushMu held (it guards keyUse.flushed).
func (s *Store) dueMarks() []lastUsedMark {
	s.usesMu.Lock()
	defer s.usesMu.Unlock()
	var marks []lastUsedMark
	for id, u := range s.uses {
		if at := u.last.Load(); at > u.flushed {
			marks = append(marks, lastUsedMark{u, id, at})
		}
	}
	return marks
}

// writeUsage adds batch to the usage table and returns the key ids whose
// rows were dropped because the key does not exist. Rows are written in
// key order, so concurrent flushes of several instances lock them in one
// order and cannot deadlock.
func writeUsage(ctx context.Context, tx *sql.Tx, batch map[usageKey]usageCounts) ([]string, error) {
	if len(batch) == 0 {
		return nil, nil
	}
	// The EXISTS guard drops a row for an unknown key instead of failing
	// the foreign key and, with it, every other row of the batch forever.
	ins, err := tx.PrepareContext(ctx, `INSERT INTO usage
		(key_id, model, day, requests, prompt_tokens, completion_tokens, errors, credits_nano)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM keys WHERE id = $1)
		ON CONFLICT (key_id, model, day) DO UPDATE SET
			credits_nano = usage.credits_nano + excluded.credits_nano,
			requests = usage.requests + excluded.requests,
			prompt_tokens = usage.prompt_tokens + excluded.prompt_tokens,
			completion_tokens = usage.completion_tokens + excluded.completion_tokens,
			errors = usage.errors + excluded.errors`)
	if err != nil {
		return nil, err
	}
	defer ins.Close()
	var dropped []string
	for _, k := range sortedKeys(batch) {
		c := batch[k]
		res, err := ins.ExecContext(ctx, k.keyID, k.model, dayString(k.day),
			c.requests, c.prompt, c.completion, c.errors, c.credits)
		if err != nil {
			return nil, err
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			dropped = append(dropped, k.keyID)
		}
	}
	return dropped, nil
}

// sortedKeys is batch's keys in a fixed order.
func sortedKeys(batch map[usageKey]usageCounts) []usageKey {
	keys := make([]usageKey, 0, len(batch))
	for k := range batch {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b usageKey) int {
		return cmp.Or(cmp.Compare(a.keyID, b.keyID), cmp.Compare(a.model, b.model), cmp.Compare(a.day, b.day))
	})
	return keys
}

// writeMarks raises each key's stored last_used to its mark (never lowers
// it: another process may have written a later one), in key id order, as
// writeUsage, against deadlocks.
func (s *Store) writeMarks(ctx context.Context, tx *sql.Tx, marks []lastUsedMark) error {
	slices.SortFunc(marks, func(a, b lastUsedMark) int { return cmp.Compare(a.id, b.id) })
	q := `UPDATE keys SET last_used = ` + s.d.greatest + `(COALESCE(last_used, 0), $1) WHERE id = $2`
	for _, m := range marks {
		if _, err := tx.ExecContext(ctx, q, m.at, m.id); err != nil {
			return err
		}
	}
	return nil
}

// Usage returns usage rows ordered by day, key name and model. Pending
// counts are flushed first, so they are included.
func (s *Store) Usage(ctx context.Context, q UsageQuery) ([]UsageRow, error) {
	if err := s.Flush(ctx); err != nil {
		return nil, err
	}
	var keyID, since string
	if q.Key != "" {
		k, err := s.Get(ctx, q.Key)
		if err != nil {
			return nil, err
		}
		keyID = k.ID
	}
	if !q.Since.IsZero() {
		since = q.Since.UTC().Format(dayLayout)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT u.key_id, k.name, u.model, u.day,
			u.requests, u.prompt_tokens, u.completion_tokens, u.errors, u.credits_nano
		FROM usage u JOIN keys k ON k.id = u.key_id
		WHERE ($1 = '' OR u.key_id = $1) AND u.day >= $2
		ORDER BY u.day, k.name, u.model`, keyID, since)
	if err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	defer rows.Close()
	out := []UsageRow{} // "[]", not null, for scripts
	for rows.Next() {
		var r UsageRow
		if err := rows.Scan(&r.KeyID, &r.KeyName, &r.Model, &r.Day,
			&r.Requests, &r.PromptTokens, &r.CompletionTokens, &r.Errors, &r.CreditsNano); err != nil {
			return nil, fmt.Errorf("usage: %w", err)
		}
		r.Credits = credits.Amount(r.CreditsNano)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	return out, nil
}

// epochDay is t's UTC day as days since 1970-01-01.
func epochDay(t time.Time) int64 {
	sec := t.Unix()
	d := sec / 86400
	if sec%86400 < 0 {
		d-- // floor, not truncation, before 1970
	}
	return d
}

func dayString(d int64) string {
	return time.Unix(d*86400, 0).UTC().Format(dayLayout)
}
