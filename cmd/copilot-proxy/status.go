package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/copilot"
)

// statusConfig is every setting of the status command.
type statusConfig struct {
	JSON            bool
	GitHubAPIURL    string
	CopilotAPIURL   string
	GitHubTokenFile string
	Editor          *copilot.Editor
}

func statusFlags(cfg *statusConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.BoolVar(&cfg.JSON, "json", false, "print one JSON object instead of a table")
	cfg.Editor = editorFlags(fs)
	fs.StringVar(&cfg.GitHubAPIURL, "github-api-url", defaultGitHubAPIURL, "GitHub API base URL (GitHub Enterprise: https://HOST/api/v3 or https://api.DOMAIN)")
	fs.StringVar(&cfg.CopilotAPIURL, "copilot-api-url", "", "Copilot API base URL (default: endpoints.api of the Copilot token, else https://api.githubcopilot.com)")
	fs.StringVar(&cfg.GitHubTokenFile, "github-token-file", "", "file holding the GitHub OAuth token")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: copilot-proxy status [--json] [flags]

Checks the GitHub token serve would use, without starting a server: where it
comes from (never the token itself), whether the Copilot token exchange works,
the account's plan, the Copilot API host, the Copilot token's expiry and the
quota. Exits non-zero, with one line saying what to do, when something fails.
Every flag --some-name can also be set with COPILOT_PROXY_SOME_NAME.

Flags:
`)
		fs.PrintDefaults()
	}
	return fs
}

// statusReport is the JSON shape of `status --json`. Optional parts are
// left out when unknown, e.g. after a failure.
type statusReport struct {
	OK             bool         `json:"ok"`
	TokenSource    string       `json:"token_source,omitempty"` // env, file or editor
	TokenEnv       string       `json:"token_env,omitempty"`    // the variable, when env
	TokenPath      string       `json:"token_path,omitempty"`   // the file, when file or editor
	Login          string       `json:"login,omitempty"`
	Plan           string       `json:"plan,omitempty"`
	SKU            string       `json:"sku,omitempty"`
	APIURL         string       `json:"api_url,omitempty"`
	APIURLFrom     string       `json:"api_url_from,omitempty"` // configured, token or default
	TokenExpiresAt *time.Time   `json:"token_expires_at,omitempty"`
	Quota          *statusQuota `json:"quota,omitempty"`
	Warnings       []string     `json:"warnings,omitempty"`
	Error          string       `json:"error,omitempty"`
}

// statusQuota is the account's quota snapshots with their reset date.
type statusQuota struct {
	copilot.Quotas
	ResetDate string `json:"reset_date,omitempty"`
}

// fixedToken hands the one token status obtained to copilot.Client, whose
// BaseURL applies serve's rules for choosing the Copilot host.
type fixedToken struct{ t *copilot.Token }

func (f fixedToken) Token(context.Context) (*copilot.Token, error) { return f.t, nil }
func (f fixedToken) Invalidate(string)                             {}

// runStatus is the status command.
func runStatus(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg statusConfig
	fs := statusFlags(&cfg)
	if done, err := parseFlags(fs, args, stdout); done || err != nil {
		return err
	}
	if err := applyEnv(fs, getenv); err != nil {
		return err
	}
	if err := validateGitHubURL("github-api-url", cfg.GitHubAPIURL); err != nil {
		return err
	}
	if cfg.CopilotAPIURL != "" {
		if err := validateGitHubURL("copilot-api-url", cfg.CopilotAPIURL); err != nil {
			return err
		}
	}

	rep, err := checkStatus(ctx, cfg, getenv)
	if err != nil {
		rep.Error = err.Error()
	}
	rep.OK = err == nil
	if cfg.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if e := enc.Encode(rep); e != nil {
			return e
		}
	} else {
		for _, w := range rep.Warnings {
			fmt.Fprintln(stderr, "warning:", w)
		}
		printStatusTable(stdout, rep)
	}
	return err
}

// checkStatus fills the report step by step; the error, when not nil, is
// the one-line explanation of the first step that failed.
func checkStatus(ctx context.Context, cfg statusConfig, getenv func(string) string) (*statusReport, error) {
	rep := &statusReport{}
	ghToken, src, warns, err := findGitHubToken(getenv, cfg.GitHubTokenFile)
	for _, w := range warns {
		rep.Warnings = append(rep.Warnings, string(w))
	}
	if err != nil {
		return rep, err
	}
	rep.TokenSource = src.Kind
	if src.Kind == "env" {
		rep.TokenEnv = src.Name
	} else {
		rep.TokenPath = src.Name
	}

	hc, closeIdle := newGitHubClient()
	defer closeIdle()
	auth := copilot.NewAuth(hc, cfg.GitHubAPIURL, ghToken, *cfg.Editor)
	tok, err := auth.Exchange(ctx)
	if err != nil {
		return rep, explainGitHubError(ctx, err, src, cfg.GitHubAPIURL, "the Copilot token exchange")
	}
	rep.SKU = tok.SKU
	exp := tok.ExpiresAt.UTC()
	rep.TokenExpiresAt = &exp

	var problem error
	client := copilot.NewClient(copilot.ClientConfig{HTTPClient: hc, Tokens: fixedToken{tok}, BaseURL: cfg.CopilotAPIURL, AllowedHosts: copilotHostsFor(cfg.GitHubAPIURL), Editor: *cfg.Editor, Logger: zerolog.Nop()})
	switch api, err := client.BaseURL(tok); {
	case err != nil:
		problem = err // names the host and says how to fix it
	case cfg.CopilotAPIURL != "":
		rep.APIURL, rep.APIURLFrom = api, "configured"
	case tok.APIURL != "":
		rep.APIURL, rep.APIURLFrom = api, "token"
	default:
		rep.APIURL, rep.APIURLFrom = api, "default"
	}

	u, err := auth.User(ctx)
	if err != nil {
		if problem == nil {
			problem = explainGitHubError(ctx, err, src, cfg.GitHubAPIURL, "the Copilot quota request")
		}
		return rep, problem
	}
	rep.Login, rep.Plan = u.Login, u.Plan
	if rep.SKU == "" {
		rep.SKU = u.SKU
	}
	rep.Quota = &statusQuota{Quotas: u.Quotas, ResetDate: u.ResetDate}
	return rep, problem
}

// explainGitHubError turns a failed GitHub call into one line saying what
// to do. The texts it builds on never contain a token.
func explainGitHubError(ctx context.Context, err error, src tokenSource, githubAPIURL, what string) error {
	if ctx.Err() != nil {
		return errors.New("status interrupted")
	}
	var ee *copilot.ExchangeError
	if !errors.As(err, &ee) {
		return err
	}
	msg := ""
	if ee.Message != "" {
		msg = ": " + ee.Message
	}
	switch {
	case ee.Kind == copilot.KindBadToken:
		return fmt.Errorf("GitHub rejected the GitHub token from %s (401%s): run `copilot-proxy login` to sign in again", src, msg)
	case ee.Kind == copilot.KindNoAccess && ee.Status == http.StatusForbidden:
		return fmt.Errorf("no Copilot access for this GitHub account (403)%s; check that the account has a Copilot seat (https://github.com/settings/copilot), or, if GitHub flagged the account, follow its message", msg)
	case ee.Kind == copilot.KindNoAccess:
		return fmt.Errorf("%v; run `copilot-proxy login` to get one", ee)
	case ee.Status == 0:
		reason := "no answer"
		if ee.Err != nil {
			reason = ee.Err.Error()
			var ue *url.Error
			if errors.As(ee.Err, &ue) {
				reason = ue.Err.Error() // the URL is named below already
			}
		}
		return fmt.Errorf("cannot reach GitHub at %s (%s): check the network, or --github-api-url (%s)", githubAPIURL, reason, envName("github-api-url"))
	default:
		return fmt.Errorf("%s failed: %v; try again later", what, err)
	}
}

// printStatusTable prints the report as an aligned two-column table.
func printStatusTable(w io.Writer, r *statusReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, printable(v)) }
	switch r.TokenSource {
	case "env":
		row("GitHub token", "environment variable "+r.TokenEnv)
	case "file":
		row("GitHub token", "file "+r.TokenPath)
	case "editor":
		row("GitHub token", "editor plugin file "+r.TokenPath)
	}
	if r.Login != "" {
		row("account", r.Login)
	}
	if r.Plan != "" || r.SKU != "" {
		plan := orUnknown(r.Plan)
		if r.SKU != "" {
			plan += " (sku " + r.SKU + ")"
		}
		row("plan", plan)
	}
	if r.TokenExpiresAt != nil {
		row("Copilot token", fmt.Sprintf("exchange works; expires %s (in %s)", r.TokenExpiresAt.Format(time.RFC3339), time.Until(*r.TokenExpiresAt).Round(time.Second)))
	}
	if r.APIURL != "" {
		from := map[string]string{"configured": "--copilot-api-url", "token": "endpoints.api of the token", "default": "default"}[r.APIURLFrom]
		row("Copilot API", r.APIURL+" ("+from+")")
	}
	if q := r.Quota; q != nil {
		if q.PremiumInteractions != nil {
			row("premium requests", describeQuota(q.PremiumInteractions))
		}
		if q.Chat != nil {
			row("chat", describeQuota(q.Chat))
		}
		if q.Completions != nil {
			row("completions", describeQuota(q.Completions))
		}
		if q.ResetDate != "" {
			row("quota resets", q.ResetDate)
		}
	}
	_ = tw.Flush()
}

// describeQuota renders a snapshot as "120 of 300 left (40%)".
func describeQuota(q *copilot.QuotaSnapshot) string {
	if q.Unlimited {
		return "unlimited"
	}
	num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	s := fmt.Sprintf("%s of %s left (%s%%)", num(q.Remaining), num(q.Entitlement), strconv.FormatFloat(q.PercentRemaining, 'f', 1, 64))
	var extra []string
	if q.OverageCount > 0 {
		extra = append(extra, num(q.OverageCount)+" over the entitlement")
	}
	if q.OveragePermitted {
		extra = append(extra, "paid overage allowed")
	}
	if len(extra) > 0 {
		s += ", " + strings.Join(extra, ", ")
	}
	return s
}
