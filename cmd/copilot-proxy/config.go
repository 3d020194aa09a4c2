package main

import (
	"flag"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// envPrefix is the prefix of every setting's environment variable: flag
// --some-name is COPILOT_PROXY_SOME_NAME.
const envPrefix = "COPILOT_PROXY_"

// defaultGitHubAPIURL is --github-api-url's default in every command.
const defaultGitHubAPIURL = "https://api.github.com"

// envName returns the environment variable of a flag.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// applyEnv fills every flag that was not given on the command line from its
// environment variable, so a flag always wins over the environment. With
// names, only those flags are filled (the keys commands share --db with
// serve, but nothing else). An invalid value stops startup with an error
// naming the variable.
func applyEnv(fs *flag.FlagSet, getenv func(string) string, names ...string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || given[f.Name] || len(names) > 0 && !slices.Contains(names, f.Name) {
			return
		}
		name := envName(f.Name)
		v, ok := lookupEnv(getenv, name)
		if !ok {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("%w: invalid value %q for %s (--%s): %v", errUsage, v, name, f.Name, e)
		}
	})
	return err
}

// lookupEnv treats an empty variable as unset, as most deployment tools
// cannot unset a variable but can blank it.
func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// isHTTPURL reports an absolute http(s) URL, as every base URL flag wants.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}
