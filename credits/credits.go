// Package credits prices requests in GitHub Copilot's AI credits (1 credit
// = $0.01): from the cost Copilot reports, else from the token usage and
// the model's prices in its /models entry, else from the older scheme's
// premium-request multiplier. Amounts are exact integers of nano-credits
// (1e9 per credit), so sums never drift the way float sums do.
package credits

import (
	"math/big"
	"math/bits"
	"strings"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// Nano is one credit in nano-credits.
const Nano = 1_000_000_000

// PremiumRequest is what one premium request of the older scheme costs in
// nano-credits: $0.04, the published price of an extra premium request, is
// 4 credits. A model's multiplier scales it.
const PremiumRequest = 4 * Nano

// Source says where a request's cost came from.
type Source string

// The sources of a cost, best first.
const (
	Reported   Source = "reported"   // Copilot reported it (body, stream or header)
	Priced     Source = "priced"     // tokens × the model's prices
	Multiplier Source = "multiplier" // premium-request multiplier × PremiumRequest
	Unknown    Source = "unknown"    // nothing to price it with: counted as 0
)

// Sources lists every Source, for metrics that pre-declare their labels.
var Sources = []Source{Reported, Priced, Multiplier, Unknown}

// perMillion is the token count prices are given for.
const perMillion = 1_000_000

// Prices are a model's prices: nano-credits per million input, cached
// input and output tokens, and nano-credits per request by multiplier.
type Prices struct {
	Input, CachedInput, Output int64
	PerRequest                 int64
	// HasTokens and HasMultiplier say which of the two the entry gave.
	HasTokens, HasMultiplier bool
}

// PricesOf reads a model's prices from its /models entry. Token prices are
// used only in the one known unit, ai_credits_per_million_tokens; a price
// that is not a non-negative decimal makes them unknown. A missing
// cached_input price is the input price (no discount assumed).
func PricesOf(m api.Model) Prices {
	var p Prices
	b := m.Billing
	if b == nil {
		return p
	}
	if b.Multiplier != "" {
		if n, ok := Decimal(string(b.Multiplier), PremiumRequest); ok {
			p.PerRequest, p.HasMultiplier = n, true
		}
	}
	pr := b.Pricing
	if pr == nil || pr.Unit != "ai_credits_per_million_tokens" {
		return p
	}
	in, ok1 := Decimal(string(pr.Input), Nano)
	out, ok2 := Decimal(string(pr.Output), Nano)
	cached, ok3 := in, true
	if pr.CachedInput != "" {
		cached, ok3 = Decimal(string(pr.CachedInput), Nano)
	}
	if ok1 && ok2 && ok3 {
		p.Input, p.CachedInput, p.Output, p.HasTokens = in, cached, out, true
	}
	return p
}

// Cost is what a request that used u costs at these prices, and how it was
// known: reported wins when Copilot reported a cost, then token prices,
// then the multiplier (one request); else 0, unknown.
func (p Prices) Cost(u api.Usage, reported int64, hasReported bool) (int64, Source) {
	switch {
	case hasReported:
		return max(reported, 0), Reported
	case p.HasTokens:
		cached := min(max(u.CachedTokens, 0), max(u.PromptTokens, 0))
		return p.tokens(max(u.PromptTokens, 0)-cached, cached, max(u.CompletionTokens, 0)), Priced
	case p.HasMultiplier:
		return p.PerRequest, Multiplier
	}
	return 0, Unknown
}

// Estimate is what a request is expected to cost before it is sent, for
// budget reservations: prompt and output tokens at the full input and
// output prices, else the multiplier, else 0 (nothing to estimate with).
func (p Prices) Estimate(prompt, output int64) int64 {
	switch {
	case p.HasTokens:
		return p.tokens(max(prompt, 0), 0, max(output, 0))
	case p.HasMultiplier:
		return p.PerRequest
	}
	return 0
}

// tokens prices token counts, rounding the total to the nearest nano; it
// saturates at the largest int64 instead of overflowing.
func (p Prices) tokens(input, cached, output int64) int64 {
	var hi, lo uint64
	for _, t := range [...][2]int64{{input, p.Input}, {cached, p.CachedInput}, {output, p.Output}} {
		h, l := bits.Mul64(uint64(t[0]), uint64(t[1]))
		var c uint64
		lo, c = bits.Add64(lo, l, 0)
		hi += h + c
	}
	lo, c := bits.Add64(lo, perMillion/2, 0) // round half up
	hi += c
	if hi >= perMillion {
		return maxInt64
	}
	q, _ := bits.Div64(hi, lo, perMillion)
	if q > maxInt64 {
		return maxInt64
	}
	return int64(q)
}

const maxInt64 = 1<<63 - 1

// Decimal reads a non-negative decimal number (as JSON writes it: "12.5",
// "1e-3") times scale, exactly, rounded to the nearest integer. ok is false
// for anything else or a result beyond int64.
func Decimal(s string, scale int64) (int64, bool) {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasPrefix(s, "-") || strings.ContainsAny(s, "/") {
		return 0, false
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, false
	}
	r.Mul(r, new(big.Rat).SetInt64(scale))
	// Round half up: floor(r + 1/2).
	r.Add(r, big.NewRat(1, 2))
	n := new(big.Int).Quo(r.Num(), r.Denom())
	if !n.IsInt64() {
		return 0, false
	}
	return n.Int64(), true
}
