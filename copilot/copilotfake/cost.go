package copilotfake

import (
	"encoding/json"
	"math"
	"strconv"
)

// HeaderCost is the response header SetCostHeader sets: the gateway reads a
// request's cost from it when no body or stream event reports one.
const HeaderCost = "X-Copilot-Total-Nano-Aiu"

// price is a model's billing.pricing, in AI credits per million tokens.
type price struct{ in, cached, out float64 }

// prices reads billing.pricing of each model of a /models body.
func prices(body string) map[string]price {
	var list struct {
		Data []struct {
			ID      string `json:"id"`
			Billing struct {
				Pricing *struct {
					Input       float64  `json:"input"`
					CachedInput *float64 `json:"cached_input"`
					Output      float64  `json:"output"`
				} `json:"pricing"`
			} `json:"billing"`
		} `json:"data"`
	}
	if json.Unmarshal([]byte(body), &list) != nil {
		return nil
	}
	out := map[string]price{}
	for _, m := range list.Data {
		if p := m.Billing.Pricing; p != nil {
			c := p.Input
			if p.CachedInput != nil {
				c = *p.CachedInput
			}
			out[m.ID] = price{in: p.Input, cached: c, out: p.Output}
		}
	}
	return out
}

// coster reports what a request costs, as copilot_usage.total_nano_aiu:
// nil when the fake does not report costs or the model has no prices.
type coster func(prompt, cached, out int) int64

// coster returns the cost function for model, or nil.
func (st routeState) coster(model string) coster {
	p, ok := st.catalog.prices[model]
	if !st.reportCost || !ok {
		return nil
	}
	return func(prompt, cached, out int) int64 {
		credits := (float64(prompt-cached)*p.in + float64(cached)*p.cached + float64(out)*p.out) / 1e6
		n := int64(math.Round(credits * 1e9))
		st.reported.Add(n)
		return n
	}
}

// copilotUsage is the copilot_usage object for a cost, nil without one.
func (c coster) copilotUsage(prompt, cached, out int) any {
	if c == nil {
		return nil
	}
	return pairs("total_nano_aiu", c(prompt, cached, out))
}

// field is `,"copilot_usage":{...}` for a hand-built JSON object; "" without a cost.
func (c coster) field(prompt, cached, out int) string {
	if c == nil {
		return ""
	}
	return `,"copilot_usage":{"total_nano_aiu":` + strconv.FormatInt(c(prompt, cached, out), 10) + `}`
}

// SetReportCost turns the cost reports on or off (on by default): chat
// bodies and their usage chunk, /responses response objects with usage and
// /v1/messages bodies and message_delta events carry
// copilot_usage.total_nano_aiu, computed from the model's billing.pricing
// (models without prices report none). Off, the gateway must price the
// tokens itself.
func (s *Server) SetReportCost(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.reportCost = on
}

// ReportedCost is the total of the costs this fake reported (in bodies,
// stream events and the cost header), in nano-credits: what a gateway's
// accounting must add up to. Each generated answer counts once, when it
// is built (a stream the client left early still counts in full).
func (s *Server) ReportedCost() int64 { return s.reportedNano.Load() }

// SetCostHeader makes every non-stream inference answer carry HeaderCost
// with nano (0: no header, the default).
func (s *Server) SetCostHeader(nano int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.costHeader = nano
}
