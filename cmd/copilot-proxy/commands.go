package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// command describes one command (or keys/config subcommand) for its manual
// page (help COMMAND) and the shell completions. Its flags come from the
// same constructor the command itself parses with, so neither can drift.
type command struct {
	name     string // "serve", "keys create"
	summary  string // one line
	synopsis string
	desc     string
	// flags declares the command's flags on a new FlagSet; nil: none.
	flags func(getenv func(string) string) *flag.FlagSet
	// env: which flags have a COPILOT_PROXY_* variable: "all", "store"
	// (db, database-url, config) or "" (none).
	env      string
	extraEnv []string // other variables the command reads
	files    []string
	examples []string
	args     []string // completions of the positional argument
}

// storeEnv are the settings the key store commands share with serve: the
// only flags they take from the environment and from serve's --config file.
var storeEnv = []string{"db", "database-url", "config"}

// tokenEnv are the token sources serve, status and logout look at.
var tokenEnv = []string{
	"COPILOT_PROXY_GITHUB_TOKEN   the GitHub OAuth token itself (never a flag: it would show in ps)",
	"GH_COPILOT_TOKEN, GITHUB_COPILOT_TOKEN   tokens other Copilot tools set",
	"XDG_CONFIG_HOME   where the saved token and the editor plugins' files are (default ~/.config)",
}

// tokenFiles are the files the GitHub token is looked for in.
var tokenFiles = []string{
	"$XDG_CONFIG_HOME/copilot-proxy/github-token   the token login saves (mode 0600)",
	"$XDG_CONFIG_HOME/github-copilot/hosts.json, apps.json   the editor plugins' sign-in",
}

// commands lists every command and subcommand, in the order of the usage.
func commands() []command {
	return append(append(mainCommands(), keysCommands()...), toolCommands()...)
}

// commandNames are the top-level commands, in order.
func commandNames() []string {
	var names []string
	for _, c := range commands() {
		if !strings.Contains(c.name, " ") {
			names = append(names, c.name)
		}
	}
	return names
}

// findCommand returns the named command ("keys create" or "keys", "create").
func findCommand(words ...string) (command, bool) {
	name := strings.Join(words, " ")
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// subcommands returns the subcommands of a top-level command.
func subcommands(name string) []command {
	var subs []command
	for _, c := range commands() {
		if parent, _, ok := strings.Cut(c.name, " "); ok && parent == name {
			subs = append(subs, c)
		}
	}
	return subs
}

// runHelp prints the overview, or the manual page of a command.
func runHelp(args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 || isHelpFlag(args[0]) {
		fmt.Fprint(stdout, usage)
		return nil
	}
	c, ok := findCommand(args...)
	if !ok {
		return fmt.Errorf("%w: no help for %q: the commands are %s", errUsage, strings.Join(args, " "), strings.Join(commandNames(), ", "))
	}
	writeManual(stdout, c, getenv)
	return nil
}

// writeManual writes a command's manual page: NAME, SYNOPSIS, DESCRIPTION,
// COMMANDS (for keys and config), OPTIONS, ENVIRONMENT, FILES, EXAMPLES.
func writeManual(w io.Writer, c command, getenv func(string) string) {
	title := strings.ToUpper("copilot-proxy-" + strings.ReplaceAll(c.name, " ", "-"))
	fmt.Fprintf(w, "%s(1)\n\nNAME\n       copilot-proxy %s - %s\n\nSYNOPSIS\n       %s\n", title, c.name, c.summary, c.synopsis)
	section(w, "DESCRIPTION", c.desc)
	if subs := subcommands(c.name); len(subs) > 0 {
		fmt.Fprint(w, "\nCOMMANDS\n")
		for _, s := range subs {
			fmt.Fprintf(w, "       %s\n", s.synopsis)
			fmt.Fprint(w, wrap(s.summary+` (see "copilot-proxy help `+s.name+`").`, 14))
		}
	}
	var env []string
	if c.flags != nil {
		fs := c.flags(getenv)
		fmt.Fprint(w, "\nOPTIONS\n")
		fs.VisitAll(func(f *flag.Flag) {
			fmt.Fprint(w, optionText(f, c.env))
			if hasEnv(c.env, f.Name) {
				env = append(env, envName(f.Name)+"   --"+f.Name)
			}
		})
	}
	env = append(env, c.extraEnv...)
	list(w, "ENVIRONMENT", env)
	list(w, "FILES", c.files)
	if len(c.examples) > 0 {
		fmt.Fprint(w, "\nEXAMPLES\n")
		for _, e := range c.examples {
			fmt.Fprintf(w, "       %s\n", e)
		}
	}
	fmt.Fprint(w, "\nSEE ALSO\n       copilot-proxy help, copilot-proxy completion, README.md\n")
}

// optionText is one OPTIONS entry: the flag with its value name, then its
// help, default and environment variable, indented.
func optionText(f *flag.Flag, env string) string {
	valueName, help := flag.UnquoteUsage(f)
	if help = strings.TrimSpace(help); !strings.HasSuffix(help, ".") {
		help += "."
	}
	head := "       --" + f.Name
	if valueName != "" {
		head += " " + valueName
	}
	if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" {
		help += " Default: " + f.DefValue + "."
	}
	if hasEnv(env, f.Name) {
		help += " Environment: " + envName(f.Name) + "."
	}
	return head + "\n" + wrap(help, 14)
}

// hasEnv reports whether a flag of a command with the given env kind has
// an environment variable.
func hasEnv(env, name string) bool {
	return env == "all" || env == "store" && slices.Contains(storeEnv, name)
}

// section writes a titled, wrapped paragraph section (blank lines in text
// separate paragraphs).
func section(w io.Writer, title, text string) {
	if text == "" {
		return
	}
	fmt.Fprintf(w, "\n%s\n", title)
	for i, p := range strings.Split(text, "\n\n") {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprint(w, wrap(p, 7))
	}
}

// list writes a titled section of "NAME   text" items.
func list(w io.Writer, title string, items []string) {
	if len(items) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s\n", title)
	for _, it := range items {
		name, text, ok := strings.Cut(it, "   ")
		fmt.Fprintf(w, "       %s\n", name)
		if ok {
			fmt.Fprint(w, wrap(text, 14))
		}
	}
}

// wrap fills text into lines of at most 80 columns, indented.
func wrap(text string, indent int) string {
	var b strings.Builder
	pad := strings.Repeat(" ", indent)
	line := pad
	for _, word := range strings.Fields(text) {
		if len(line) > indent && len(line)+1+len(word) > 80 {
			b.WriteString(line + "\n")
			line = pad
		}
		if len(line) > indent {
			line += " "
		}
		line += word
	}
	if len(line) > indent {
		b.WriteString(line + "\n")
	}
	return b.String()
}
