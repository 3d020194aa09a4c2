// Command copilot-proxy-release builds the release archives behind
// `make release`: static copilot-proxy binaries (CGO off, -trimpath, the
// version stamped from git describe) for each target, each packed with the
// README and the systemd unit into dist/copilot-proxy_VERSION_OS_ARCH.tar.gz
// (.zip for Windows), and a SHA256SUMS file in sha256sum's format.
//
// Usage (from the module root):
//
//	go run ./cmd/copilot-proxy-release [-version V] [-out dist] [-targets linux/amd64,...]
//
// Archives are reproducible: entries are sorted, owned by root and dated
// from SOURCE_DATE_EPOCH, else the last commit's time.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
)

// defaultTargets are the platforms a release ships for.
const defaultTargets = "linux/amd64,linux/arm64,darwin/amd64,darwin/arm64,windows/amd64"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "copilot-proxy-release:", err)
		os.Exit(1)
	}
}

// run parses the flags and builds the release.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("copilot-proxy-release", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.Version, "version", "", "version to stamp and name the archives with (default: git describe --tags --always --dirty)")
	fs.StringVar(&o.Out, "out", "dist", "output directory")
	targets := fs.String("targets", defaultTargets, "comma-separated GOOS/GOARCH list (env RELEASE_TARGETS)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if v := getenv("RELEASE_TARGETS"); v != "" && !flagGiven(fs, "targets") {
		*targets = v
	}
	ts, err := parseTargets(*targets)
	if err != nil {
		return err
	}
	o.Targets, o.Dir, o.Log = ts, ".", stderr
	o.SourceDateEpoch = getenv("SOURCE_DATE_EPOCH")
	r, err := release(ctx, o)
	if err != nil {
		return err
	}
	for _, a := range r.Archives {
		fmt.Fprintln(stdout, a)
	}
	fmt.Fprintln(stdout, r.Sums)
	return nil
}

// flagGiven reports whether the named flag was on the command line.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// target is one GOOS/GOARCH pair.
type target struct{ OS, Arch string }

func (t target) String() string { return t.OS + "/" + t.Arch }

// parseTargets reads "linux/amd64,darwin/arm64".
func parseTargets(s string) ([]target, error) {
	var out []target
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		goos, goarch, ok := strings.Cut(f, "/")
		if !ok || goos == "" || goarch == "" {
			return nil, fmt.Errorf("invalid target %q: want GOOS/GOARCH, e.g. linux/amd64", f)
		}
		out = append(out, target{goos, goarch})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no targets")
	}
	return out, nil
}
