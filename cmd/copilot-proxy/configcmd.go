package main

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// configUsage is the help of the config command.
const configUsage = `Usage: copilot-proxy config print [--config FILE] [serve flags]

Prints the configuration serve would run with, as a config file: every
setting with its value and, as a comment, where the value comes from (flag,
env, file or default; settings at their default are commented out).
Precedence: flags > environment > config file > defaults. Secrets are masked:
a URL's passwords (xxxxx), any token (****). The output loads back with
--config (a masked password must be filled in again).
`

// runConfig is the config command; its only subcommand is print.
func runConfig(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, configUsage)
		return fmt.Errorf("%w: config needs a command: print", errUsage)
	}
	switch args[0] {
	case "print":
		return runConfigPrint(args[1:], getenv, stdout)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, configUsage)
		return nil
	default:
		fmt.Fprint(stderr, configUsage)
		return fmt.Errorf("%w: unknown config command %q", errUsage, args[0])
	}
}

// runConfigPrint reads serve's settings from every layer, validates them
// as serve does and prints the result.
func runConfigPrint(args []string, getenv func(string) string, stdout io.Writer) error {
	var cfg serveConfig
	fs := serveFlags(&cfg, getenv)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), configUsage+"\nFlags (as serve's):\n")
		fs.PrintDefaults()
	}
	if done, err := parseFlags(fs, args, stdout); done || err != nil {
		return err
	}
	sources, err := applySettings(fs, getenv)
	if err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	out, err := writeConfig(fs, sources)
	if err != nil {
		return err
	}
	header := "# copilot-proxy serve configuration (copilot-proxy config print)\n" +
		"# Precedence: flags > environment > config file > defaults; each value says where it came from\n" +
		"# (defaults are commented out). Secrets are masked: URL passwords as xxxxx, tokens as ****.\n"
	if file := fs.Lookup("config").Value.String(); file != "" {
		header += "# Config file: " + strings.ReplaceAll(file, "\n", " ") + "\n"
	}
	_, err = io.WriteString(stdout, header+string(out))
	return err
}

// values lists the from=to pairs, sorted (config print writes them as a
// list).
func (m *modelAliases) values() []string {
	s := m.String()
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}
