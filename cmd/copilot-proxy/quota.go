package main

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/copilot"
)

// quotaUserInterval is how often the account's quota is fetched from
// copilot_internal/user while serving: often enough to follow a day's use,
// rarely enough to be invisible next to the editor plugins' own polling.
const quotaUserInterval = 5 * time.Minute

// quotaWatch keeps what the gateway knows of the account's quota: the latest
// x-quota-snapshot-* headers of upstream responses, and the last answer of
// GET copilot_internal/user (fetched at start and every quotaUserInterval).
type quotaWatch struct {
	tracker copilot.QuotaTracker
	user    func(context.Context) (*copilot.UserInfo, error)
	now     func() time.Time
	logger  zerolog.Logger

	mu      sync.Mutex
	info    *copilot.UserInfo
	infoAt  time.Time
	infoErr string
}

func newQuotaWatch(user func(context.Context) (*copilot.UserInfo, error), logger zerolog.Logger) *quotaWatch {
	q := &quotaWatch{user: user, now: time.Now, logger: logger}
	q.tracker.OnLow = func(name string, pct float64) {
		logger.Warn().Str("quota", name).Float64("percent_remaining", pct).
			Msg("Copilot premium requests are running out: under 10% of the month's allowance is left")
	}
	return q
}

// run fetches the user quota now and every quotaUserInterval until ctx ends.
func (q *quotaWatch) run(ctx context.Context) {
	t := time.NewTicker(quotaUserInterval)
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

func (q *quotaWatch) fetch(ctx context.Context) {
	fctx, cancel := context.WithTimeout(ctx, time.Minute)
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

// quotaReport is the body of GET /v1/usage/quota (documented in the README).
type quotaReport struct {
	// Headers is the latest snapshot per quota name (premium_interactions,
	// chat, completions) from upstream response headers, with when it was
	// observed; null before the first inference response.
	Headers *headerQuota `json:"headers"`
	// Account is the last copilot_internal/user answer; null until fetched.
	Account *accountQuota `json:"account"`
	// AccountError says why the last fetch failed, if it did.
	AccountError string `json:"account_error,omitempty"`
}

type headerQuota struct {
	ObservedAt time.Time                         `json:"observed_at"`
	Snapshots  map[string]copilot.HeaderSnapshot `json:"snapshots"`
}

type accountQuota struct {
	FetchedAt time.Time      `json:"fetched_at"`
	Login     string         `json:"login,omitempty"`
	Plan      string         `json:"plan,omitempty"`
	SKU       string         `json:"sku,omitempty"`
	ResetDate string         `json:"reset_date,omitempty"`
	Quota     copilot.Quotas `json:"quota"`
}

// report is the gateway's quota source.
func (q *quotaWatch) report() any {
	var r quotaReport
	if snaps, at := q.tracker.Snapshot(); len(snaps) > 0 {
		r.Headers = &headerQuota{ObservedAt: at.UTC(), Snapshots: snaps}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.info != nil {
		r.Account = &accountQuota{FetchedAt: q.infoAt.UTC(), Login: q.info.Login, Plan: q.info.Plan, SKU: q.info.SKU, ResetDate: q.info.ResetDate, Quota: q.info.Quotas}
	}
	r.AccountError = q.infoErr
	return r
}
