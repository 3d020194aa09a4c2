package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/copilot-proxy/copilot-proxy/credits"
	"github.com/copilot-proxy/copilot-proxy/logging"
)

// completionShells are the shells completion writes scripts for.
var completionShells = []string{"bash", "zsh", "fish"}

// flagValues are the values of the flags that take one of a few words,
// from the lists their validation uses where the owning package exports
// one (TestFlagValuesAreValid checks every word is accepted).
var flagValues = map[string][]string{
	"log-format":           {logging.FormatJSON, logging.FormatConsole},
	"log-level":            {"debug", "info", "warn", "error"},
	"redis-failure":        redisFailureModes,
	"global-budget-period": budgetPeriods,
	"budget-period":        budgetPeriods,
}

// budgetPeriods are the budget periods, in credits' own spelling.
var budgetPeriods = []string{string(credits.Day), string(credits.Week), string(credits.Month)}

// isFileFlag reports a flag whose value is a path: its usage names the
// value `file`, as PrintDefaults shows it (--config FILE).
func isFileFlag(f *flag.Flag) bool {
	name, _ := flag.UnquoteUsage(f)
	return name == "file"
}

// runCompletion prints the completion script of a shell.
func runCompletion(args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 1 && isHelpFlag(args[0]) {
		c, _ := findCommand("completion")
		writeManual(stdout, c, getenv)
		return nil
	}
	if len(args) != 1 || !slices.Contains(completionShells, args[0]) {
		return fmt.Errorf("%w: usage: copilot-proxy completion bash|zsh|fish", errUsage)
	}
	spec := newCompletionSpec(getenv)
	switch args[0] {
	case "bash":
		return writeBashCompletion(stdout, spec)
	case "zsh":
		return writeZshCompletion(stdout, spec)
	default:
		return writeFishCompletion(stdout, spec)
	}
}

// completionSpec is what every shell's script is generated from.
type completionSpec struct {
	cmds       []command            // every command and subcommand
	flags      map[string][]flagDoc // command name -> its flags
	valueFlags []string             // flags taking a value, in any command
	fileFlags  map[string]bool      // value flags completed with files
}

// flagDoc is a flag as completion shows it.
type flagDoc struct {
	name, doc  string
	bool, file bool
}

// newCompletionSpec collects the commands and their flags.
func newCompletionSpec(getenv func(string) string) completionSpec {
	s := completionSpec{cmds: commands(), flags: map[string][]flagDoc{}, fileFlags: map[string]bool{}}
	for _, c := range s.cmds {
		if c.flags == nil {
			continue
		}
		c.flags(getenv).VisitAll(func(f *flag.Flag) {
			b, ok := f.Value.(interface{ IsBoolFlag() bool })
			isBool := ok && b.IsBoolFlag()
			_, usage := flag.UnquoteUsage(f)
			s.flags[c.name] = append(s.flags[c.name], flagDoc{f.Name, shortDoc(usage), isBool, isFileFlag(f)})
			if isFileFlag(f) {
				s.fileFlags[f.Name] = true
			}
			if !isBool && !slices.Contains(s.valueFlags, f.Name) {
				s.valueFlags = append(s.valueFlags, f.Name)
			}
		})
	}
	slices.Sort(s.valueFlags)
	return s
}

// positional is the completions of a command's first positional argument:
// subcommands, command names (help) or fixed words (completion).
func (s completionSpec) positional(name string) []string {
	var out []string
	switch {
	case name == "" || name == "help":
		out = commandNames()
	default:
		for _, c := range subcommands(name) {
			out = append(out, strings.TrimPrefix(c.name, name+" "))
		}
		if c, ok := findCommand(name); ok {
			out = append(out, c.args...)
		}
	}
	return out
}

// summaryOf returns the one-line summary of a (sub)command word.
func (s completionSpec) summaryOf(parent, word string) string {
	name := strings.TrimSpace(parent + " " + word)
	if parent == "help" {
		name = word
	}
	if c, ok := findCommand(name); ok {
		return c.summary
	}
	return word
}

// shortDoc is the first clause of a flag's help, for completion menus.
func shortDoc(usage string) string {
	for _, sep := range []string{" (", "; ", ": "} {
		if i := strings.Index(usage, sep); i > 10 {
			usage = usage[:i]
		}
	}
	if len(usage) > 70 {
		usage = usage[:67] + "..."
	}
	return usage
}

// flagPatterns is a shell case pattern matching -name and --name for the
// given flags: "--a|-a|--b|-b".
func flagPatterns(names []string, sep string) string {
	var out []string
	for _, n := range names {
		out = append(out, "--"+n, "-"+n)
	}
	return strings.Join(out, sep)
}

// flagWords returns "--a --b" for a command's flags.
func (s completionSpec) flagWords(name string) string {
	var out []string
	for _, f := range s.flags[name] {
		out = append(out, "--"+f.name)
	}
	return strings.Join(out, " ")
}

// valueKinds splits the value flags into those completed with files and
// those taking free text, and lists the fixed-word ones.
func (s completionSpec) valueKinds() (files, free []string) {
	for _, n := range s.valueFlags {
		switch {
		case flagValues[n] != nil:
		case s.fileFlags[n]:
			files = append(files, n)
		default:
			free = append(free, n)
		}
	}
	return files, free
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
