package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"

	"github.com/copilot-proxy/copilot-proxy/version"
)

func runVersion(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: copilot-proxy version\n\nPrints the version and the Go toolchain it was built with.")
	}
	if done, err := parseFlags(fs, args, stdout); done || err != nil {
		return err
	}
	fmt.Fprintf(stdout, "copilot-proxy %s (%s, %s/%s)\n", version.String(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
