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
	Spend SpendFunc
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
	// Store holds the spend; nil means a MemoryBudgets (this process
	// only). Package redislimits shares it between instances.
	Store BudgetStore
}

// Budgets enforces credit budgets per key and for the whole gateway over
// calendar periods in UTC. A request is admitted while its key's (and the
// global) spend, settled plus reserved by requests in flight, is under the
// budget; the handler then reserves its estimated cost (ReserveCredits),
// atomically with that check, and the request's real cost replaces the
// estimate when it ends. So parallel requests overshoot a budget by at most
// the last admitted request's estimate (when estimates hold). Spend is
// loaded from BudgetConfig.Spend when a period starts and then kept in the
// BudgetStore. Create it with NewBudgets.
type Budgets struct {
	cfg   BudgetConfig
	now   func() time.Time
	store BudgetStore
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
	store := cfg.Store
	if store == nil {
		store = NewMemoryBudgets()
	}
	return &Budgets{cfg: cfg, now: now, store: store}
}

type budgetKey struct{}

// budgetTicket is an admitted request's hold on its budgets; only its
// handler goroutine touches it until Middleware settles it.
type budgetTicket struct {
	b        *Budgets
	specs    []BudgetSpec    // the key's budget first, then the global one
	name     string          // the key's name, for messages
	hold     BudgetHold      // from the last admitting check
	reserved bool            // an estimate is reserved
	r        *http.Request   // the request carrying the ticket in its context, until it returns
	ctx      context.Context // its context
}

// Middleware enforces the budgets that apply to a request: its key's, if it
// has one, and the global one. Install it after Auth and the Limiter, and
// outside what prices a request (Entry.SetCost), whose cost it settles when
// the request ends. A request over a budget is refused before anything is
// read: 429 budget_exceeded with Retry-After until the period ends. When
// the spend cannot be read (the key store, or a shared BudgetStore) a
// budgeted request gets 503 limits_unavailable.
func (b *Budgets) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, answered := b.admit(w, r)
		switch {
		case answered:
		case t == nil:
			next.ServeHTTP(w, r)
		default:
			defer t.returned()
			next.ServeHTTP(w, t.r)
		}
	})
}

// admit checks the request against its budgets. It returns nil and false
// when none applies, and true when it refused the request.
//
// It is kept out of the middleware's frame (noinline), which stays on the
// stack for a whole stream (see Auth's admit).
//
//go:noinline
func (b *Budgets) admit(w http.ResponseWriter, r *http.Request) (*budgetTicket, bool) {
	p, _ := PrincipalFrom(r.Context())
	specs := b.specsFor(p)
	if len(specs) == 0 {
		return nil, false
	}
	t := &budgetTicket{b: b, specs: specs, name: p.KeyName}
	if t.name == "" {
		t.name = p.KeyID
	}
	if !t.check(w, r, 0) {
		return nil, true
	}
	t.ctx = context.WithValue(r.Context(), budgetKey{}, t)
	t.r = r.WithContext(t.ctx)
	return t, false
}

// returned queues the settling for the request's end (see AtEnd), letting
// go of the request: a detached stream would hold it for its whole life.
func (t *budgetTicket) returned() {
	t.r = nil
	AtEnd(t.ctx, t)
}

// specsFor lists the budgets p's requests count against: the key's, then
// the global one (the stores' lock order). Their periods are set by check.
func (b *Budgets) specsFor(p Principal) []BudgetSpec {
	var out []BudgetSpec
	if p.HasBudget && p.KeyID != "" {
		period := p.BudgetPeriod
		if period == "" {
			period = credits.Month
		}
		out = append(out, BudgetSpec{KeyID: p.KeyID, Limit: max(p.Budget, 0), Period: period})
	}
	if b.cfg.Global > 0 {
		out = append(out, BudgetSpec{Limit: b.cfg.Global, Period: b.cfg.GlobalPeriod})
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
	if t == nil || t.reserved {
		return true
	}
	return t.check(w, r, max(est, 0))
}

// check admits the request when every budget has room (settled plus
// reserved spend under the limit) and reserves est in each; else it
// answers the refusal.
func (t *budgetTicket) check(w http.ResponseWriter, r *http.Request, est int64) bool {
	now := t.b.now()
	var reset time.Time
	if t.b.cfg.Reset != nil {
		reset = t.b.cfg.Reset()
	}
	for i := range t.specs {
		t.specs[i].Start, t.specs[i].End = t.specs[i].Period.Bounds(now, reset)
	}
	res, err := t.b.store.Check(r.Context(), t.specs, est, t.b.cfg.Spend)
	if err != nil {
		LoggerFrom(r.Context()).Error().Str("error", api.Redact(err.Error())).Msg("budget: cannot read the spend of this period")
		WriteError(w, r, api.NewError(api.CodeLimitsUnavailable, "The gateway cannot read the spend its budgets count against; try again shortly."))
		return false
	}
	if t.specs[0].KeyID != "" {
		st := res.States[0]
		w.Header().Set(HeaderBudgetRemaining, credits.Format(max(t.specs[0].Limit-st.Spent-st.Reserved, 0)))
	}
	if i := res.Refused; i >= 0 {
		writeBudgetExceeded(w, r, t.specs[i], res.States[i], t.name, now)
		return false
	}
	t.hold = res.Hold
	t.reserved = est > 0
	return true
}

// End settles the request: it replaces the request's reservation with its
// cost (Entry.Cost) in each budget, and logs a budget's passing 80 % and
// 100 %.
func (t *budgetTicket) End() {
	if t.hold == nil {
		return
	}
	ctx := t.ctx
	cost, _ := EntryFrom(ctx).Cost()
	// The client may be gone; the spend must still be counted.
	settled, err := t.hold.Settle(context.WithoutCancel(ctx), max(cost, 0))
	if err != nil {
		LoggerFrom(ctx).Error().Str("error", api.Redact(err.Error())).Msg("budget: cannot settle the request's cost")
	}
	for i, s := range settled {
		if s.Crossed > 0 {
			t.b.warn(t.specs[i], t.name, s.Crossed, s.Spent)
		}
	}
}

// warn logs and reports a budget passing percent.
func (b *Budgets) warn(l BudgetSpec, name string, percent int, spent int64) {
	ev := b.cfg.Logger.Warn()
	if l.KeyID != "" {
		ev = ev.Str("key_id", l.KeyID).Str("key_name", name)
	}
	ev.Int("percent", percent).Str("spent_credits", credits.Format(spent)).
		Str("budget_credits", credits.Format(l.Limit)).Str("period", string(l.Period)).
		Time("resets_at", l.End).Msg(budgetWho(l, name) + " passed " + strconv.Itoa(percent) + "% of its budget")
	if b.cfg.OnThreshold != nil {
		b.cfg.OnThreshold(l.KeyID, percent)
	}
}

func budgetWho(l BudgetSpec, name string) string {
	if l.KeyID == "" {
		return "the gateway's global budget"
	}
	return "key '" + name + "'"
}

// writeBudgetExceeded answers 429 budget_exceeded for the budget l, whose
// spend was st, with Retry-After until its period ends. The SDKs would
// retry a 429; x-should-retry tells them not to.
func writeBudgetExceeded(w http.ResponseWriter, r *http.Request, l BudgetSpec, st BudgetState, name string, now time.Time) {
	entry := EntryFrom(r.Context())
	entry.SetErrorCode(string(api.CodeBudgetExceeded))
	reason := ReasonBudget
	if l.KeyID == "" {
		reason = ReasonGlobalBudget
	}
	entry.SetLimitReason(reason)
	secs, ms := retryAfter(l.End.Sub(now))
	h := w.Header()
	h.Set(headerRetryAfter, strconv.FormatInt(secs, 10))
	h.Set(headerRetryAfterMs, strconv.FormatInt(ms, 10))
	h.Set("X-Should-Retry", "false")
	msg := "Budget exceeded for key '" + name + "': "
	if l.KeyID == "" {
		msg = "The gateway's global budget is spent: "
	}
	msg += credits.Format(st.Spent+st.Reserved) + " of " + credits.Format(l.Limit) + " AI credits per " + string(l.Period) +
		" are spent"
	if st.Reserved > 0 {
		msg += " or reserved by requests in flight"
	}
	msg += " (this period began " + l.Start.Format(time.DateOnly) + "). The budget resets at " +
		l.End.Format(time.RFC3339) + "; retry after " + strconv.FormatInt(secs, 10) + "s, or ask the gateway's admin to raise it."
	WriteError(w, r, api.NewError(api.CodeBudgetExceeded, msg))
}

// MemoryBudgets is the in-memory BudgetStore: each budget's current period
// in this process, its spend loaded from the SpendFunc when a period
// starts. Create it with NewMemoryBudgets.
type MemoryBudgets struct {
	keys   sync.Map // key id → *budgetState
	global budgetState
}

var _ BudgetStore = (*MemoryBudgets)(nil)

// NewMemoryBudgets returns an empty in-memory budget store.
func NewMemoryBudgets() *MemoryBudgets { return &MemoryBudgets{} }

// budgetState is one budget's current period: settled spend and in-flight
// reservations, under mu.
type budgetState struct {
	mu         sync.Mutex
	period     credits.Period
	start, end time.Time // zero until loaded
	spent      int64
	reserved   int64
	warned     int // highest threshold reported this period: 0, 80 or 100
}

// state is keyID's budget ("" = the global one), created on first use.
func (m *MemoryBudgets) state(keyID string) *budgetState {
	if keyID == "" {
		return &m.global
	}
	v, ok := m.keys.Load(keyID)
	if !ok {
		v, _ = m.keys.LoadOrStore(keyID, new(budgetState))
	}
	return v.(*budgetState)
}

// Check implements BudgetStore. All budgets are locked together, in specs'
// order (the key's first).
func (m *MemoryBudgets) Check(ctx context.Context, specs []BudgetSpec, est int64, spend SpendFunc) (BudgetCheck, error) {
	sts := make([]*budgetState, len(specs))
	for i := range specs {
		sts[i] = m.state(specs[i].KeyID)
		sts[i].mu.Lock()
	}
	defer func() {
		for i := len(sts) - 1; i >= 0; i-- {
			sts[i].mu.Unlock()
		}
	}()
	out := BudgetCheck{Refused: -1, States: make([]BudgetState, len(specs))}
	for i, st := range sts {
		if err := st.roll(ctx, specs[i], spend); err != nil {
			return BudgetCheck{}, err
		}
		if out.Refused < 0 && st.spent+st.reserved >= specs[i].Limit {
			out.Refused = i
		}
	}
	if out.Refused < 0 {
		h := &memHold{sts: sts, limits: make([]int64, len(specs))}
		for i, st := range sts {
			st.reserved += est
			h.limits[i] = specs[i].Limit
		}
		h.reserved = est
		out.Hold = h
	}
	for i, st := range sts {
		out.States[i] = BudgetState{Spent: st.spent, Reserved: st.reserved}
	}
	return out, nil
}

// roll moves st to l's period, loading that period's recorded spend when
// it changes (or the budget's period, or the account's reset date, did).
// In-flight reservations carry over. Call with the lock.
func (st *budgetState) roll(ctx context.Context, l BudgetSpec, spend SpendFunc) error {
	if st.period == l.Period && st.start.Equal(l.Start) && st.end.Equal(l.End) {
		return nil
	}
	var spent int64
	if spend != nil {
		var err error
		if spent, err = spend(ctx, l.KeyID, l.Start, l.End); err != nil {
			return err
		}
	}
	st.period, st.start, st.end, st.spent, st.warned = l.Period, l.Start, l.End, spent, 0
	return nil
}

// memHold is a request's hold on MemoryBudgets' states.
type memHold struct {
	sts      []*budgetState
	limits   []int64
	reserved int64
}

// Settle implements BudgetHold.
func (h *memHold) Settle(_ context.Context, cost int64) ([]BudgetSettled, error) {
	out := make([]BudgetSettled, len(h.sts))
	for i, st := range h.sts {
		st.mu.Lock()
		st.reserved = max(st.reserved-h.reserved, 0)
		st.spent += cost
		c := crossedThreshold(st.spent, h.limits[i], st.warned)
		if c > 0 {
			st.warned = c
		}
		out[i] = BudgetSettled{Spent: st.spent, Crossed: c}
		st.mu.Unlock()
	}
	return out, nil
}
