package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
)

// budgetKeyJSON is a key as create, update and list print it with --json,
// budget and spend included. Credits stay json.Numbers: exact decimals.
type budgetKeyJSON struct {
	keyJSON
	Budget        *json.Number `json:"budget_credits"`
	BudgetPeriod  string       `json:"budget_period"`
	Credits       json.Number  `json:"credits"`
	CreditsNano   int64        `json:"credits_nano"`
	PeriodCredits json.Number  `json:"period_credits"`
}

// settings sums up a key's limits, models and budget for comparing.
func (k budgetKeyJSON) settings() string {
	lim := func(v *int) string {
		if v == nil {
			return "default"
		}
		return fmt.Sprint(*v)
	}
	budget := "none"
	if k.Budget != nil {
		budget = k.Budget.String() + "/" + k.BudgetPeriod
	}
	return fmt.Sprintf("rpm=%s tpm=%s conc=%s models=%s budget=%s",
		lim(k.RPM), lim(k.TPM), lim(k.Concurrency), strings.Join(k.Models, ","), budget)
}

func decodeKey(t *testing.T, out string) budgetKeyJSON {
	t.Helper()
	var k budgetKeyJSON
	if err := json.Unmarshal([]byte(out), &k); err != nil {
		t.Fatalf("printed %q: %v", out, err)
	}
	return k
}

// listedKey finds the key named name in `keys list --json`.
func listedKey(t *testing.T, db, name string) budgetKeyJSON {
	t.Helper()
	var list []budgetKeyJSON
	if err := json.Unmarshal([]byte(mustCLI(t, db, "keys", "list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	for _, k := range list {
		if k.Name == name {
			return k
		}
	}
	t.Fatalf("key %q not listed", name)
	return budgetKeyJSON{}
}

// recordUsage counts requests in the store at db, as a gateway would.
func recordUsage(t *testing.T, db string, recs ...keys.UsageRecord) {
	t.Helper()
	st, err := keys.Open(context.Background(), db, keys.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		st.Record(r)
	}
	if err := st.Close(); err != nil { // Close writes the pending usage
		t.Fatal(err)
	}
}

func TestKeysCreateBudget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		args      []string
		want      string // settings()
		wantHuman string
	}{
		{"no budget", nil, "budget=none", "all models\n"},
		{"default period is month", []string{"--budget", "50"}, "budget=50/month", "budget 50 credits/month"},
		{"decimal weekly", []string{"--budget", "12.5", "--budget-period", "week"}, "budget=12.5/week", "budget 12.5 credits/week"},
		{"zero daily", []string{"--budget-period", "day", "--budget", "0"}, "budget=0/day", "budget 0 credits/day"},
		{"nano precision", []string{"--budget", "0.000000001"}, "budget=0.000000001/month", "budget 0.000000001 credits/month"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := t.TempDir() + "/k.db"
			k := decodeKey(t, mustCLI(t, db, append([]string{"keys", "create", "--json", "--name", "j"}, tt.args...)...))
			if got := k.settings(); !strings.HasSuffix(got, tt.want) {
				t.Errorf("created %s, want %s", got, tt.want)
			}
			if got := listedKey(t, db, "j").settings(); !strings.HasSuffix(got, tt.want) {
				t.Errorf("listed %s, want %s", got, tt.want)
			}
			out := mustCLI(t, db, append([]string{"keys", "create", "--name", "h"}, tt.args...)...)
			if !strings.Contains(out, tt.wantHuman) {
				t.Errorf("create printed %q, want %q", out, tt.wantHuman)
			}
		})
	}
}

func TestKeysCreateBudgetErrors(t *testing.T) {
	t.Parallel()
	db := t.TempDir() + "/k.db"
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--budget", "-1"}, "-budget"},
		{[]string{"--budget", "lots"}, "number of credits"},
		{[]string{"--budget", "0.0000000001"}, "9 decimals"},
		{[]string{"--budget", "1", "--budget-period", "year"}, "day, week or month"},
		{[]string{"--budget", "1", "--budget-period", ""}, "day, week or month"},
		{[]string{"--budget-period", "week"}, "--budget-period needs --budget"},
		{[]string{"--budget", "none", "--budget-period", "week"}, "--budget-period needs --budget"},
	} {
		out, err := cli(t, db, append([]string{"keys", "create", "--name", "x"}, tt.args...)...)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err %v (out %q), want a usage error mentioning %q", tt.args, err, out, tt.want)
		}
	}
	if out := mustCLI(t, db, "keys", "list"); !strings.Contains(out, "No keys yet") {
		t.Errorf("a refused create made a key: %q", out)
	}
}

func TestKeysUpdate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		create  []string
		update  []string
		want    string // settings() after the update
		expires string // "never", an RFC 3339 time, or a duration from now
	}{
		{"rpm", []string{"--rpm", "5"}, []string{"--rpm", "60"}, "rpm=60 tpm=default conc=default models= budget=none", "never"},
		{"rpm unlimited", nil, []string{"--rpm", "0"}, "rpm=0 tpm=default conc=default models= budget=none", "never"},
		{"rpm default", []string{"--rpm", "5", "--tpm", "100"}, []string{"--rpm", "default"}, "rpm=default tpm=100 conc=default models= budget=none", "never"},
		{"tpm", nil, []string{"--tpm", "20000"}, "rpm=default tpm=20000 conc=default models= budget=none", "never"},
		{"tpm default", []string{"--tpm", "100"}, []string{"--tpm", "default"}, "rpm=default tpm=default conc=default models= budget=none", "never"},
		{"concurrency", nil, []string{"--concurrency", "3"}, "rpm=default tpm=default conc=3 models= budget=none", "never"},
		{"concurrency default", []string{"--concurrency", "3"}, []string{"--concurrency", "DEFAULT"}, "rpm=default tpm=default conc=default models= budget=none", "never"},
		{"models", nil, []string{"--models", "gpt-4o, o3"}, "rpm=default tpm=default conc=default models=gpt-4o,o3 budget=none", "never"},
		{"models all", []string{"--models", "gpt-4o"}, []string{"--models", "all"}, "rpm=default tpm=default conc=default models= budget=none", "never"},
		{"budget", nil, []string{"--budget", "50"}, "rpm=default tpm=default conc=default models= budget=50/month", "never"},
		{"budget keeps its period", []string{"--budget", "10", "--budget-period", "week"}, []string{"--budget", "20.75"}, "rpm=default tpm=default conc=default models= budget=20.75/week", "never"},
		{"budget none", []string{"--budget", "10", "--budget-period", "day"}, []string{"--budget", "none"}, "rpm=default tpm=default conc=default models= budget=none", "never"},
		{"budget period", []string{"--budget", "10"}, []string{"--budget-period", "day"}, "rpm=default tpm=default conc=default models= budget=10/day", "never"},
		{"budget and period", nil, []string{"--budget", "1", "--budget-period", "week"}, "rpm=default tpm=default conc=default models= budget=1/week", "never"},
		{"expires in", nil, []string{"--expires", "30d"}, "rpm=default tpm=default conc=default models= budget=none", "720h"},
		{"expires on", nil, []string{"--expires", "2099-01-31"}, "rpm=default tpm=default conc=default models= budget=none", "2099-01-31T00:00:00Z"},
		{"expires never", []string{"--expires", "2099-01-31"}, []string{"--expires", "never"}, "rpm=default tpm=default conc=default models= budget=none", "never"},
		{"only what is given changes", []string{"--rpm", "5", "--tpm", "100", "--models", "a", "--budget", "3", "--expires", "2099-01-31"},
			[]string{"--tpm", "default", "--budget", "4"}, "rpm=5 tpm=default conc=default models=a budget=4/month", "2099-01-31T00:00:00Z"},
		{"everything at once", []string{"--rpm", "5", "--models", "a", "--budget", "3", "--expires", "2099-01-31"},
			[]string{"--rpm", "default", "--tpm", "7", "--concurrency", "0", "--models", "all", "--budget", "none", "--expires", "never"},
			"rpm=default tpm=7 conc=0 models= budget=none", "never"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := t.TempDir() + "/k.db"
			created := decodeKey(t, mustCLI(t, db, append([]string{"keys", "create", "--json", "--name", "u"}, tt.create...)...))
			start := time.Now()
			// By ID here; TestKeysUpdateHuman updates by name.
			updated := decodeKey(t, mustCLI(t, db, append([]string{"keys", "update", created.ID, "--json"}, tt.update...)...))
			for _, k := range []budgetKeyJSON{updated, listedKey(t, db, "u")} {
				if got := k.settings(); got != tt.want {
					t.Errorf("settings %s, want %s", got, tt.want)
				}
				checkExpiry(t, k.ExpiresAt, tt.expires, start)
				if k.ID != created.ID || k.Hint != created.Hint || k.Key != "" {
					t.Errorf("update changed the key's identity or printed a secret: %+v", k)
				}
			}
		})
	}
}

// checkExpiry compares expires_at with want: "never", an exact RFC 3339
// time or a duration after start.
func checkExpiry(t *testing.T, got *string, want string, start time.Time) {
	t.Helper()
	if want == "never" || got == nil {
		if (want == "never") != (got == nil) {
			t.Errorf("expires_at %v, want %s", got, want)
		}
		return
	}
	if d, err := time.ParseDuration(want); err == nil {
		at, err := time.Parse(time.RFC3339, *got)
		if err != nil || at.Before(start.Add(d).Add(-time.Second)) || at.After(time.Now().Add(d).Add(time.Second)) {
			t.Errorf("expires_at %s, want about %s from now", *got, want)
		}
		return
	}
	if *got != want {
		t.Errorf("expires_at %s, want %s", *got, want)
	}
}

func TestKeysUpdateHuman(t *testing.T) {
	t.Parallel()
	db := t.TempDir() + "/k.db"
	mustCLI(t, db, "keys", "create", "--name", "hana")
	out := mustCLI(t, db, "keys", "update", "hana", "--rpm", "7", "--budget", "2.5", "--budget-period", "day")
	for _, want := range []string{`Updated key "hana"`, "within a second", "Limits: 7 requests/min;", "budget 2.5 credits/day"} {
		if !strings.Contains(out, want) {
			t.Errorf("update printed %q, want %q", out, want)
		}
	}
}

func TestKeysUpdateErrors(t *testing.T) {
	t.Parallel()
	db := t.TempDir() + "/k.db"
	mustCLI(t, db, "keys", "create", "--name", "keep", "--rpm", "5", "--models", "gpt-4o")
	mustCLI(t, db, "keys", "create", "--name", "gone")
	mustCLI(t, db, "keys", "revoke", "gone")
	before := listedKey(t, db, "keep")
	for _, tt := range []struct {
		args    []string
		wantErr error
		want    string
	}{
		{[]string{"keep"}, errUsage, "needs a setting to change"},
		{[]string{"keep", "--json"}, errUsage, "needs a setting to change"},
		{[]string{"keep", "--db", db}, errUsage, "needs a setting to change"},
		{[]string{"--rpm", "5"}, errUsage, "ID or NAME"},
		{nil, errUsage, "ID or NAME"},
		{[]string{"keep", "extra", "--rpm", "5"}, errUsage, "unexpected argument"},
		{[]string{"keep", "--rpm", "-1"}, errUsage, "-rpm"},
		{[]string{"keep", "--rpm", "fast"}, errUsage, "or default"},
		{[]string{"keep", "--tpm", "1.5"}, errUsage, "-tpm"},
		{[]string{"keep", "--concurrency", "none"}, errUsage, "-concurrency"},
		{[]string{"keep", "--models", " , "}, errUsage, "or all"},
		{[]string{"keep", "--budget", "-5"}, errUsage, "or none"},
		{[]string{"keep", "--budget", "default"}, errUsage, "-budget"},
		{[]string{"keep", "--budget-period", "year"}, errUsage, "day, week or month"},
		{[]string{"keep", "--expires", "soonish"}, errUsage, "-expires"},
		{[]string{"keep", "--expires", "2020-01-01"}, errUsage, "not in the future"},
		{[]string{"keep", "--rpm"}, errUsage, "needs an argument"},
		{[]string{"keep", "--budget-period", "day"}, keys.ErrInvalid, "budget period needs a budget"},
		{[]string{"keep", "--rpm", "2000000000"}, keys.ErrInvalid, "rpm"},
		{[]string{"gone", "--rpm", "5"}, keys.ErrInvalid, "revoked"},
		{[]string{"nobody", "--rpm", "5"}, keys.ErrNotFound, "nobody"},
	} {
		out, err := cli(t, db, append([]string{"keys", "update"}, tt.args...)...)
		if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err %v (out %q), want %v mentioning %q", tt.args, err, out, tt.wantErr, tt.want)
		}
	}
	if after := listedKey(t, db, "keep"); after.settings() != before.settings() {
		t.Errorf("failed updates changed the key: %s, was %s", after.settings(), before.settings())
	}
}

func TestKeysListCredits(t *testing.T) {
	t.Parallel()
	db := t.TempDir() + "/k.db"
	monthly := decodeKey(t, mustCLI(t, db, "keys", "create", "--json", "--name", "monthly", "--budget", "50"))
	daily := decodeKey(t, mustCLI(t, db, "keys", "create", "--json", "--name", "daily", "--budget", "1.5", "--budget-period", "day"))
	free := decodeKey(t, mustCLI(t, db, "keys", "create", "--json", "--name", "free"))
	now := time.Now().UTC()
	lastYear := now.AddDate(-1, 0, 0) // outside every current period
	recordUsage(t, db,
		keys.UsageRecord{KeyID: monthly.ID, Model: "gpt-4o", Credits: 12_500_000},
		keys.UsageRecord{KeyID: monthly.ID, Model: "gpt-4o", Credits: 12_500_000},
		keys.UsageRecord{KeyID: monthly.ID, Model: "gpt-4o", Credits: 7 * 1e9, At: lastYear},
		keys.UsageRecord{KeyID: daily.ID, Model: "o3", Credits: 250_000_000},
		keys.UsageRecord{KeyID: daily.ID, Model: "o3", Credits: 1e9, At: lastYear},
		keys.UsageRecord{KeyID: free.ID, Model: "o3", Credits: 3e9},
	)
	tests := []struct {
		name                   string
		spent, budget, allTime string
		allTimeNano            int64
	}{
		{"monthly", "0.025", "50/month", "7.025", 7_025_000_000},
		{"daily", "0.25", "1.5/day", "1.25", 1_250_000_000},
		{"free", "3", "-", "3", 3_000_000_000},
	}
	out := mustCLI(t, db, "keys", "list")
	if !strings.Contains(out, "SPENT") || !strings.Contains(out, "BUDGET") {
		t.Fatalf("keys list has no SPENT and BUDGET columns:\n%s", out)
	}
	for _, tt := range tests {
		k := listedKey(t, db, tt.name)
		if k.PeriodCredits.String() != tt.spent || k.Credits.String() != tt.allTime || k.CreditsNano != tt.allTimeNano {
			t.Errorf("%s: --json period_credits %s credits %s (%d nano), want %s, %s (%d)",
				tt.name, k.PeriodCredits, k.Credits, k.CreditsNano, tt.spent, tt.allTime, tt.allTimeNano)
		}
		f := listRow(t, out, tt.name)
		if f[7] != tt.spent || f[8] != tt.budget {
			t.Errorf("%s: SPENT %q BUDGET %q, want %q %q in:\n%s", tt.name, f[7], f[8], tt.spent, tt.budget, out)
		}
	}
}

// listRow is the row of `keys list` for the key named name, split into
// fields (every column up to LAST USED is one word).
func listRow(t *testing.T, out, name string) []string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 9 && f[1] == name {
			return f
		}
	}
	t.Fatalf("no row for %q in:\n%s", name, out)
	return nil
}

func TestUsageCredits(t *testing.T) {
	t.Parallel()
	db := t.TempDir() + "/k.db"
	k := decodeKey(t, mustCLI(t, db, "keys", "create", "--json", "--name", "spender"))
	recordUsage(t, db,
		keys.UsageRecord{KeyID: k.ID, Model: "gpt-4o", PromptTokens: 10, CompletionTokens: 5, Credits: 12_500_000},
		keys.UsageRecord{KeyID: k.ID, Model: "o3", Credits: 3e9},
		keys.UsageRecord{KeyID: k.ID, Model: "o3", Error: true}, // an error costs nothing
	)
	var rows []struct {
		Model       string      `json:"model"`
		Credits     json.Number `json:"credits"`
		CreditsNano int64       `json:"credits_nano"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, db, "usage", "--json")), &rows); err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		credits string
		nano    int64
	}{"gpt-4o": {"0.0125", 12_500_000}, "o3": {"3", 3e9}}
	if len(rows) != len(want) {
		t.Fatalf("usage --json rows %+v, want one per model", rows)
	}
	for _, r := range rows {
		if w := want[r.Model]; r.Credits.String() != w.credits || r.CreditsNano != w.nano {
			t.Errorf("%s: credits %s (%d nano), want %s (%d)", r.Model, r.Credits, r.CreditsNano, w.credits, w.nano)
		}
	}
	out := mustCLI(t, db, "usage")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if head := strings.Fields(lines[0]); len(head) < 10 || head[7] != "TOK" || head[8] != "CREDITS" {
		t.Fatalf("usage header %q, want a CREDITS column after the tokens", lines[0])
	}
	// total, requests, prompt, completion, credits, errors.
	if total := strings.Fields(lines[len(lines)-1]); strings.Join(total, " ") != "total 3 10 5 3.0125 1" {
		t.Errorf("usage total line %q, want 3 requests, 10+5 tokens, 3.0125 credits, 1 error", lines[len(lines)-1])
	}
	if !strings.Contains(out, "0.0125") {
		t.Errorf("usage rows lack the credits:\n%s", out)
	}
}

func TestKeysAndUsageHelp(t *testing.T) {
	t.Parallel()
	db := t.TempDir() + "/k.db"
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"keys", "--help"}, []string{"update ID|NAME", "--budget CREDITS|none", "--expires 30d|2027-01-31|never", "1 credit = $0.01"}},
		{[]string{"keys", "update", "--help"}, []string{"keys update ID|NAME", "within a second", "-budget-period", "or default"}},
		{[]string{"keys", "create", "--help"}, []string{"-budget credits", "-budget-period period", "default month"}},
		{[]string{"keys", "list", "--help"}, []string{"SPENT", "BUDGET"}},
		{[]string{"usage", "--help"}, []string{"Requests, tokens, credits and errors", "CREDITS"}},
	} {
		out := mustCLI(t, db, tt.args...)
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%q printed %q, want %q", tt.args, out, w)
			}
		}
	}
	_, err := cli(t, db, "keys")
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "create, list, update, revoke or rotate") {
		t.Errorf("keys without a command: %v", err)
	}
}
