package middleware

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/credits"
)

// HeaderBudgetRemaining is on every answer to a key with a budget: what
// the key may still spend this period, in credits, after what is settled
// and what requests in flight (this one included) have reserved.
const HeaderBudgetRemaining = "X-Copilot-Proxy-Budget-Remaining"

// BudgetConfig configures Budgets.
type BudgetConfig struct {
	// Global is the most all requests together may spend per GlobalPeriod,
	// in nano-credits; 0: no global budget.
	Global       int64
	GlobalPeriod credits.Period
	// Spend returns what keyID ("" = every key) spent in [from, to), as
	// recorded (the key store); nil: nothing recorded, periods start at 0.
	Spend func(ctx context.Context, keyID string, from, to time.Time) (int64, error)
	// Reset returns the account's next quota reset (zero: unknown), which
	// month periods follow when known; nil: calendar months.
	Reset func() time.Time
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger gets a line when a key passes 80 % and 100 % of its budget.
	Logger zerolog.Logger
	// OnThreshold is called with the key id ("" for the global budget)
	// and 80 or 100 as the line is logged (for metrics); nil: none.
	OnThreshold func(keyID string, percent int)
}

// Budgets enforces credit budgets per key and for the whole gateway over
// calendar periods in UTC. A request is admitted while its key's (and the
// global) spend, settled plus reserved by requests in flight, is under the
// budget; the handler then reserves its estimated cost (ReserveCredits),
// atomically with that check, and the request's real cost replaces the
// estimate when it ends. So parallel requests overshoot a budget by at most
// the last admitted request's estimate (when estimates hold). Spend is
// loaded from BudgetConfig.Spend when a period starts and then kept in
// memory. Create it with NewBudgets.
type Budgets struct {
	cfg    BudgetConfig
	now    func() time.Time
	keys   sync.Map // key id → *budgetState
	global budgetState
}

// NewBudgets returns Budgets for cfg.
func NewBudgets(cfg BudgetConfig) *Budgets {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	cfg.Global = max(cfg.Global, 0)
	if cfg.GlobalPeriod == "" {
		cfg.GlobalPeriod = credits.Month
	}
	return &Budgets{cfg: cfg, now: now}
}

// budgetState is one budget's current period: settled spend and in-flight
// reservations, under mu.
type budgetState struct {
	mu         sync.Mutex
	period     credits.Period
	start, end time.Time // zero until loaded
	spent      int64
	reserved   int64
	warned     int // highest threshold logged this period: 0, 80 or 100
}

// budgetLimit is one budget a request counts against.
type budgetLimit struct {
	st     *budgetState
	keyID  string // "" for the global budget
	name   string // the key's name, for messages
	limit  int64
	period credits.Period
}

type budgetKey struct{}

// budgetTicket is an admitted request's hold on its budgets; only its
// handler goroutine touches it until Middleware settles it.
type budgetTicket struct {
	b        *Budgets
	limits   []budgetLimit
	reserved int64
}

// Middleware enforces the budgets that apply to a request: its key's, if it
// has one, and the global one. Install it after Auth and the Limiter, and
// outside what prices a request (Entry.SetCost), whose cost it settles when
// the request ends. A request over a budget is refused before anything is
// read: 429 budget_exceeded with Retry-After until the period ends.
func (b *Budgets) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := PrincipalFrom(r.Context())
		limits := b.limitsFor(p)
		if len(limits) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		t := &budgetTicket{b: b, limits: limits}
		if !t.check(w, r, 0) {
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), budgetKey{}, t))
		defer t.settle(EntryFrom(r.Context()))
		next.ServeHTTP(w, r)
	})
}

// limitsFor lists the budgets p's requests count against: the key's, then
// the global one (the lock order).
func (b *Budgets) limitsFor(p Principal) []budgetLimit {
	var out []budgetLimit
	if p.HasBudget && p.KeyID != "" {
		v, ok := b.keys.Load(p.KeyID)
		if !ok {
			v, _ = b.keys.LoadOrStore(p.KeyID, new(budgetState))
		}
		name := p.KeyName
		if name == "" {
			name = p.KeyID
		}
		period := p.BudgetPeriod
		if period == "" {
			period = credits.Month
		}
		out = append(out, budgetLimit{st: v.(*budgetState), keyID: p.KeyID, name: name, limit: max(p.Budget, 0), period: period})
	}
	if b.cfg.Global > 0 {
		out = append(out, budgetLimit{st: &b.global, limit: b.cfg.Global, period: b.cfg.GlobalPeriod})
	}
	return out
}

// ReserveCredits reserves est nano-credits, a request's estimated cost, in
// the budgets that apply to it, atomically with checking that they are not
// spent: the request is refused (429 budget_exceeded, and false returned)
// when one is. Call it once the model is known and before anything is sent
// upstream; without budgets, or on a second call, it does nothing and
// returns true. An estimate of 0 (a model without prices) reserves nothing.
func ReserveCredits(w http.ResponseWriter, r *http.Request, est int64) bool {
	t, _ := r.Context().Value(budgetKey{}).(*budgetTicket)
	if t == nil || t.reserved > 0 {
		return true
	}
	return t.check(w, r, max(est, 0))
}

// check admits the request when every budget has room (settled plus
// reserved spend under the limit) and reserves est in each; else it
// answers the refusal. All budgets are locked together, key first.
func (t *budgetTicket) check(w http.ResponseWriter, r *http.Request, est int64) bool {
	now := t.b.now()
	for _, l := range t.limits {
		l.st.mu.Lock()
	}
	var refused *budgetLimit
	var loadErr error
	for i := range t.limits {
		l := &t.limits[i]
		if loadErr = t.b.roll(r.Context(), l, now); loadErr != nil {
			break
		}
		if refused == nil && l.st.spent+l.st.reserved >= l.limit {
			refused = l
		}
	}
	if loadErr == nil && refused == nil && est > 0 {
		for _, l := range t.limits {
			l.st.reserved += est
		}
		t.reserved = est
	}
	remaining, hasKey := t.remaining()
	var snap budgetLimit
	if refused != nil {
		snap = *refused
		snap.st = &budgetState{period: refused.st.period, start: refused.st.start, end: refused.st.end,
			spent: refused.st.spent, reserved: refused.st.reserved}
	}
	for i := len(t.limits) - 1; i >= 0; i-- {
		t.limits[i].st.mu.Unlock()
	}
	if hasKey && loadErr == nil {
		w.Header().Set(HeaderBudgetRemaining, credits.Format(remaining))
	}
	switch {
	case loadErr != nil:
		EntryFrom(r.Context()).SetErrorCode(string(api.CodeLimitsUnavailable))
		LoggerFrom(r.Context()).Error().Str("error", api.Redact(loadErr.Error())).Msg("budget: cannot read the spend of this period")
		WriteError(w, r, api.NewError(api.CodeLimitsUnavailable, "The gateway cannot read the spend its budgets count against; try again shortly."))
		return false
	case refused != nil:
		writeBudgetExceeded(w, r, snap, now)
		return false
	}
	return true
}

// remaining is what the key's budget has left after settled and reserved
// spend; hasKey is false when the key has no budget. Call with the locks.
func (t *budgetTicket) remaining() (int64, bool) {
	for _, l := range t.limits {
		if l.keyID != "" {
			return max(l.limit-l.st.spent-l.st.reserved, 0), true
		}
	}
	return 0, false
}

// roll moves l's state to the period holding now, loading that period's
// recorded spend when it changes (or the budget's period, or the account's
// reset date, did). In-flight reservations carry over. Call with the lock.
func (b *Budgets) roll(ctx context.Context, l *budgetLimit, now time.Time) error {
	var reset time.Time
	if b.cfg.Reset != nil {
		reset = b.cfg.Reset()
	}
	start, end := l.period.Bounds(now, reset)
	st := l.st
	if st.period == l.period && st.start.Equal(start) && st.end.Equal(end) {
		return nil
	}
	var spent int64
	if b.cfg.Spend != nil {
		var err error
		if spent, err = b.cfg.Spend(ctx, l.keyID, start, end); err != nil {
			return err
		}
	}
	st.period, st.start, st.end, st.spent, st.warned = l.period, start, end, spent, 0
	return nil
}

// settle replaces the request's reservation with its cost (Entry.Cost) in
// each budget, and logs a budget's passing 80 % and 100 %.
func (t *budgetTicket) settle(e *Entry) {
	cost, _ := e.Cost()
	cost = max(cost, 0)
	for _, l := range t.limits {
		st := l.st
		st.mu.Lock()
		st.reserved = max(st.reserved-t.reserved, 0)
		st.spent += cost
		crossed := 0
		if l.limit > 0 && st.warned < 100 {
			switch s := min(st.spent, l.limit*2); {
			case s >= l.limit:
				crossed = 100
			case s*5 >= l.limit*4 && st.warned < 80:
				crossed = 80
			}
		}
		if crossed > 0 {
			st.warned = crossed
		}
		spent, end := st.spent, st.end
		st.mu.Unlock()
		if crossed > 0 {
			t.b.warn(l, crossed, spent, end)
		}
	}
}

// warn logs and reports a budget passing percent.
func (b *Budgets) warn(l budgetLimit, percent int, spent int64, end time.Time) {
	ev := b.cfg.Logger.Warn()
	if l.keyID != "" {
		ev = ev.Str("key_id", l.keyID).Str("key_name", l.name)
	}
	ev.Int("percent", percent).Str("spent_credits", credits.Format(spent)).
		Str("budget_credits", credits.Format(l.limit)).Str("period", string(l.period)).
		Time("resets_at", end).Msg(budgetWho(l) + " passed " + strconv.Itoa(percent) + "% of its budget")
	if b.cfg.OnThreshold != nil {
		b.cfg.OnThreshold(l.keyID, percent)
	}
}

func budgetWho(l budgetLimit) string {
	if l.keyID == "" {
		return "the gateway's global budget"
	}
	return "key '" + l.name + "'"
}

// writeBudgetExceeded answers 429 budget_exceeded for the budget l (a
// snapshot), with Retry-After until its period ends. The SDKs would retry a
// 429; x-should-retry tells them not to.
func writeBudgetExceeded(w http.ResponseWriter, r *http.Request, l budgetLimit, now time.Time) {
	entry := EntryFrom(r.Context())
	entry.SetErrorCode(string(api.CodeBudgetExceeded))
	reason := ReasonBudget
	if l.keyID == "" {
		reason = ReasonGlobalBudget
	}
	entry.SetLimitReason(reason)
	secs, ms := retryAfter(l.st.end.Sub(now))
	h := w.Header()
	h.Set(headerRetryAfter, strconv.FormatInt(secs, 10))
	h.Set(headerRetryAfterMs, strconv.FormatInt(ms, 10))
	h.Set("X-Should-Retry", "false")
	used := l.st.spent + l.st.reserved
	msg := "Budget exceeded for key '" + l.name + "': "
	if l.keyID == "" {
		msg = "The gateway's global budget is spent: "
	}
	msg += credits.Format(used) + " of " + credits.Format(l.limit) + " AI credits per " + string(l.period) +
		" are spent"
	if l.st.reserved > 0 {
		msg += " or reserved by requests in flight"
	}
	msg += " (this period began " + l.st.start.Format(time.DateOnly) + "). The budget resets at " +
		l.st.end.Format(time.RFC3339) + "; retry after " + strconv.FormatInt(secs, 10) + "s, or ask the gateway's admin to raise it."
	WriteError(w, r, api.NewError(api.CodeBudgetExceeded, msg))
}
