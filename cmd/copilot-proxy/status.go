package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot"
	"github.com/copilot-proxy/copilot-proxy/githubtoken"
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
	fs.StringVar(&cfg.GitHubTokenFile, "github-token-file", "", "`file` holding the GitHub OAuth token")
	configFlag(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: copilot-proxy status [--json] [flags]

Checks the GitHub token serve would use, without starting a server: where it
comes from (never the token itself), whether the Copilot token exchange works,
the account's plan, the Copilot API host, the Copilot token's expiry and the
quota. Exits non-zero, with one line saying what to do, when something fails.
Every flag --some-name can also be set with COPILOT_PROXY_SOME_NAME; with
--config, the settings it shares with serve (github-token-file,
github-api-url, copilot-api-url, the editor identity) come from serve's
config file, so it checks what serve would use.

Flags:
`)
		fs.PrintDefaults()
	}
	return fs
}

// statusReport is the JSON shape of `status --json`: where the token comes
// from, then what copilot.CheckAccount found. Optional parts are left out
// when unknown, e.g. after a failure.
type statusReport struct {
	OK          bool   `json:"ok"`
	TokenSource string `json:"token_source,omitempty"` // env, file or editor
	TokenEnv    string `json:"token_env,omitempty"`    // the variable, when env
	TokenPath   string `json:"token_path,omitempty"`   // the file, when file or editor
	copilot.Account
	Warnings []githubtoken.Warning `json:"warnings,omitempty"`
	Error    string                `json:"error,omitempty"`
}

// runStatus is the status command.
func runStatus(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg statusConfig
	fs := statusFlags(&cfg)
	if done, err := parseCommand(fs, args, getenv, stdout, "github-api-url", "copilot-api-url"); done || err != nil {
		return err
	}
	rep, err := checkStatus(ctx, cfg, getenv)
	rep.OK = err == nil
	if err != nil {
		rep.Error = err.Error()
	}
	if cfg.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return cmp.Or(enc.Encode(rep), err)
	}
	for _, w := range rep.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	printStatusTable(stdout, rep)
	return err
}

// checkStatus fills the report step by step; the error, when not nil, is
// the one-line explanation of the first step that failed.
func checkStatus(ctx context.Context, cfg statusConfig, getenv func(string) string) (*statusReport, error) {
	ghToken, warns, err := findGitHubToken(getenv, cfg.GitHubTokenFile)
	rep := &statusReport{Warnings: warns}
	if err != nil {
		return rep, err
	}
	src := ghToken.Source
	rep.TokenSource = string(src.Kind)
	if src.Kind == githubtoken.KindEnv {
		rep.TokenEnv = src.Name
	} else {
		rep.TokenPath = src.Name
	}

	hc := newGitHubClient()
	defer hc.CloseIdleConnections()
	auth := copilot.NewAuth(hc, cfg.GitHubAPIURL, ghToken.Value, *cfg.Editor)
	acct, err := copilot.CheckAccount(ctx, auth, copilot.EndpointFor(cfg.GitHubAPIURL, cfg.CopilotAPIURL))
	rep.Account = *acct
	switch {
	case err == nil:
		return rep, nil
	case ctx.Err() != nil && errors.As(err, new(*copilot.ExchangeError)):
		return rep, errors.New("status interrupted")
	}
	hints := copilot.ErrorHints{TokenSource: src.String(), GitHubAPIURL: cfg.GitHubAPIURL,
		GitHubAPIFlag: "--github-api-url (" + envName("github-api-url") + ")"}
	return rep, hints.Explain(err)
}

// printStatusTable prints the report as an aligned two-column table.
func printStatusTable(w io.Writer, r *statusReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, printable(v)) }
	if src := map[string]string{"env": "environment variable " + r.TokenEnv, "file": "file " + r.TokenPath,
		"editor": "editor plugin file " + r.TokenPath}[r.TokenSource]; src != "" {
		row("GitHub token", src)
	}
	if r.Login != "" {
		row("account", r.Login)
	}
	if r.Plan != "" || r.SKU != "" {
		plan := cmp.Or(r.Plan, "unknown")
		if r.SKU != "" {
			plan += " (sku " + r.SKU + ")"
		}
		row("plan", plan)
	}
	if r.TokenExpiresAt != nil {
		row("Copilot token", fmt.Sprintf("exchange works; expires %s (in %s)", r.TokenExpiresAt.Format(time.RFC3339), time.Until(*r.TokenExpiresAt).Round(time.Second)))
	}
	if r.APIURL != "" {
		from := map[string]string{copilot.APIFromConfigured: "--copilot-api-url", copilot.APIFromToken: "endpoints.api of the token", copilot.APIFromDefault: "default"}[r.APIURLFrom]
		row("Copilot API", r.APIURL+" ("+from+")")
	}
	if q := r.Quota; q != nil {
		for _, s := range []struct {
			name string
			snap *copilot.QuotaSnapshot
		}{{"premium requests", q.PremiumInteractions}, {"chat", q.Chat}, {"completions", q.Completions}} {
			if s.snap != nil {
				row(s.name, s.snap.Describe())
			}
		}
		if q.ResetDate != "" {
			row("quota resets", q.ResetDate)
		}
	}
	_ = tw.Flush()
}
