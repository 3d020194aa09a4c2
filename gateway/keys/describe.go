package keys

import (
	"errors"
	"strconv"
	"strings"
	"time"
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
// server default tokens/min; unlimited concurrent; all models".
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
	if k.ExpiresAt != nil {
		parts = append(parts, "expires "+k.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return strings.Join(parts, "; ")
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
