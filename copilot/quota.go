package copilot

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// QuotaSnapshot is one quota of GET copilot_internal/user.
type QuotaSnapshot struct {
	Entitlement      float64 `json:"entitlement"`       // requests per period (0 when unlimited)
	Remaining        float64 `json:"remaining"`         // requests left this period
	PercentRemaining float64 `json:"percent_remaining"` // 0–100
	Unlimited        bool    `json:"unlimited"`
	OverageCount     float64 `json:"overage_count"`     // requests beyond the entitlement
	OveragePermitted bool    `json:"overage_permitted"` // whether paid overage is enabled
}

// Describe renders the snapshot for people: "120 of 300 left (40.0%)",
// with overage noted, or "unlimited".
func (q *QuotaSnapshot) Describe() string {
	if q.Unlimited {
		return "unlimited"
	}
	num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	s := fmt.Sprintf("%s of %s left (%s%%)", num(q.Remaining), num(q.Entitlement), strconv.FormatFloat(q.PercentRemaining, 'f', 1, 64))
	if q.OverageCount > 0 {
		s += ", " + num(q.OverageCount) + " over the entitlement"
	}
	if q.OveragePermitted {
		s += ", paid overage allowed"
	}
	return s
}

// Quotas are the snapshots of copilot_internal/user; nil when GitHub sent none.
type Quotas struct {
	Chat                *QuotaSnapshot `json:"chat"`
	Completions         *QuotaSnapshot `json:"completions"`
	PremiumInteractions *QuotaSnapshot `json:"premium_interactions"` // premium requests
}

// UserInfo is the part of GET {github_api}/copilot_internal/user the
// gateway shows: the account, its plan and its quotas. The JSON names are
// GitHub's.
type UserInfo struct {
	Login     string `json:"login"`
	Plan      string `json:"copilot_plan"`     // e.g. "individual", "business"
	SKU       string `json:"access_type_sku"`  // e.g. "copilot_for_business_seat_quota"
	ResetDate string `json:"quota_reset_date"` // e.g. "2026-12-01"
	Quotas    Quotas `json:"quota_snapshots"`
}

// UserError is a failed GET copilot_internal/user. It wraps an
// *ExchangeError with the same kinds and statuses as the token exchange
// (so errors.As finds it and callers treat both alike) and words the
// failures that are specific to this call.
type UserError struct {
	Exchange *ExchangeError
}

// Error returns one line a person understands; it never contains a token.
func (e *UserError) Error() string {
	x := e.Exchange
	switch {
	case x.Kind == KindTransient && x.Status == http.StatusOK:
		return "GitHub returned an unusable Copilot user answer (200): " + x.Message
	case x.Kind == KindTransient && x.Status != 0:
		s := fmt.Sprintf("GitHub returned %d %s on the Copilot user request", x.Status, http.StatusText(x.Status))
		if x.Message != "" {
			s += ": " + x.Message
		}
		return s
	}
	return x.Error()
}

// Unwrap returns the *ExchangeError.
func (e *UserError) Unwrap() error { return e.Exchange }

// userURL is {github_api}/copilot_internal/user, derived from the exchange URL.
func (a *Auth) userURL() string {
	return strings.TrimSuffix(a.url, "/v2/token") + "/user"
}

// User fetches the account's Copilot plan and quotas with the GitHub token.
// Every failure is a *UserError wrapping an *ExchangeError.
func (a *Auth) User(ctx context.Context) (*UserInfo, error) {
	body, xe := a.get(ctx, a.userURL())
	if xe != nil {
		return nil, &UserError{Exchange: xe}
	}
	var u UserInfo
	if err := json.Unmarshal(body, &u); err != nil {
		return nil, &UserError{Exchange: &ExchangeError{Kind: KindTransient, Status: http.StatusOK, Message: "the body is not the expected JSON"}}
	}
	return &u, nil
}

// HeaderSnapshot is one x-quota-snapshot-<name> header of a Copilot
// response, e.g. "ent=300&ov=0.0&ovPerm=false&rem=29.7&rst=2026-12-01T00:00:00Z".
type HeaderSnapshot struct {
	Entitlement      float64   `json:"entitlement"`       // ent: requests per period
	Overage          float64   `json:"overage"`           // ov: requests beyond the entitlement
	OveragePermitted bool      `json:"overage_permitted"` // ovPerm
	PercentRemaining float64   `json:"percent_remaining"` // rem: 0–100
	Unlimited        bool      `json:"unlimited"`         // ent is negative (-1), as the editor plugins read it
	ResetAt          time.Time `json:"reset_at,omitzero"` // rst; zero when absent
}

// ParseQuotaHeader parses an x-quota-snapshot-* value. ok is false when the
// value is not URL-encoded or has no valid rem (the figure that matters: a
// missing one must not read as 0 % left). Other missing or invalid fields
// are zero.
func ParseQuotaHeader(v string) (HeaderSnapshot, bool) {
	q, err := url.ParseQuery(v)
	if err != nil {
		return HeaderSnapshot{}, false
	}
	num := func(k string) (float64, bool) {
		f, err := strconv.ParseFloat(strings.TrimSpace(q.Get(k)), 64)
		// NaN or ±Inf would make the snapshot impossible to encode as JSON.
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, false
		}
		return f, true
	}
	var s HeaderSnapshot
	var ok bool
	if s.PercentRemaining, ok = num("rem"); !ok {
		return HeaderSnapshot{}, false
	}
	s.Entitlement, ok = num("ent")
	s.Unlimited = ok && s.Entitlement < 0
	s.Overage, _ = num("ov")
	s.OveragePermitted, _ = strconv.ParseBool(q.Get("ovPerm"))
	if rst := q.Get("rst"); rst != "" {
		// An unescaped "+" of a zone offset was decoded as a space.
		rst = strings.ReplaceAll(rst, " ", "+")
		for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
			if t, err := time.Parse(layout, rst); err == nil {
				s.ResetAt = t.UTC()
				break
			}
		}
	}
	return s, true
}

// LowQuotaPercent is the percentage of premium requests remaining under
// which QuotaTracker calls OnLow.
const LowQuotaPercent = 10

// quotaHeaderPrefix is the prefix of the quota headers, in the canonical
// form net/http gives header keys.
const quotaHeaderPrefix = "X-Quota-Snapshot-"

// QuotaTracker keeps the latest x-quota-snapshot-* headers seen on upstream
// responses. The zero value is ready; it is safe for concurrent use.
type QuotaTracker struct {
	// OnLow, if set, is called once when the premium requests remaining fall
	// under LowQuotaPercent, and again only after they have been back at or
	// above it. It is called without the tracker's lock held.
	OnLow func(name string, pct float64)

	mu    sync.Mutex
	snaps map[string]quotaEntry
	last  time.Time
	low   map[string]bool // premium quotas currently reported low

	// parsed caches the last value parsed per header key: every response
	// carries the headers and they rarely change, while parsing one (a
	// query string, floats, a time) costs more than the rest of Observe.
	parsedMu sync.Mutex
	parsed   map[string]parsedHeader
}

type parsedHeader struct {
	raw  string
	name string
	snap HeaderSnapshot
	ok   bool
}

// maxParsedHeaders bounds the parse cache (there are a handful of quota
// names; an upstream inventing new ones only empties the cache).
const maxParsedHeaders = 32

// parse returns the quota name (lower case) and the parsed snapshot of the
// header key: raw, from the cache when raw is the value seen last time.
func (t *QuotaTracker) parse(key, raw string) (string, HeaderSnapshot, bool) {
	t.parsedMu.Lock()
	p, hit := t.parsed[key]
	t.parsedMu.Unlock()
	if hit && p.raw == raw {
		return p.name, p.snap, p.ok
	}
	p = parsedHeader{raw: raw, name: strings.ToLower(key[len(quotaHeaderPrefix):])}
	p.snap, p.ok = ParseQuotaHeader(raw)
	t.parsedMu.Lock()
	if t.parsed == nil || len(t.parsed) >= maxParsedHeaders {
		t.parsed = make(map[string]parsedHeader)
	}
	t.parsed[key] = p
	t.parsedMu.Unlock()
	return p.name, p.snap, p.ok
}

type quotaEntry struct {
	snap HeaderSnapshot
	at   time.Time
}

// isPremium names the headers of premium requests (premium_models is the
// older name some plans still send).
func isPremium(name string) bool {
	return name == "premium_interactions" || name == "premium_models"
}

// Observe records every x-quota-snapshot-<name> header of h, observed at
// at. A snapshot older than the one held for the same name is ignored, so
// responses finishing out of order cannot roll the value back. It runs on
// every upstream response: without a quota header it only scans the keys.
func (t *QuotaTracker) Observe(h http.Header, at time.Time) {
	type seen struct {
		name string
		snap HeaderSnapshot
	}
	var found []seen
	for k, vs := range h {
		if len(k) <= len(quotaHeaderPrefix) || len(vs) == 0 || !strings.EqualFold(k[:len(quotaHeaderPrefix)], quotaHeaderPrefix) {
			continue
		}
		if name, s, ok := t.parse(k, vs[0]); ok {
			found = append(found, seen{name, s})
		}
	}
	if len(found) == 0 {
		return
	}

	type lowEvent struct {
		name string
		pct  float64
	}
	var fire []lowEvent
	t.mu.Lock()
	if t.snaps == nil {
		t.snaps = make(map[string]quotaEntry)
		t.low = make(map[string]bool)
	}
	for _, f := range found {
		if old, ok := t.snaps[f.name]; ok && at.Before(old.at) {
			continue
		}
		t.snaps[f.name] = quotaEntry{snap: f.snap, at: at}
		if at.After(t.last) {
			t.last = at
		}
		if !isPremium(f.name) {
			continue
		}
		isLow := !f.snap.Unlimited && f.snap.PercentRemaining < LowQuotaPercent
		if isLow && !t.low[f.name] {
			fire = append(fire, lowEvent{f.name, f.snap.PercentRemaining})
		}
		t.low[f.name] = isLow
	}
	onLow := t.OnLow
	t.mu.Unlock()

	if onLow != nil {
		for _, e := range fire {
			onLow(e.name, e.pct)
		}
	}
}

// Snapshot returns a copy of the latest snapshot per name (e.g.
// "premium_interactions", "chat") and when the latest was observed; an
// empty map and the zero time before any quota header was seen.
func (t *QuotaTracker) Snapshot() (map[string]HeaderSnapshot, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]HeaderSnapshot, len(t.snaps))
	for name, e := range t.snaps {
		out[name] = e.snap
	}
	return out, t.last
}
