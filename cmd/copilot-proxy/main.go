// Command copilot-proxy serves the OpenAI API backed by a GitHub Copilot
// subscription. main only wires signals; everything else lives in run.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "copilot-proxy:", err)
		os.Exit(1)
	}
}
