package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot"
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
	if done, err := parseFlags(fs, args, stdout); done || err != nil {
		return err
	}
	if err := applyEnv(fs, getenv); err != nil {
		return err
	}
	for _, f := range []struct{ name, value string }{{"github-url", cfg.GitHubURL}, {"github-api-url", cfg.GitHubAPIURL}} {
		if err := validateGitHubURL(f.name, f.value); err != nil {
			return err
		}
	}
	if strings.TrimSpace(cfg.ClientID) == "" {
		return fmt.Errorf("%w: --client-id (%s) must not be empty", errUsage, envName("client-id"))
	}
	path := savedTokenPath(getenv)
	if path == "" {
		return errors.New("cannot tell where to save the token: set XDG_CONFIG_HOME or HOME")
	}

	hc, closeIdle := newGitHubClient()
	defer closeIdle()
	flow := &copilot.DeviceFlow{HTTPClient: hc, GitHubURL: cfg.GitHubURL, ClientID: cfg.ClientID, Clock: clock}

	dc, err := flow.Start(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return errLoginCancelled
		}
		return fmt.Errorf("login failed: %w", err)
	}
	fmt.Fprintf(stdout, "To sign in, open %s in a browser on any device and enter the code:\n\n    %s\n\n",
		printable(dc.VerificationURI), printable(dc.UserCode))
	fmt.Fprintf(stdout, "The code expires in %s.\n", dc.ExpiresIn.Round(time.Second))

	// A dot per poll: plain text, so it reads the same in a terminal, over
	// SSH and in a log file.
	fmt.Fprint(stderr, "Waiting for the code to be entered")
	current := dc.Interval
	token, err := flow.Poll(ctx, dc, func(attempt int, interval time.Duration) {
		if interval != current {
			current = interval
			fmt.Fprintf(stderr, " (GitHub asked to slow down: checking every %s)", interval)
		}
		fmt.Fprint(stderr, ".")
	})
	fmt.Fprintln(stderr)
	switch {
	case ctx.Err() != nil:
		return errLoginCancelled
	case errors.Is(err, copilot.ErrDeviceExpired):
		return errors.New("login failed: the code expired before it was entered; run `copilot-proxy login` again")
	case errors.Is(err, copilot.ErrAccessDenied):
		return errors.New("login failed: authorization was denied in the browser; run `copilot-proxy login` again to retry")
	case err != nil:
		return fmt.Errorf("login failed: %w", err)
	}
	if token == "" || strings.ContainsAny(token, " \t\r\n") {
		return errors.New("login failed: GitHub returned a malformed token; nothing was saved")
	}

	// Check the token the way serve will use it before keeping it.
	auth := copilot.NewAuth(hc, cfg.GitHubAPIURL, token, *cfg.Editor)
	ct, exErr := auth.Exchange(ctx)
	if ctx.Err() != nil {
		return errLoginCancelled
	}
	var ee *copilot.ExchangeError
	if errors.As(exErr, &ee) && ee.Hard() {
		if ee.Kind == copilot.KindBadToken {
			return fmt.Errorf("signed in, but the Copilot token exchange at %s rejected the new token (%d); "+
				"check that --github-api-url belongs to the same GitHub as --github-url; nothing was saved", cfg.GitHubAPIURL, ee.Status)
		}
		return fmt.Errorf("signed in, but this GitHub account cannot use Copilot: %v; nothing was saved", ee)
	}

	if err := saveGitHubToken(path, token); err != nil {
		return err
	}

	if exErr != nil {
		// GitHub down or slow: the token is likely fine, keep it rather than
		// make the user enter a code again.
		fmt.Fprintf(stderr, "warning: could not check the token with a Copilot token exchange: %v; run `copilot-proxy status` later\n", exErr)
	} else {
		plan := "sku " + orUnknown(ct.SKU)
		if u, err := auth.User(ctx); err == nil && u.Login != "" {
			fmt.Fprintf(stdout, "Signed in to GitHub as %s.\n", printable(u.Login))
			if u.Plan != "" {
				plan = u.Plan + " (" + plan + ")"
			}
		} else {
			fmt.Fprintln(stdout, "Signed in to GitHub.")
		}
		fmt.Fprintf(stdout, "Copilot works for this account; plan: %s.\n", printable(plan))
	}
	fmt.Fprintf(stdout, "Saved the GitHub token to %s (readable only by you).\n", path)

	// Tell the user when serve would still pick another token first.
	if _, src, _, err := findGitHubToken(getenv, getenv(envName("github-token-file"))); err == nil && (src.Kind != "file" || src.Name != path) {
		fmt.Fprintf(stdout, "Note: serve takes the token from %s first; unset it to use the saved one.\n", src)
	} else {
		fmt.Fprintln(stdout, "Next: copilot-proxy serve")
	}
	return nil
}

// errLoginCancelled is returned when the user interrupts login (Ctrl-C).
var errLoginCancelled = errors.New("login cancelled; nothing was saved")

// newGitHubClient returns the HTTP client of login and status, and a func
// releasing its connections. None of their calls streams, so a whole-request
// timeout is fine here.
func newGitHubClient() (*http.Client, func()) {
	tr := copilot.NewTransport(copilot.TransportConfig{ResponseHeaderTimeout: 30 * time.Second})
	return &http.Client{Transport: tr, Timeout: time.Minute}, tr.CloseIdleConnections
}

// validateGitHubURL checks a base URL flag.
func validateGitHubURL(flagName, u string) error {
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
		return fmt.Errorf("%w: invalid --%s (%s): want an absolute http(s) URL", errUsage, flagName, envName(flagName))
	}
	return nil
}

// saveGitHubToken writes the token to path so that no other user can read
// it at any moment and a crash never leaves a half-written file: the folder
// is 0700, the file is written to a 0600 temporary file next to it, then
// renamed over the old one.
func saveGitHubToken(path, token string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create %s: %s", dir, ioReason(err))
	}
	// MkdirAll leaves an existing folder's mode alone (and the umask may
	// have widened a new one): this folder is ours, tighten it.
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("cannot restrict %s to mode 0700: %s", dir, ioReason(err))
	}
	f, err := os.CreateTemp(dir, ".github-token-*")
	if err != nil {
		return fmt.Errorf("cannot write to %s: %s", dir, ioReason(err))
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if !renamed {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("cannot restrict %s to mode 0600: %s", tmp, ioReason(err))
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		return fmt.Errorf("cannot write %s: %s", tmp, ioReason(err))
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("cannot write %s: %s", tmp, ioReason(err))
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cannot write %s: %s", tmp, ioReason(err))
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("cannot save the token to %s: %s", path, ioReason(err))
	}
	renamed = true
	return nil
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

// ioReason is the cause of a file-system error without the operation and
// path, which the caller's message already names.
func ioReason(err error) string {
	if u := errors.Unwrap(err); u != nil {
		return u.Error()
	}
	return err.Error()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
