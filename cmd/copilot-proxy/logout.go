package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/copilot-proxy/copilot-proxy/githubtoken"
)

// runLogout is the logout command: it removes the token login saved and
// touches nothing else (other token sources, the token's validity at GitHub).
func runLogout(_ context.Context, args []string, getenv func(string) string, stdout, _ io.Writer) error {
	fset := flag.NewFlagSet("logout", flag.ContinueOnError)
	fset.Usage = func() {
		fmt.Fprint(fset.Output(), `Usage: copilot-proxy logout

Removes the GitHub token "copilot-proxy login" saved in
$XDG_CONFIG_HOME/copilot-proxy/github-token (~/.config/...). Nothing else is
touched: environment variables, other token files and the editor plugins'
files stay, and the token stays valid at GitHub until you revoke it there
(Settings > Applications).
`)
	}
	if done, err := parseFlags(fset, args, stdout); done || err != nil {
		return err
	}
	path := githubtoken.SavedPath(getenv)
	if path == "" {
		return errors.New("cannot tell where the saved token is: set XDG_CONFIG_HOME or HOME")
	}

	removed, err := githubtoken.Remove(path)
	switch {
	case err != nil:
		return err
	case removed:
		fmt.Fprintf(stdout, "Removed the saved GitHub token %s.\n", path)
	default:
		fmt.Fprintf(stdout, "No saved GitHub token at %s; nothing to remove.\n", path)
	}

	// serve would still start with another source: say which, never the token.
	if tok, _, err := findGitHubToken(getenv, getenv(envName("github-token-file"))); err == nil {
		fmt.Fprintf(stdout, "Note: serve will still find a GitHub token in %s.\n", tok.Source)
	}
	return nil
}
