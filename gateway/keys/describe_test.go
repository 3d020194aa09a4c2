package keys_test

import (
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/credits"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
)

func TestKeyState(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	tests := []struct {
		name string
		key  keys.Key
		want string
	}{
		{"active", keys.Key{}, keys.StateActive},
		{"expires later", keys.Key{ExpiresAt: &future}, keys.StateActive},
		{"expired", keys.Key{ExpiresAt: &past}, keys.StateExpired},
		{"expires now", keys.Key{ExpiresAt: &now}, keys.StateExpired},
		{"revoked wins over expired", keys.Key{RevokedAt: &past, ExpiresAt: &past}, keys.StateRevoked},
	}
	for _, tt := range tests {
		if got := tt.key.State(now); got != tt.want {
			t.Errorf("%s: State = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestKeyLimitsText(t *testing.T) {
	t.Parallel()
	zero, sixty := 0, 60
	exp := time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		key  keys.Key
		want string
	}{
		{keys.Key{}, "server default requests/min; server default tokens/min; server default concurrent; all models"},
		{keys.Key{RPM: &sixty, TPM: &zero, Concurrency: &zero, Models: []string{"gpt-4o", "o3"}, ExpiresAt: &exp},
			"60 requests/min; unlimited tokens/min; unlimited concurrent; models gpt-4o,o3; expires 2027-01-31T00:00:00Z"},
		{keys.Key{Budget: amount(50 * credits.Nano), BudgetPeriod: credits.Month},
			"server default requests/min; server default tokens/min; server default concurrent; all models; budget 50 credits/month"},
		{keys.Key{Budget: amount(credits.Nano), BudgetPeriod: credits.Day, ExpiresAt: &exp},
			"server default requests/min; server default tokens/min; server default concurrent; all models; budget 1 credit/day; expires 2027-01-31T00:00:00Z"},
		{keys.Key{Budget: amount(12_500_000_000)}, // no period stored: a month
			"server default requests/min; server default tokens/min; server default concurrent; all models; budget 12.5 credits/month"},
	}
	for _, tt := range tests {
		if got := tt.key.LimitsText(); got != tt.want {
			t.Errorf("LimitsText = %q, want %q", got, tt.want)
		}
	}
}

func TestParseModels(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]string{
		"":              nil,
		" , ,":          nil,
		"gpt-4o":        {"gpt-4o"},
		" a, b,,c ":     {"a", "b", "c"},
		"claude-opus-4": {"claude-opus-4"},
	} {
		if got := keys.ParseModels(in); !reflect.DeepEqual(got, want) {
			t.Errorf("ParseModels(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLimitAndGraceFlags(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var unset, set keys.Limit
	grace := keys.Grace(24 * time.Hour)
	fs.Var(&unset, "unset", "")
	fs.Var(&set, "set", "")
	fs.Var(&grace, "grace", "")
	if err := fs.Parse([]string{"--set", " 0 ", "--grace", "7d"}); err != nil {
		t.Fatal(err)
	}
	if unset.V != nil || unset.String() != "" {
		t.Errorf("unset limit = %v %q", unset.V, unset.String())
	}
	if set.V == nil || *set.V != 0 || set.String() != "0" {
		t.Errorf("--set 0 gave %v", set.V)
	}
	if time.Duration(grace) != 7*24*time.Hour || grace.String() != "168h0m0s" {
		t.Errorf("--grace 7d gave %s", grace.String())
	}
	for _, bad := range []string{"-1", "x", "1.5"} {
		var l keys.Limit
		if l.Set(bad) == nil {
			t.Errorf("Limit.Set(%q) accepted", bad)
		}
	}
	var g keys.Grace
	if g.Set("soon") == nil {
		t.Error(`Grace.Set("soon") accepted`)
	}
}

func amount(nano int64) *credits.Amount {
	a := credits.Amount(nano)
	return &a
}

func TestKeyBudgetText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key  keys.Key
		want string
	}{
		{keys.Key{}, "-"},
		{keys.Key{Budget: amount(50 * credits.Nano), BudgetPeriod: credits.Month}, "50/month"},
		{keys.Key{Budget: amount(12_500_000_000), BudgetPeriod: credits.Week}, "12.5/week"},
		{keys.Key{Budget: amount(0), BudgetPeriod: credits.Day}, "0/day"},
		{keys.Key{Budget: amount(credits.Nano)}, "1/month"},
	}
	for _, tt := range tests {
		if got := tt.key.BudgetText(); got != tt.want {
			t.Errorf("BudgetText(%+v) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

// flagValue is one of the ChangeFlag constructors, seen through what a
// test needs: Set, String and the resulting Change.
type flagValue interface {
	Set(string) error
	String() string
}

func TestChangeFlags(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	type result = changeResult
	// get reads the Change a flag holds as a result.
	get := func(f flagValue) result {
		switch f := f.(type) {
		case *keys.ChangeFlag[int]:
			return deref(f.Change)
		case *keys.ChangeFlag[[]string]:
			return deref(f.Change)
		case *keys.ChangeFlag[int64]:
			return deref(f.Change)
		case *keys.ChangeFlag[credits.Period]:
			return deref(f.Change)
		case *keys.ChangeFlag[time.Time]:
			return deref(f.Change)
		}
		panic("unknown flag type")
	}
	tests := []struct {
		name    string
		flag    func() flagValue
		in      string
		want    result
		wantErr bool
	}{
		{"limit number", func() flagValue { return keys.LimitFlag() }, " 60 ", result{true, 60}, false},
		{"limit zero", func() flagValue { return keys.LimitFlag() }, "0", result{true, 0}, false},
		{"limit default", func() flagValue { return keys.LimitFlag() }, "default", result{true, nil}, false},
		{"limit Default", func() flagValue { return keys.LimitFlag() }, "Default", result{true, nil}, false},
		{"limit negative", func() flagValue { return keys.LimitFlag() }, "-1", result{}, true},
		{"limit fraction", func() flagValue { return keys.LimitFlag() }, "1.5", result{}, true},
		{"limit word", func() flagValue { return keys.LimitFlag() }, "none", result{}, true},
		{"models list", func() flagValue { return keys.ModelsFlag() }, "gpt-4o, o3", result{true, []string{"gpt-4o", "o3"}}, false},
		{"models all", func() flagValue { return keys.ModelsFlag() }, "all", result{true, nil}, false},
		{"models empty", func() flagValue { return keys.ModelsFlag() }, " , ", result{}, true},
		{"budget whole", func() flagValue { return keys.BudgetFlag() }, "50", result{true, int64(50 * credits.Nano)}, false},
		{"budget decimal", func() flagValue { return keys.BudgetFlag() }, "12.5", result{true, int64(12_500_000_000)}, false},
		{"budget zero", func() flagValue { return keys.BudgetFlag() }, "0", result{true, int64(0)}, false},
		{"budget none", func() flagValue { return keys.BudgetFlag() }, "none", result{true, nil}, false},
		{"budget negative", func() flagValue { return keys.BudgetFlag() }, "-5", result{}, true},
		{"budget word", func() flagValue { return keys.BudgetFlag() }, "lots", result{}, true},
		{"budget too precise", func() flagValue { return keys.BudgetFlag() }, "0.0000000001", result{}, true},
		{"period day", func() flagValue { return keys.PeriodFlag() }, "day", result{true, credits.Day}, false},
		{"period Week", func() flagValue { return keys.PeriodFlag() }, "Week", result{true, credits.Week}, false},
		{"period month", func() flagValue { return keys.PeriodFlag() }, "month", result{true, credits.Month}, false},
		{"period empty", func() flagValue { return keys.PeriodFlag() }, "", result{}, true},
		{"period year", func() flagValue { return keys.PeriodFlag() }, "year", result{}, true},
		{"period no reset word", func() flagValue { return keys.PeriodFlag() }, "none", result{}, true},
		{"expiry duration", func() flagValue { return keys.ExpiryFlag(func() time.Time { return now }) }, "30d", result{true, now.AddDate(0, 0, 30)}, false},
		{"expiry date", func() flagValue { return keys.ExpiryFlag(func() time.Time { return now }) }, "2027-01-31", result{true, time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)}, false},
		{"expiry never", func() flagValue { return keys.ExpiryFlag(func() time.Time { return now }) }, "never", result{true, nil}, false},
		{"expiry past", func() flagValue { return keys.ExpiryFlag(func() time.Time { return now }) }, "2020-01-01", result{}, true},
		{"expiry word", func() flagValue { return keys.ExpiryFlag(nil) }, "soonish", result{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := tt.flag()
			if f.String() != "" || get(f).set {
				t.Fatalf("fresh flag is not unset: %q %+v", f.String(), get(f))
			}
			err := f.Set(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Set(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if tt.wantErr {
				if get(f).set || f.String() != "" {
					t.Errorf("a refused value changed the flag: %+v", get(f))
				}
				return
			}
			if got := get(f); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Set(%q) gave %+v, want %+v", tt.in, got, tt.want)
			}
			if f.String() != strings.TrimSpace(tt.in) {
				t.Errorf("String() = %q, want %q", f.String(), tt.in)
			}
		})
	}
}

// changeResult is a Change with its type erased, for comparing.
type changeResult struct {
	set   bool
	value any // nil: cleared (or unset)
}

func deref[T any](c keys.Change[T]) changeResult {
	r := changeResult{set: c.Set}
	if c.Value != nil {
		r.value = *c.Value
	}
	return r
}

// TestChangeFlagsOnFlagSet: only flags given on the command line change
// anything; the flag package's help can print the unset ones.
func TestChangeFlagsOnFlagSet(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	rpm, tpm, budget := keys.LimitFlag(), keys.LimitFlag(), keys.BudgetFlag()
	fs.Var(rpm, "rpm", "")
	fs.Var(tpm, "tpm", "")
	fs.Var(budget, "budget", "")
	var help strings.Builder
	fs.SetOutput(&help)
	fs.PrintDefaults()
	if err := fs.Parse([]string{"--rpm", "default", "--budget", "7.25"}); err != nil {
		t.Fatal(err)
	}
	if !rpm.Change.Set || rpm.Change.Value != nil {
		t.Errorf("--rpm default gave %+v, want a clear", rpm.Change)
	}
	if tpm.Change.Set {
		t.Errorf("--tpm not given but set: %+v", tpm.Change)
	}
	if !budget.Change.Set || *budget.Change.Value != 7_250_000_000 {
		t.Errorf("--budget 7.25 gave %+v", budget.Change)
	}
	if err := fs.Parse([]string{"--budget", "x"}); err == nil || !strings.Contains(err.Error(), "or none") {
		t.Errorf("--budget x: %v", err)
	}
}
