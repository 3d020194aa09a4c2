package copilot

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// DefaultQuotaInterval is how often a QuotaWatch fetches the account's quota
// from copilot_internal/user: often enough to follow a day's use, rarely
// enough to be invisible next to the editor plugins' own polling.
const DefaultQuotaInterval = 5 * time.Minute

// quotaFetchTimeout bounds one copilot_internal/user fetch.
const quotaFetchTimeout = time.Minute

// QuotaWatch keeps what the gateway knows of the account's quota: the latest
// x-quota-snapshot-* headers of upstream responses (its Tracker, which the
// Transport feeds) and the last answer of GET copilot_internal/user, fetched
// by Run at start and every Interval.
type QuotaWatch struct {
	// Tracker records the response headers; give it to Transport.Quota.
	Tracker QuotaTracker

	user     func(context.Context) (*UserInfo, error)
	interval time.Duration
	now      func() time.Time
	logger   zerolog.Logger

	mu      sync.Mutex
	info    *UserInfo
	infoAt  time.Time
	infoErr string
}

// NewQuotaWatch returns a watch fetching the account quota with user
// (usually Auth.User). It logs a warning when premium requests run low.
// now is its clock (nil: time.Now).
func NewQuotaWatch(user func(context.Context) (*UserInfo, error), now func() time.Time, logger zerolog.Logger) *QuotaWatch {
	if now == nil {
		now = time.Now
	}
	q := &QuotaWatch{user: user, interval: DefaultQuotaInterval, now: now, logger: logger}
	q.Tracker.OnLow = func(name string, pct float64) {
		logger.Warn().Str("quota", name).Float64("percent_remaining", pct).
			Msg("Copilot premium requests are running out: under 10% of the month's allowance is left")
	}
	return q
}

// Run fetches the account quota now and every DefaultQuotaInterval until
// ctx ends.
func (q *QuotaWatch) Run(ctx context.Context) {
	t := time.NewTicker(q.interval)
	defer t.Stop()
	for {
		q.fetch(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (q *QuotaWatch) fetch(ctx context.Context) {
	fctx, cancel := context.WithTimeout(ctx, quotaFetchTimeout)
	defer cancel()
	info, err := q.user(fctx)
	q.mu.Lock()
	defer q.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			q.infoErr = err.Error()
			q.logger.Warn().Str("error", err.Error()).Msg("could not fetch the Copilot quota (copilot_internal/user)")
		}
		return
	}
	q.info, q.infoAt, q.infoErr = info, q.now(), ""
}

// QuotaReport is the body of GET /v1/usage/quota (documented in the README).
type QuotaReport struct {
	// Headers is the latest snapshot per quota name (premium_interactions,
	// chat, completions) from upstream response headers, with when it was
	// observed; null before the first inference response.
	Headers *HeaderQuota `json:"headers"`
	// Account is the last copilot_internal/user answer; null until fetched.
	Account *AccountQuota `json:"account"`
	// AccountError says why the last fetch failed, if it did.
	AccountError string `json:"account_error,omitempty"`
}

// HeaderQuota is the quota as the response headers last showed it.
type HeaderQuota struct {
	ObservedAt time.Time                 `json:"observed_at"`
	Snapshots  map[string]HeaderSnapshot `json:"snapshots"`
}

// AccountQuota is the quota as copilot_internal/user last showed it.
type AccountQuota struct {
	FetchedAt time.Time `json:"fetched_at"`
	Login     string    `json:"login,omitempty"`
	Plan      string    `json:"plan,omitempty"`
	SKU       string    `json:"sku,omitempty"`
	ResetDate string    `json:"reset_date,omitempty"`
	Quota     Quotas    `json:"quota"`
}

// Report returns what is known now.
func (q *QuotaWatch) Report() QuotaReport {
	var r QuotaReport
	if snaps, at := q.Tracker.Snapshot(); len(snaps) > 0 {
		r.Headers = &HeaderQuota{ObservedAt: at.UTC(), Snapshots: snaps}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.info != nil {
		r.Account = &AccountQuota{FetchedAt: q.infoAt.UTC(), Login: q.info.Login, Plan: q.info.Plan,
			SKU: q.info.SKU, ResetDate: q.info.ResetDate, Quota: q.info.Quotas}
	}
	r.AccountError = q.infoErr
	return r
}

// ResetDate is the account's next quota reset (00:00 UTC of its
// quota_reset_date) as the account endpoint last said; zero when unknown.
func (q *QuotaWatch) ResetDate() time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.info == nil || q.info.ResetDate == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.DateOnly, q.info.ResetDate)
	if err != nil {
		return time.Time{}
	}
	return t
}

// QuotaLevel is one quota's standing, as the metrics show it.
type QuotaLevel struct {
	Name             string
	PercentRemaining float64
	Entitlement      float64 // 0 when unlimited
	Unlimited        bool
}

// Levels returns every quota's standing: the latest response headers, and
// for quotas without one the last copilot_internal/user answer.
func (q *QuotaWatch) Levels() []QuotaLevel {
	snaps, _ := q.Tracker.Snapshot()
	out := make([]QuotaLevel, 0, 4)
	for name, s := range snaps {
		ent := s.Entitlement
		if s.Unlimited {
			ent = 0
		}
		out = append(out, QuotaLevel{Name: name, PercentRemaining: s.PercentRemaining, Entitlement: ent, Unlimited: s.Unlimited})
	}
	q.mu.Lock()
	info := q.info
	q.mu.Unlock()
	if info == nil {
		return out
	}
	for name, s := range map[string]*QuotaSnapshot{
		"premium_interactions": info.Quotas.PremiumInteractions,
		"chat":                 info.Quotas.Chat,
		"completions":          info.Quotas.Completions,
	} {
		if _, ok := snaps[name]; ok || s == nil {
			continue
		}
		out = append(out, QuotaLevel{Name: name, PercentRemaining: s.PercentRemaining, Entitlement: s.Entitlement, Unlimited: s.Unlimited})
	}
	return out
}
