package main

import (
	"flag"
	"fmt"
	"slices"
	"strconv"
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

// byteSize is a flag.Value for sizes such as 10MiB, 512KiB, 1MB or 1048576.
type byteSize int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", 1000}, {"mb", 1000 * 1000}, {"gb", 1000 * 1000 * 1000},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30},
	{"b", 1},
}

func (b *byteSize) String() string { return formatBytes(int64(*b)) }

func (b *byteSize) Set(s string) error {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("not a size (use e.g. 10MiB, 512KiB or a number of bytes)")
	}
	if n > (1<<62)/mult {
		return fmt.Errorf("size too large")
	}
	*b = byteSize(n * mult)
	return nil
}

// formatBytes renders n in the largest binary unit that divides it.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "GiB"
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "KiB"
	}
	return strconv.FormatInt(n, 10) + "B"
}
