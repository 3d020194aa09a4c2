package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

// usage is the top-level help text.
const usage = `copilot-proxy — use a GitHub Copilot subscription through the OpenAI API

Usage:
  copilot-proxy [serve] [flags]   run the gateway (the default command)
  copilot-proxy demo              try it without a Copilot seat: fake answers, no token, no network
  copilot-proxy login             get a GitHub token with GitHub's device flow and save it
  copilot-proxy logout            remove the token login saved
  copilot-proxy status [--json]   check the token, the Copilot plan and the quota
  copilot-proxy keys ...          issue, list, update (limits, budgets), revoke and rotate client keys
  copilot-proxy usage             requests, tokens and AI credits by key, model and day
  copilot-proxy healthcheck [URL] exit 0 when the gateway is ready (for container health checks)
  copilot-proxy config print      show the effective settings (flags > env > --config file > defaults)
  copilot-proxy completion SHELL   print a bash, zsh or fish completion script
  copilot-proxy version           print the version
  copilot-proxy help [COMMAND]    show this help, or a command's manual

Run "copilot-proxy help serve" for the gateway's settings.
`

// errUsage marks an error caused by bad command-line input.
var errUsage = errors.New("usage error")

// run is the whole program behind main: it dispatches the subcommand. It
// never calls os.Exit and takes its environment as arguments so tests can
// drive it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && isHelpFlag(args[0]) {
		cmd = "help" // top-level help; "serve --help" lists serve's flags
	} else if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return runServe(ctx, args, getenv, stdout, stderr)
	case "demo":
		return runDemo(ctx, args, stdout, stderr)
	case "keys":
		return runKeys(ctx, args, getenv, stdout, stderr)
	case "usage":
		return runUsage(ctx, args, getenv, stdout)
	case "version":
		return runVersion(args, stdout)
	case "healthcheck":
		return runHealthcheck(ctx, args, stdout)
	case "login":
		return runLogin(ctx, args, getenv, stdout, stderr)
	case "logout":
		return runLogout(ctx, args, getenv, stdout, stderr)
	case "status":
		return runStatus(ctx, args, getenv, stdout, stderr)
	case "config":
		return runConfig(ctx, args, getenv, stdout, stderr)
	case "completion":
		return runCompletion(args, getenv, stdout)
	case "help":
		return runHelp(args, getenv, stdout)
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// isHelpFlag reports whether arg asks for help as a first argument.
func isHelpFlag(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help"
}

// parseFlags parses args into fs, printing help to stdout on -h/--help.
// It reports done=true when help was shown and the command should stop.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) (done bool, err error) {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return true, nil
		}
		return false, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return false, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return false, nil
}
