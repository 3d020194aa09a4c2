package console

import (
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/copilot-proxy/copilot-proxy/credits"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
)

// rangeOpt is a usage window of the usage page.
type rangeOpt struct {
	Name, Label string
	since       string // as GET /admin/usage?since=
}

// Since is the window as GET /admin/usage?since= takes it (for the script).
func (o rangeOpt) Since() string { return o.since }

var ranges = []rangeOpt{
	{"day", "Today", "0d"},
	{"week", "Last 7 days", "6d"},
	{"month", "Last 30 days", "29d"},
}

// pickRange is the named range, the week by default.
func pickRange(name string) rangeOpt {
	for _, o := range ranges {
		if o.Name == name {
			return o
		}
	}
	return ranges[1]
}

// pickBy is what usage is grouped by: "key" (default) or "model".
func pickBy(by string) string {
	if by == "model" {
		return "model"
	}
	return "key"
}

// totals are summed usage counts under a name (a key, a model or a day).
type totals struct {
	Name                                 string
	Requests, Prompt, Completion, Errors int64
	CreditsNano                          int64
}

// Tokens is prompt plus completion tokens.
func (t totals) Tokens() int64 { return t.Prompt + t.Completion }

// Credits is the spend in credits.
func (t totals) Credits() credits.Amount { return credits.Amount(t.CreditsNano) }

func (t *totals) add(r keys.UsageRow) {
	t.Requests += r.Requests
	t.Prompt += r.PromptTokens
	t.Completion += r.CompletionTokens
	t.Errors += r.Errors
	t.CreditsNano += r.CreditsNano
}

// group sums rows by name(row), in name order.
func group(rows []keys.UsageRow, name func(keys.UsageRow) string) []totals {
	m := map[string]*totals{}
	for _, r := range rows {
		n := name(r)
		if m[n] == nil {
			m[n] = &totals{Name: n}
		}
		m[n].add(r)
	}
	out := make([]totals, 0, len(m))
	for _, n := range sortedNames(m) {
		out = append(out, *m[n])
	}
	return out
}

// summary is usage summed per group, per day and in all.
type summary struct {
	Groups []totals
	Days   []totals
	Total  totals
}

// summarize sums rows by name(row), by day and in all: the usage page's and
// the key holder's tables.
func summarize(rows []keys.UsageRow, name func(keys.UsageRow) string) summary {
	s := summary{Groups: group(rows, name), Days: group(rows, func(r keys.UsageRow) string { return r.Day })}
	for _, r := range rows {
		s.Total.add(r)
	}
	return s
}

// totalsTable is the argument of the "totals" template (layout.html).
type totalsTable struct {
	ID, Caption, First, Empty string
	Rows                      []totals
}

// usageView is the usage page: the window, the grouping, totals per group
// and per day, and the grand total.
type usageView struct {
	summary
	Range  rangeOpt
	By     string
	Ranges []rangeOpt
}

// GroupHead is the head of the groups table's first column.
func (v usageView) GroupHead() string { return cond(v.By == "model", "Model", "Key") }

func newUsageView(rows []keys.UsageRow, rg rangeOpt, by string) usageView {
	return usageView{Range: rg, By: by, Ranges: ranges, summary: summarize(rows, func(r keys.UsageRow) string {
		if by == "model" {
			return r.Model
		}
		return r.KeyName
	})}
}

// condition is a readiness condition in GET /admin/account.
type condition struct {
	Name      string     `json:"name"`
	OK        bool       `json:"ok"`
	Reason    string     `json:"reason"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// quotaSnap is one quota of the account or of the response headers.
type quotaSnap struct {
	Entitlement      float64   `json:"entitlement"`
	Remaining        *float64  `json:"remaining"`
	PercentRemaining float64   `json:"percent_remaining"`
	Unlimited        bool      `json:"unlimited"`
	ResetAt          time.Time `json:"reset_at"`
}

// accountView is GET /admin/account, decoded for the account page.
type accountView struct {
	Ready      bool        `json:"ready"`
	Conditions []condition `json:"conditions"`
	Quota      struct {
		Headers *struct {
			ObservedAt time.Time            `json:"observed_at"`
			Snapshots  map[string]quotaSnap `json:"snapshots"`
		} `json:"headers"`
		Account *struct {
			FetchedAt time.Time             `json:"fetched_at"`
			Login     string                `json:"login"`
			Plan      string                `json:"plan"`
			SKU       string                `json:"sku"`
			ResetDate string                `json:"reset_date"`
			Quota     map[string]*quotaSnap `json:"quota"`
		} `json:"account"`
		AccountError string `json:"account_error"`
	} `json:"quota"`
	Quotas []quotaRow `json:"-"`
}

// quotaRow is a line of the account page's quota table.
type quotaRow struct {
	Name, Left, Reset, Source string
	Percent                   float64
}

// Token is the Copilot token condition, nil when not reported.
func (a *accountView) Token() *condition {
	for i := range a.Conditions {
		if a.Conditions[i].Name == "copilot_token" {
			return &a.Conditions[i]
		}
	}
	return nil
}

// sortQuotas fills Quotas: the account's quotas, then the response
// headers' latest snapshots.
func (a *accountView) sortQuotas() {
	if acc := a.Quota.Account; acc != nil {
		for _, name := range sortedNames(acc.Quota) {
			q := acc.Quota[name]
			if q == nil {
				continue
			}
			left := "unlimited"
			if !q.Unlimited {
				rem := 0.0
				if q.Remaining != nil {
					rem = *q.Remaining
				}
				left = num(rem) + " of " + num(q.Entitlement)
			}
			a.Quotas = append(a.Quotas, quotaRow{Name: name, Left: left, Percent: q.PercentRemaining, Reset: acc.ResetDate, Source: "account"})
		}
	}
	if h := a.Quota.Headers; h != nil {
		for _, name := range sortedNames(h.Snapshots) {
			q := h.Snapshots[name]
			left, reset := num(q.PercentRemaining)+"% left", ""
			if q.Unlimited {
				left = "unlimited"
			}
			if !q.ResetAt.IsZero() {
				reset = q.ResetAt.UTC().Format("2006-01-02")
			}
			a.Quotas = append(a.Quotas, quotaRow{Name: name, Left: left, Percent: q.PercentRemaining, Reset: reset, Source: "responses"})
		}
	}
}

// meView is the key holder's page: usage per model (Groups) and in all.
type meView struct {
	meInfo
	summary
	Snippets []snippet
}

// snippet is a titled piece of configuration to copy.
type snippet struct{ ID, Title, Lang, Text string }

func newMeView(me meInfo) meView {
	v := meView{meInfo: me, summary: summarize(me.Usage, func(r keys.UsageRow) string { return r.Model })}
	model := "gpt-4o"
	if len(me.Key.Models) > 0 {
		model = me.Key.Models[0]
	}
	v.Snippets = snippets(me.BaseURL, model)
	return v
}

// snippets configure curl, the OpenAI SDKs, Codex and Claude Code for
// base; the key itself is never in them (it is not stored anywhere to show).
func snippets(base, model string) []snippet {
	q := strconv.Quote
	return []snippet{
		{"curl", "curl", "sh", "export COPILOT_PROXY_KEY=cpk_…   # your key\ncurl " + base + "/v1/chat/completions \\\n" +
			"  -H \"Authorization: Bearer $COPILOT_PROXY_KEY\" \\\n  -H \"Content-Type: application/json\" \\\n" +
			"  -d '{\"model\":" + q(model) + ",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}'"},
		{"python", "OpenAI SDK (Python)", "python", "import os\nfrom openai import OpenAI\n\nclient = OpenAI(base_url=" + q(base+"/v1") +
			", api_key=os.environ[\"COPILOT_PROXY_KEY\"])\nresp = client.chat.completions.create(model=" + q(model) +
			", messages=[{\"role\": \"user\", \"content\": \"Hello\"}])\nprint(resp.choices[0].message.content)"},
		{"node", "OpenAI SDK (Node)", "js", "import OpenAI from \"openai\";\n\nconst client = new OpenAI({ baseURL: " + q(base+"/v1") +
			", apiKey: process.env.COPILOT_PROXY_KEY });\nconst resp = await client.chat.completions.create({ model: " + q(model) +
			", messages: [{ role: \"user\", content: \"Hello\" }] });\nconsole.log(resp.choices[0].message.content);"},
		{"codex", "Codex (~/.codex/config.toml)", "toml", "model = \"gpt-5-codex\"\nmodel_provider = \"copilot-proxy\"\n\n" +
			"[model_providers.copilot-proxy]\nname = \"copilot-proxy\"\nbase_url = " + q(base+"/v1") +
			"\nenv_key = \"COPILOT_PROXY_KEY\"\nwire_api = \"responses\""},
		{"claude", "Claude Code", "sh", "export ANTHROPIC_BASE_URL=" + base + "\nexport ANTHROPIC_AUTH_TOKEN=$COPILOT_PROXY_KEY\nclaude"},
	}
}

// viewFuncs are the templates' helpers.
func viewFuncs() template.FuncMap {
	return template.FuncMap{
		"when":   when,
		"limit":  limit,
		"models": func(ms []string) string { return cond(len(ms) == 0, "all", strings.Join(ms, ", ")) },
		"budget": budget,
		"pct":    spentPercent,
		"int":    func(n int64) string { return group3(n) },
		"num":    num,
		// An Amount has no String method: printed as is, it is nano-credits.
		"credits": func(a credits.Amount) string { return credits.Format(int64(a)) },
		"jsonDay": func(t time.Time) string { return t.UTC().Format("2006-01-02") },
		"table": func(id, caption, first, empty string, rows []totals) totalsTable {
			return totalsTable{ID: id, Caption: caption, First: first, Empty: empty, Rows: rows}
		},
	}
}

// when formats a time for a table, "—" when unset.
func when(t any) string {
	switch v := t.(type) {
	case *time.Time:
		if v == nil {
			return "—"
		}
		return v.UTC().Format("2006-01-02 15:04 UTC")
	case time.Time:
		if v.IsZero() {
			return "—"
		}
		return v.UTC().Format("2006-01-02 15:04 UTC")
	}
	return "—"
}

// limit shows a limit: the server default, unlimited, or the number.
func limit(n *int) string {
	switch {
	case n == nil:
		return "default"
	case *n == 0:
		return "unlimited"
	}
	return group3(int64(*n))
}

// budget shows a key's budget: "12.5 / week" or "none".
func budget(k keys.KeyWithUsage) string {
	if k.Budget == nil {
		return "none"
	}
	return credits.Format(int64(*k.Budget)) + " / " + string(k.BudgetPeriod)
}

// spentPercent is the share of the budget spent this period (0-100), 0
// without a budget.
func spentPercent(k keys.KeyWithUsage) int {
	if k.Budget == nil || *k.Budget <= 0 {
		if k.Budget != nil && k.PeriodCredits > 0 {
			return 100
		}
		return 0
	}
	p := int(int64(k.PeriodCredits) * 100 / int64(*k.Budget))
	return min(p, 100)
}

// num formats a float without needless decimals.
func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// group3 writes n with thin separators every three digits.
func group3(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return cond(neg, "-", "") + b.String()
}

func cond(c bool, a, b string) string {
	if c {
		return a
	}
	return b
}
