package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
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
	path := savedTokenPath(getenv)
	if path == "" {
		return errors.New("cannot tell where the saved token is: set XDG_CONFIG_HOME or HOME")
	}

	st, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(stdout, "No saved GitHub token at %s; nothing to remove.\n", path)
	case err != nil:
		return fmt.Errorf("cannot check the saved GitHub token %s: %s", path, ioReason(err))
	case st.IsDir():
		return fmt.Errorf("%s is a directory, not a saved token; remove it by hand if it is not needed", path)
	default:
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("cannot remove the saved GitHub token %s: %s", path, ioReason(err))
		}
		fmt.Fprintf(stdout, "Removed the saved GitHub token %s.\n", path)
	}

	// serve would still start with another source: say which, never the token.
	if _, src, _, err := findGitHubToken(getenv, getenv(envName("github-token-file"))); err == nil {
		fmt.Fprintf(stdout, "Note: serve will still find a GitHub token in %s.\n", src)
	}
	return nil
}
