package keys_test

import (
	"flag"
	"reflect"
	"testing"
	"time"

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
