package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot"
	"github.com/copilot-proxy/copilot-proxy/githubtoken"
)

// loginConfig is every setting of the login command.
type loginConfig struct {
	GitHubURL    string
	GitHubAPIURL string
	ClientID     string
	Editor       *copilot.Editor
}

func loginFlags(cfg *loginConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	fs.StringVar(&cfg.GitHubURL, "github-url", copilot.DefaultGitHubURL, "GitHub web URL where the code is entered (GitHub Enterprise: https://HOST)")
	fs.StringVar(&cfg.GitHubAPIURL, "github-api-url", defaultGitHubAPIURL, "GitHub API base URL, used to check the new token (GitHub Enterprise: https://HOST/api/v3 or https://api.DOMAIN)")
	cfg.Editor = editorFlags(fs)
	fs.StringVar(&cfg.ClientID, "client-id", copilot.DefaultClientID, "OAuth app client id (default: the Copilot editor plugins' app, whose tokens Copilot accepts)")
	configFlag(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: copilot-proxy login [flags]

Gets a GitHub OAuth token for Copilot with GitHub's device flow: it prints a
URL and a code, you enter the code on GitHub from any device (no browser is
needed on this machine), and the token is saved to
$XDG_CONFIG_HOME/copilot-proxy/github-token (~/.config/...; mode 0600), where
"copilot-proxy serve" finds it. The token is never printed.
Every flag --some-name can also be set with COPILOT_PROXY_SOME_NAME.

Flags:
`)
		fs.PrintDefaults()
	}
	return fs
}

// runLogin is the login command.
func runLogin(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return loginWith(ctx, args, getenv, stdout, stderr, nil)
}

// loginWith is runLogin with the clock that times the polling (nil: the
// system clock), so tests run the flow without waiting.
func loginWith(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, clock copilot.Clock) error {
	var cfg loginConfig
	fs := loginFlags(&cfg)
	if done, err := parseCommand(fs, args, getenv, stdout, "github-url", "github-api-url"); done || err != nil {
		return err
	}
	if strings.TrimSpace(cfg.ClientID) == "" {
		return fmt.Errorf("%w: --client-id (%s) must not be empty", errUsage, envName("client-id"))
	}
	path := githubtoken.SavedPath(getenv)
	if path == "" {
		return errors.New("cannot tell where to save the token: set XDG_CONFIG_HOME or HOME")
	}

	hc := newGitHubClient()
	defer hc.CloseIdleConnections()
	flow := &copilot.DeviceFlow{HTTPClient: hc, GitHubURL: cfg.GitHubURL, ClientID: cfg.ClientID, Clock: clock}
	token, err := signIn(ctx, flow, stdout, stderr)
	if err != nil {
		return loginError(ctx, err, cfg.GitHubAPIURL)
	}
	// Check the token the way serve will use it before keeping it; after a
	// Ctrl-C meanwhile nothing is kept.
	v, err := copilot.VerifyToken(ctx, copilot.NewAuth(hc, cfg.GitHubAPIURL, token, *cfg.Editor))
	if err != nil || ctx.Err() != nil {
		return loginError(ctx, err, cfg.GitHubAPIURL)
	}
	if err := githubtoken.Save(path, token); err != nil {
		return err
	}
	printVerification(stdout, stderr, v)
	fmt.Fprintf(stdout, "Saved the GitHub token to %s (readable only by you).\n", path)

	// Tell the user when serve would still pick another token first.
	if tok, _, err := findGitHubToken(getenv, getenv(envName("github-token-file"))); err == nil && tok.Source != (githubtoken.Source{Kind: githubtoken.KindFile, Name: path}) {
		fmt.Fprintf(stdout, "Note: serve takes the token from %s first; unset it to use the saved one.\n", tok.Source)
	} else {
		fmt.Fprintln(stdout, "Next: copilot-proxy serve")
	}
	return nil
}

// signIn runs the device flow: it shows the code to enter, prints a dot
// per poll and returns the new GitHub token.
func signIn(ctx context.Context, flow *copilot.DeviceFlow, stdout, stderr io.Writer) (string, error) {
	dc, err := flow.Start(ctx)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(stdout, "To sign in, open %s in a browser on any device and enter the code:\n\n    %s\n\n",
		printable(dc.VerificationURI), printable(dc.UserCode))
	fmt.Fprintf(stdout, "The code expires in %s.\n", dc.ExpiresIn.Round(time.Second))

	// A dot per poll: plain text, so it reads the same in a terminal, over
	// SSH and in a log file.
	fmt.Fprint(stderr, "Waiting for the code to be entered")
	current := dc.Interval
	token, err := flow.Poll(ctx, dc, func(_ int, interval time.Duration) {
		if interval != current {
			current = interval
			fmt.Fprintf(stderr, " (GitHub asked to slow down: checking every %s)", interval)
		}
		fmt.Fprint(stderr, ".")
	})
	fmt.Fprintln(stderr)
	if err == nil && (token == "" || strings.ContainsAny(token, " \t\r\n")) {
		err = errors.New("GitHub returned a malformed token; nothing was saved")
	}
	return token, err
}

// loginError says what to do after login failed with err: in the device
// flow, or in the check of the new token (a hard *copilot.ExchangeError).
func loginError(ctx context.Context, err error, githubAPIURL string) error {
	var ee *copilot.ExchangeError
	switch {
	case ctx.Err() != nil:
		return errLoginCancelled
	case errors.Is(err, copilot.ErrDeviceExpired):
		return errors.New("login failed: the code expired before it was entered; run `copilot-proxy login` again")
	case errors.Is(err, copilot.ErrAccessDenied):
		return errors.New("login failed: authorization was denied in the browser; run `copilot-proxy login` again to retry")
	case !errors.As(err, &ee):
		return fmt.Errorf("login failed: %w", err)
	case ee.Kind == copilot.KindBadToken:
		return fmt.Errorf("signed in, but the Copilot token exchange at %s rejected the new token (%d); "+
			"check that --github-api-url belongs to the same GitHub as --github-url; nothing was saved", githubAPIURL, ee.Status)
	}
	return fmt.Errorf("signed in, but this GitHub account cannot use Copilot: %v; nothing was saved", err)
}

// printVerification says what the check of the saved token found.
func printVerification(stdout, stderr io.Writer, v *copilot.Verification) {
	if v.Unchecked != nil {
		// GitHub down or slow: the token is likely fine, and was kept rather
		// than make the user enter a code again.
		fmt.Fprintf(stderr, "warning: could not check the token with a Copilot token exchange: %v; run `copilot-proxy status` later\n", v.Unchecked)
		return
	}
	plan := "sku " + cmp.Or(v.SKU, "unknown")
	if v.Login == "" {
		fmt.Fprintln(stdout, "Signed in to GitHub.")
	} else {
		fmt.Fprintf(stdout, "Signed in to GitHub as %s.\n", printable(v.Login))
		if v.Plan != "" {
			plan = v.Plan + " (" + plan + ")"
		}
	}
	fmt.Fprintf(stdout, "Copilot works for this account; plan: %s.\n", printable(plan))
}

// errLoginCancelled is returned when the user interrupts login (Ctrl-C).
var errLoginCancelled = errors.New("login cancelled; nothing was saved")

// newGitHubClient returns the HTTP client of login and status. None of their
// calls streams, so a whole-request timeout is fine here.
func newGitHubClient() *http.Client {
	tr := copilot.NewBaseTransport(copilot.BaseTransportConfig{ResponseHeaderTimeout: 30 * time.Second})
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// parseCommand parses args, fills the flags not given from the environment
// and then from the --config file (the settings it shares with serve, such
// as github-api-url and github-token-file), and checks that the named flags hold absolute http(s) URLs; a URL flag
// without a default may be left empty.
func parseCommand(fs *flag.FlagSet, args []string, getenv func(string) string, stdout io.Writer, urlFlags ...string) (done bool, err error) {
	if done, err := parseFlags(fs, args, stdout); done || err != nil {
		return done, err
	}
	if _, err := applySettings(fs, getenv); err != nil {
		return false, err
	}
	for _, name := range urlFlags {
		f := fs.Lookup(name)
		if f.Value.String() == "" && f.DefValue == "" {
			continue
		}
		if !isHTTPURL(f.Value.String()) {
			return false, fmt.Errorf("%w: invalid --%s (%s): want an absolute http(s) URL", errUsage, name, envName(name))
		}
	}
	return false, nil
}

// printable drops control characters from text GitHub sent before it goes
// to a terminal, so an answer cannot move the cursor or recolour the screen.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, s)
}
