package keys

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/copilot-proxy/copilot-proxy/credits"
)

// States of a key (see Key.State).
const (
	StateActive  = "active"
	StateRevoked = "revoked"
	StateExpired = "expired"
)

// State is the key's standing at now: StateRevoked, StateExpired or
// StateActive.
func (k Key) State(now time.Time) string {
	switch {
	case k.RevokedAt != nil:
		return StateRevoked
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return StateExpired
	}
	return StateActive
}

// LimitsText describes the key's limits for people, e.g. "60 requests/min;
// server default tokens/min; unlimited concurrent; all models; budget 50
// credits/month". Without a budget or expiry it says nothing of them.
func (k Key) LimitsText() string {
	lim := func(v *int, unit string) string {
		switch {
		case v == nil:
			return "server default " + unit
		case *v == 0:
			return "unlimited " + unit
		}
		return strconv.Itoa(*v) + " " + unit
	}
	parts := []string{lim(k.RPM, "requests/min"), lim(k.TPM, "tokens/min"), lim(k.Concurrency, "concurrent")}
	if len(k.Models) > 0 {
		parts = append(parts, "models "+strings.Join(k.Models, ","))
	} else {
		parts = append(parts, "all models")
	}
	if k.Budget != nil {
		unit := " credits/"
		if *k.Budget == credits.Nano {
			unit = " credit/"
		}
		parts = append(parts, "budget "+credits.Format(int64(*k.Budget))+unit+string(k.budgetPeriod()))
	}
	if k.ExpiresAt != nil {
		parts = append(parts, "expires "+k.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return strings.Join(parts, "; ")
}

// BudgetText is the budget in short, "50/month", or "-" without one.
func (k Key) BudgetText() string {
	if k.Budget == nil {
		return "-"
	}
	return credits.Format(int64(*k.Budget)) + "/" + string(k.budgetPeriod())
}

// budgetPeriod is the key's budget period; a budget stored without one
// counts per month, as validateBudget defaults it.
func (k Key) budgetPeriod() credits.Period {
	if k.BudgetPeriod == "" {
		return credits.Month
	}
	return k.BudgetPeriod
}

// ParseModels splits a comma-separated model list ("a, b,,c"), dropping
// empty entries; "" is nil (all models).
func ParseModels(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Limit is an optional per-key limit as a flag.Value: unset (nil, the
// server default applies) or a whole number (0 = unlimited).
type Limit struct{ V *int }

// String is the limit as given, "" when unset.
func (l *Limit) String() string {
	if l == nil || l.V == nil {
		return ""
	}
	return strconv.Itoa(*l.V)
}

// Set parses a whole number ≥ 0.
func (l *Limit) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return errors.New("want a whole number ≥ 0 (0 = unlimited)")
	}
	l.V = &n
	return nil
}

// Grace is a flag.Value for ParseDuration: a duration that also takes days
// and weeks (24h, 7d, 2w, 0s).
type Grace time.Duration

// String is the duration in Go's form.
func (g *Grace) String() string { return time.Duration(*g).String() }

// Set parses s with ParseDuration.
func (g *Grace) Set(s string) error {
	d, err := ParseDuration(s)
	if err != nil {
		return errors.New("want a duration such as 24h, 7d or 0s")
	}
	*g = Grace(d)
	return nil
}

// ChangeFlag is a flag.Value that fills a Change for Update: the flag's
// reset word (such as "default" or "none") clears the setting, any other
// value is parsed into a new one. A flag never given leaves Change unset,
// so only the settings named on the command line change.
type ChangeFlag[T any] struct {
	Change Change[T]
	reset  string // "" when the setting cannot be cleared
	parse  func(string) (T, error)
	text   string
}

// String is the value as given, "" when unset.
func (f *ChangeFlag[T]) String() string {
	if f == nil {
		return ""
	}
	return f.text
}

// Set reads the reset word (any case) or a value.
func (f *ChangeFlag[T]) Set(s string) error {
	s = strings.TrimSpace(s)
	if f.reset != "" && strings.EqualFold(s, f.reset) {
		f.Change, f.text = Clear[T](), s
		return nil
	}
	v, err := f.parse(s)
	if err != nil {
		return err
	}
	f.Change, f.text = To(v), s
	return nil
}

// LimitFlag reads "N|default": a whole number ≥ 0 (0 = unlimited), or
// "default" for the server's default limit.
func LimitFlag() *ChangeFlag[int] {
	return &ChangeFlag[int]{reset: "default", parse: func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return 0, errors.New("want a whole number ≥ 0 (0 = unlimited) or default")
		}
		return n, nil
	}}
}

// ModelsFlag reads "a,b|all": a comma-separated list of models, or "all"
// to allow every model.
func ModelsFlag() *ChangeFlag[[]string] {
	return &ChangeFlag[[]string]{reset: "all", parse: func(s string) ([]string, error) {
		ms := ParseModels(s)
		if len(ms) == 0 {
			return nil, errors.New("want a comma-separated list of models, or all")
		}
		return ms, nil
	}}
}

// BudgetFlag reads "CREDITS|none": AI credits per period in nano-credits
// ("50", "12.5"), or "none" for no budget.
func BudgetFlag() *ChangeFlag[int64] {
	return &ChangeFlag[int64]{reset: "none", parse: func(s string) (int64, error) {
		n, err := credits.Parse(s)
		if err != nil {
			return 0, errors.New("want a number of credits ≥ 0 such as 50 or 12.5 (at most 9 decimals), or none")
		}
		return n, nil
	}}
}

// PeriodFlag reads a budget period: day, week or month. It has no reset
// word: clearing the budget clears its period.
func PeriodFlag() *ChangeFlag[credits.Period] {
	return &ChangeFlag[credits.Period]{parse: func(s string) (credits.Period, error) {
		if s == "" { // ParsePeriod takes "" as the default; a flag must say
			return "", errors.New("want day, week or month")
		}
		return credits.ParsePeriod(strings.ToLower(s))
	}}
}

// ExpiryFlag reads "30d|2027-01-31|never" with ParseExpiry at now() (nil:
// time.Now), or "never" for a key that does not expire.
func ExpiryFlag(now func() time.Time) *ChangeFlag[time.Time] {
	if now == nil {
		now = time.Now
	}
	return &ChangeFlag[time.Time]{reset: "never", parse: func(s string) (time.Time, error) {
		return ParseExpiry(s, now())
	}}
}
