package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// completionScript generates a shell's script through run.
func completionScript(t *testing.T, shell string) string {
	t.Helper()
	var out, stderr bytes.Buffer
	if err := run(t.Context(), []string{"completion", shell}, envMap(map[string]string{"HOME": "/home/x"}), &out, &stderr); err != nil {
		t.Fatalf("completion %s: %v (%s)", shell, err, stderr.String())
	}
	return out.String()
}

// TestCompletionScripts: each script is generated, names every command,
// every keys subcommand and every flag of serve and keys create, and passes
// the shell's syntax check where the shell is installed.
func TestCompletionScripts(t *testing.T) {
	t.Parallel()
	var serve []string
	serveFlags(&serveConfig{}, envMap(nil)).VisitAll(func(f *flag.Flag) { serve = append(serve, f.Name) })
	fs, _ := keysCreateFlags(envMap(nil))
	var create []string
	fs.VisitAll(func(f *flag.Flag) { create = append(create, f.Name) })
	syntax := map[string][]string{"bash": {"bash", "-n"}, "zsh": {"zsh", "-n"}, "fish": {"fish", "--no-execute"}}
	for _, shell := range completionShells {
		script := completionScript(t, shell)
		flagWord := func(name string) string { return "--" + name }
		if shell == "fish" {
			flagWord = func(name string) string { return "-l " + name + " " }
		}
		for _, c := range append(commandNames(), "create", "list", "update", "revoke", "rotate", "print") {
			if !strings.Contains(script, c) {
				t.Errorf("%s script lacks command %q", shell, c)
			}
		}
		for _, name := range append(serve, create...) {
			if !strings.Contains(script, flagWord(name)) {
				t.Errorf("%s script lacks flag %q", shell, name)
			}
		}
		checkSyntax(t, shell, script, syntax[shell])
	}
	if err := run(t.Context(), []string{"completion", "powershell"}, envMap(nil), &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Error("completion powershell succeeded")
	}
}

// checkSyntax runs the shell's syntax check on a script, when installed.
func checkSyntax(t *testing.T, shell, script string, check []string) {
	t.Helper()
	if _, err := exec.LookPath(check[0]); err != nil {
		t.Logf("%s not installed: its script's syntax is not checked", shell)
		return
	}
	path := filepath.Join(t.TempDir(), "copilot-proxy."+shell)
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(check[0], append(check[1:], path)...).CombinedOutput(); err != nil {
		t.Errorf("%s %s: %v\n%s", strings.Join(check, " "), path, err, out)
	}
}

// TestBashCompletionCompletes loads the bash script and completes command
// lines with it, as bash would on Tab.
func TestBashCompletionCompletes(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not installed")
	}
	path := filepath.Join(t.TempDir(), "copilot-proxy.bash")
	if err := os.WriteFile(path, []byte(completionScript(t, "bash")), 0o644); err != nil {
		t.Fatal(err)
	}
	for line, want := range map[string][]string{
		"copilot-proxy ":                               {"serve", "keys", "completion", "config", "help"},
		"copilot-proxy ke":                             {"keys"},
		"copilot-proxy keys cr":                        {"create"},
		"copilot-proxy keys create --na":               {"--name"},
		"copilot-proxy keys update alice --bu":         {"--budget", "--budget-period"},
		"copilot-proxy keys create --budget-period w":  {"week"},
		"copilot-proxy serve --log-level d":            {"debug"},
		"copilot-proxy --addr 0.0.0.0:80 --redis-f":    {"--redis-failure"},
		"copilot-proxy completion ":                    {"bash", "zsh", "fish"},
		"copilot-proxy help ke":                        {"keys"},
		"copilot-proxy config ":                        {"print"},
		"copilot-proxy config print --conf":            {"--config"},
		"copilot-proxy usage --since 7d --j":           {"--json"},
		"copilot-proxy serve --addr 127.0.0.1:1 --no-": {"--no-auth"},
	} {
		words := strings.Split(line, " ")
		script := "source " + path + "\nCOMP_WORDS=(" + shellWords(words) + ")\nCOMP_CWORD=" + itoa(len(words)-1) +
			"\n_copilot_proxy\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
		out, err := exec.Command("bash", "-c", script).CombinedOutput()
		if err != nil {
			t.Errorf("%q: %v\n%s", line, err, out)
			continue
		}
		got := strings.Fields(string(out))
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("completing %q gave %q, want it to include %q", line, got, w)
			}
		}
	}
}

func shellWords(words []string) string {
	var q []string
	for _, w := range words {
		q = append(q, shellQuote(w))
	}
	return strings.Join(q, " ")
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestCommandsMatchRun: the commands the usage lists are the registry's,
// and each command's --help lists exactly the flags the registry (and so
// help and completion) knows: they come from the same constructors.
func TestCommandsMatchRun(t *testing.T) {
	t.Parallel()
	listed := regexp.MustCompile(`(?m)^  copilot-proxy \[?([a-z]+)`).FindAllStringSubmatch(usage, -1)
	var names []string
	for _, m := range listed {
		names = append(names, m[1])
	}
	if got := commandNames(); !sameSet(got, names) {
		t.Fatalf("usage lists %v, the command registry %v", names, got)
	}
	env := envMap(map[string]string{"HOME": t.TempDir()})
	for _, c := range commands() {
		var out, stderr bytes.Buffer
		args := append(strings.Fields(c.name), "--help")
		if err := run(t.Context(), args, env, &out, &stderr); err != nil {
			t.Errorf("%q: %v", args, err)
			continue
		}
		if c.flags == nil {
			continue
		}
		var want, got []string
		c.flags(env).VisitAll(func(f *flag.Flag) { want = append(want, f.Name) })
		for _, m := range regexp.MustCompile(`(?m)^  -([a-z][a-z0-9-]*)`).FindAllStringSubmatch(out.String(), -1) {
			got = append(got, m[1])
		}
		if !sameSet(got, want) {
			t.Errorf("%s --help lists flags %v, the registry %v", c.name, got, want)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestHelpCommand: help COMMAND prints a manual page for every command,
// with every flag and its environment variable; an unknown command is an
// error naming the commands.
func TestHelpCommand(t *testing.T) {
	t.Parallel()
	env := envMap(map[string]string{"HOME": "/home/x"})
	for _, c := range commands() {
		var out bytes.Buffer
		if err := run(t.Context(), append([]string{"help"}, strings.Fields(c.name)...), env, &out, &bytes.Buffer{}); err != nil {
			t.Errorf("help %s: %v", c.name, err)
			continue
		}
		page := out.String()
		for _, s := range []string{"NAME\n       copilot-proxy " + c.name + " - ", "SYNOPSIS\n", "DESCRIPTION\n", "EXAMPLES\n"} {
			if !strings.Contains(page, s) {
				t.Errorf("help %s lacks %q:\n%s", c.name, s, page)
			}
		}
		if c.flags == nil {
			continue
		}
		c.flags(env).VisitAll(func(f *flag.Flag) {
			if !strings.Contains(page, "\n       --"+f.Name) {
				t.Errorf("help %s lacks option --%s", c.name, f.Name)
			}
			if hasEnv(c.env, f.Name) && !strings.Contains(page, envName(f.Name)) {
				t.Errorf("help %s lacks %s", c.name, envName(f.Name))
			}
		})
	}
	var out bytes.Buffer
	if err := run(t.Context(), []string{"help", "serve"}, env, &out, &bytes.Buffer{}); err != nil ||
		!strings.Contains(out.String(), "ENVIRONMENT\n       COPILOT_PROXY_ADDR") || !strings.Contains(out.String(), "FILES\n") {
		t.Errorf("help serve: %v\n%s", err, out.String())
	}
	err := run(t.Context(), []string{"help", "frobnicate"}, env, &out, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "serve, demo, login") {
		t.Errorf("help frobnicate: %v", err)
	}
}

// TestFishCompletionCompletes loads the fish script and completes command
// lines with it (complete -C), where fish is installed.
func TestFishCompletionCompletes(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("fish"); err != nil {
		t.Skip("fish not installed")
	}
	path := filepath.Join(t.TempDir(), "copilot-proxy.fish")
	if err := os.WriteFile(path, []byte(completionScript(t, "fish")), 0o644); err != nil {
		t.Fatal(err)
	}
	for line, want := range map[string]string{
		"copilot-proxy ke":                     "keys",
		"copilot-proxy keys cr":                "create",
		"copilot-proxy keys update alice --bu": "--budget-period",
		"copilot-proxy --addr x:1 --redis-f":   "--redis-failure",
		"copilot-proxy serve --log-level ":     "debug",
		"copilot-proxy completion ":            "zsh",
	} {
		cmd := exec.Command("fish", "--no-config", "-c", "source "+path+"; complete -C "+shellQuote(line))
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%q: %v\n%s", line, err, out)
			continue
		}
		var got []string
		for _, l := range strings.Split(string(out), "\n") {
			word, _, _ := strings.Cut(l, "\t")
			got = append(got, word)
		}
		if !slices.Contains(got, want) {
			t.Errorf("completing %q gave %q, want %q among them", line, got, want)
		}
	}
}

// TestFlagValuesAreValid: every word completion offers for a flag is one
// its command accepts (set on the flag, then serve's validation).
func TestFlagValuesAreValid(t *testing.T) {
	t.Parallel()
	env := envMap(map[string]string{"HOME": "/home/x"})
	for _, c := range commands() {
		if c.flags == nil {
			continue
		}
		c.flags(env).VisitAll(func(f *flag.Flag) {
			for _, word := range flagValues[f.Name] {
				if c.name == "serve" {
					var cfg serveConfig
					fs := serveFlags(&cfg, env)
					if err := fs.Set(f.Name, word); err != nil {
						t.Errorf("serve --%s %s: %v", f.Name, word, err)
					} else if err := cfg.validate(); err != nil {
						t.Errorf("serve --%s %s: %v", f.Name, word, err)
					}
					continue
				}
				if err := c.flags(env).Set(f.Name, word); err != nil {
					t.Errorf("%s --%s %s: %v", c.name, f.Name, word, err)
				}
			}
		})
	}
}

// TestFileFlags: the flags whose value is a path are completed with files,
// each because its help names the value `file`; a *-file flag without it
// would fall back to free text.
func TestFileFlags(t *testing.T) {
	t.Parallel()
	spec := newCompletionSpec(envMap(map[string]string{"HOME": "/home/x"}))
	for _, name := range []string{"config", "db", "upstream-ca", "github-token-file", "admin-token-file"} {
		if !spec.fileFlags[name] {
			t.Errorf("--%s is not completed with files", name)
		}
	}
	for _, name := range spec.valueFlags {
		if strings.HasSuffix(name, "-file") && !spec.fileFlags[name] {
			t.Errorf("--%s names a file but its help does not say `file`", name)
		}
	}
	files, _ := spec.valueKinds()
	if !slices.Contains(files, "db") || slices.Contains(files, "addr") {
		t.Errorf("file flags %v", files)
	}
}
