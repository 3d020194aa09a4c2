package credits_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
	"github.com/copilot-proxy/copilot-proxy/credits"
)

// fakeModels is the fake upstream's model list, as the gateway reads it.
func fakeModels(t *testing.T) map[string]api.Model {
	t.Helper()
	ms, err := api.MapModels([]byte(copilottest.DefaultModelsJSON))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]api.Model{}
	for _, m := range ms {
		out[m.ID] = m
	}
	return out
}

func TestCostSources(t *testing.T) {
	t.Parallel()
	models := fakeModels(t)
	tests := []struct {
		name        string
		model       api.Model
		usage       api.Usage
		reported    int64
		hasReported bool
		want        int64
		source      credits.Source
	}{
		// gpt-5: 125 / 12.5 / 1000 credits per million tokens.
		{"reported wins", models["gpt-5"], api.Usage{PromptTokens: 1000, CompletionTokens: 10}, 7, true, 7, credits.Reported},
		{"reported zero", models["gpt-5"], api.Usage{PromptTokens: 1000}, 0, true, 0, credits.Reported},
		{"priced", models["gpt-5"], api.Usage{PromptTokens: 1000, CompletionTokens: 200}, 0, false,
			1000*125_000 + 200*1_000_000, credits.Priced},
		{"priced with cache", models["gpt-5"], api.Usage{PromptTokens: 1000, CachedTokens: 800, CompletionTokens: 0}, 0, false,
			200*125_000 + 800*12_500, credits.Priced},
		{"cached beyond prompt is clamped", models["gpt-5"], api.Usage{PromptTokens: 10, CachedTokens: 50}, 0, false,
			10 * 12_500, credits.Priced},
		{"priced, no usage", models["claude-opus-4.6"], api.Usage{}, 0, false, 0, credits.Priced},
		// claude-sonnet-4: multiplier 1, no prices.
		{"multiplier", models["claude-sonnet-4"], api.Usage{PromptTokens: 5}, 0, false, 4 * credits.Nano, credits.Multiplier},
		{"multiplier zero", models["gpt-4o"], api.Usage{PromptTokens: 5}, 0, false, 0, credits.Multiplier},
		{"unknown model", api.Model{ID: "x"}, api.Usage{PromptTokens: 5}, 0, false, 0, credits.Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, src := credits.PricesOf(tt.model).Cost(tt.usage, tt.reported, tt.hasReported)
			if got != tt.want || src != tt.source {
				t.Errorf("Cost = %d %s, want %d %s", got, src, tt.want, tt.source)
			}
		})
	}
}

func TestPricesOf(t *testing.T) {
	t.Parallel()
	models := fakeModels(t)
	p := credits.PricesOf(models["claude-haiku-4.5"])
	want := credits.Prices{Input: 100 * credits.Nano, CachedInput: 10 * credits.Nano, Output: 500 * credits.Nano,
		PerRequest: 1_320_000_000, HasTokens: true, HasMultiplier: true}
	if p != want {
		t.Errorf("PricesOf(haiku) = %+v, want %+v", p, want)
	}
	for _, raw := range []string{
		`{"multiplier":1,"pricing":{"unit":"usd_per_token","input":1,"output":2}}`,
		`{"multiplier":1,"pricing":{"unit":"ai_credits_per_million_tokens","input":-1,"output":2}}`,
		`{"multiplier":1,"pricing":{"unit":"ai_credits_per_million_tokens","input":1}}`,
	} {
		var b api.Billing
		if err := json.Unmarshal([]byte(raw), &b); err != nil {
			t.Fatal(err)
		}
		p := credits.PricesOf(api.Model{Billing: &b})
		if p.HasTokens || !p.HasMultiplier || p.PerRequest != credits.PremiumRequest {
			t.Errorf("%s: %+v, want the multiplier only", raw, p)
		}
	}
}

func TestEstimateAndOverflow(t *testing.T) {
	t.Parallel()
	p := credits.Prices{Input: 3 * credits.Nano, CachedInput: credits.Nano, Output: 15 * credits.Nano, HasTokens: true}
	if got := p.Estimate(1000, 1000); got != 18_000_000 {
		t.Errorf("Estimate = %d, want 18000000", got)
	}
	// Rounds to the nearest nano: 1 token at 1.5 nano per million.
	if got := (credits.Prices{Input: 1_500_000, HasTokens: true}).Estimate(1, 0); got != 2 {
		t.Errorf("rounding: %d, want 2", got)
	}
	huge := credits.Prices{Input: 1 << 62, Output: 1 << 62, HasTokens: true}
	if got := huge.Estimate(1<<62, 1<<62); got != 1<<63-1 {
		t.Errorf("overflow: %d, want saturation", got)
	}
	if got := (credits.Prices{PerRequest: 5, HasMultiplier: true}).Estimate(10, 10); got != 5 {
		t.Errorf("multiplier estimate = %d", got)
	}
	if got := (credits.Prices{}).Estimate(10, 10); got != 0 {
		t.Errorf("unknown estimate = %d", got)
	}
}

func TestFormatParse(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		nano int64
		text string
	}{{0, "0"}, {12_500_000, "0.0125"}, {3 * credits.Nano, "3"}, {1, "0.000000001"}, {-1_500_000_000, "-1.5"}} {
		if got := credits.Format(tt.nano); got != tt.text {
			t.Errorf("Format(%d) = %q, want %q", tt.nano, got, tt.text)
		}
		if tt.nano >= 0 {
			if n, err := credits.Parse(tt.text); err != nil || n != tt.nano {
				t.Errorf("Parse(%q) = %d, %v", tt.text, n, err)
			}
		}
	}
	for _, bad := range []string{"", "-1", "abc", "0.0000000001", "1/2", "1e30"} {
		if _, err := credits.Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	b, _ := json.Marshal(struct{ C credits.Amount }{12_500_000})
	if string(b) != `{"C":0.0125}` {
		t.Errorf("Amount JSON = %s", b)
	}
}

func TestPeriodBounds(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		p          credits.Period
		t, reset   string
		start, end string
	}{
		{credits.Day, "2026-12-05T23:59:59Z", "", "2026-12-05T00:00:00Z", "2026-12-06T00:00:00Z"},
		{credits.Week, "2026-12-05T10:00:00Z", "", "2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z"}, // Saturday
		{credits.Week, "2026-11-30T00:00:00Z", "", "2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z"}, // Monday
		{credits.Week, "2026-12-06T23:00:00Z", "", "2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z"}, // Sunday
		{credits.Month, "2026-12-31T23:59:59Z", "", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{credits.Month, "2026-12-05T10:00:00+05:00", "", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{credits.Month, "2026-12-05T10:00:00Z", "2026-12-18T00:00:00Z", "2026-11-18T00:00:00Z", "2026-12-18T00:00:00Z"},
		{credits.Month, "2026-12-20T10:00:00Z", "2026-12-18T00:00:00Z", "2026-12-18T00:00:00Z", "2027-01-18T00:00:00Z"},
		{credits.Month, "2026-12-05T10:00:00Z", "2027-03-18T00:00:00Z", "2026-11-18T00:00:00Z", "2026-12-18T00:00:00Z"},
	}
	for _, tt := range tests {
		var reset time.Time
		if tt.reset != "" {
			reset = at(tt.reset)
		}
		s, e := tt.p.Bounds(at(tt.t), reset)
		if !s.Equal(at(tt.start)) || !e.Equal(at(tt.end)) {
			t.Errorf("%s at %s (reset %q) = [%s, %s), want [%s, %s)", tt.p, tt.t, tt.reset, s, e, tt.start, tt.end)
		}
	}
	if _, err := credits.ParsePeriod("year"); err == nil {
		t.Error("ParsePeriod(year) accepted")
	}
}
