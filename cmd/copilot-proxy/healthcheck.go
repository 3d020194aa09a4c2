package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

// healthcheckFlags declares the healthcheck command's flags.
func healthcheckFlags() (*flag.FlagSet, *time.Duration) {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: copilot-proxy healthcheck [--timeout 3s] [URL]\n\nExits 0 when GET URL (default http://127.0.0.1:8080/readyz) answers 2xx; for container health checks.")
		fs.PrintDefaults()
	}
	return fs, timeout
}

// runHealthcheck is a container HEALTHCHECK without a shell or curl: GET
// the URL (default the local /readyz) and succeed only on a 2xx answer.
func runHealthcheck(ctx context.Context, args []string, stdout io.Writer) error {
	url, args := splitTarget(args)
	fs, timeout := healthcheckFlags()
	if done, err := parseFlags(fs, args, stdout); done || err != nil {
		return err
	}
	if url == "" {
		url = "http://127.0.0.1:8080/readyz"
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("unhealthy: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("unhealthy: %s answered %s", url, resp.Status)
	}
	fmt.Fprintln(stdout, "healthy:", resp.Status)
	return nil
}
