package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v4"

	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
)

// The layers a setting can come from, highest precedence first: the
// command line, the environment, the --config file, the flag's default.
const (
	sourceFlag    = "flag"
	sourceEnv     = "env"
	sourceFile    = "file"
	sourceDefault = "default"
)

// configFlag declares --config (env COPILOT_PROXY_CONFIG) on fs.
func configFlag(fs *flag.FlagSet) {
	fs.String("config", "", "YAML `file` of serve settings, keyed by flag name (addr: 0.0.0.0:8080); flags and the environment win over it; tokens are never read from it")
}

// repeatable marks a flag whose every Set adds a value (--model-alias): in
// the config file it may be a list, and config print writes it as one.
type repeatable interface {
	flag.Value
	values() []string
}

// applySettings fills the flags not given on the command line, first from
// the environment, then from the --config file, and reports where each flag
// of fs got its value (flag, env, file or default). With names, only those
// flags are filled (the key store commands share --db and --database-url
// with serve, but nothing else).
func applySettings(fs *flag.FlagSet, getenv func(string) string, names ...string) (map[string]string, error) {
	sources := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { sources[f.Name] = sourceDefault })
	fs.Visit(func(f *flag.Flag) { sources[f.Name] = sourceFlag })
	if len(names) > 0 && !slices.Contains(names, "config") {
		names = append(slices.Clip(names), "config") // never into the caller's array
	}
	if err := applyEnv(fs, getenv, names...); err != nil {
		return nil, err
	}
	// The plural variable of --model-alias, as the README documents it.
	if f := fs.Lookup("model-alias"); f != nil && !flagSet(fs, "model-alias") {
		if v := getenv(envPrefix + "MODEL_ALIASES"); v != "" {
			if err := fs.Set("model-alias", v); err != nil {
				return nil, fmt.Errorf("%w: invalid %sMODEL_ALIASES: %v", errUsage, envPrefix, err)
			}
		}
	}
	fs.Visit(func(f *flag.Flag) {
		if sources[f.Name] == sourceDefault {
			sources[f.Name] = sourceEnv
		}
	})
	if f := fs.Lookup("config"); f != nil && f.Value.String() != "" {
		set, err := applyConfigFile(fs, f.Value.String(), getenv, names)
		if err != nil {
			return nil, err
		}
		for _, name := range set {
			sources[name] = sourceFile
		}
	}
	return sources, nil
}

// flagSet reports whether the named flag has been set (on the command line
// or by fs.Set).
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// applyConfigFile sets, from the YAML file at path, every flag of fs not
// set yet (by a flag or the environment), restricted to names when given.
// Every key must be a serve setting; it returns the flags it set.
func applyConfigFile(fs *flag.FlagSet, path string, getenv func(string) string, names []string) ([]string, error) {
	entries, err := readConfigFile(path, getenv)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var applied []string
	for _, e := range entries {
		if set[e.key] || fs.Lookup(e.key) == nil || len(names) > 0 && !slices.Contains(names, e.key) {
			continue
		}
		for _, v := range e.values {
			if err := fs.Set(e.key, v); err != nil {
				return nil, fmt.Errorf("%w: %s:%d: invalid value %q for %s: %v", errUsage, path, e.line, v, e.key, err)
			}
		}
		applied = append(applied, e.key)
	}
	return applied, nil
}

// configEntry is one setting of a config file.
type configEntry struct {
	key    string
	values []string // one, or several for a repeatable flag
	line   int
}

// readConfigFile parses a config file: a YAML mapping from serve flag
// names to values. Unknown, repeated and secret keys are errors naming the
// file and line; so is a URL with a password in a file other users can read.
func readConfigFile(path string, getenv func(string) string) ([]configEntry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: --config: %v", errUsage, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errUsage, path, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 || doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].Tag == "!!null" {
		return nil, nil // empty file: no settings
	}
	root := doc.Content[0]
	if doc.Kind != yaml.DocumentNode || root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: %s:%d: want a mapping of settings, e.g. addr: 0.0.0.0:8080", errUsage, path, root.Line)
	}
	var known serveConfig
	schema := serveFlags(&known, getenv)
	var entries []configEntry
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		fail := func(format string, a ...any) error {
			return fmt.Errorf("%w: %s:%d: %s", errUsage, path, k.Line, fmt.Sprintf(format, a...))
		}
		if err := checkConfigKey(k, schema, seen, fail); err != nil {
			return nil, err
		}
		seen[k.Value] = k.Line
		values, err := configValues(v, schema.Lookup(k.Value))
		if err != nil {
			return nil, fail("%s: %v", k.Value, err)
		}
		if err := checkPasswordExposure(path, k.Value, values); err != nil {
			return nil, fail("%v", err)
		}
		if values != nil {
			entries = append(entries, configEntry{k.Value, values, k.Line})
		}
	}
	return entries, nil
}

// checkConfigKey refuses a key that is not a serve setting, a repeated key,
// a token and a nested config.
func checkConfigKey(k *yaml.Node, schema *flag.FlagSet, seen map[string]int, fail func(string, ...any) error) error {
	switch name := k.Value; {
	case k.Kind != yaml.ScalarNode:
		return fail("a setting's name must be a plain word such as addr")
	case seen[name] != 0:
		return fail("%s is set twice (first on line %d)", name, seen[name])
	case name == "config":
		return fail("config cannot name another config file")
	case strings.Contains(name, "token") && !strings.HasSuffix(name, "-file"):
		return fail("%s: tokens are never read from the config file; name a file holding it (github-token-file, admin-token-file) or use the environment", name)
	case schema.Lookup(name) == nil:
		return fail("unknown setting %q (the keys are serve's flag names without dashes: copilot-proxy help serve)", name)
	}
	return nil
}

// configValues turns a setting's YAML value into the strings to Set: a
// scalar, or for a repeatable flag a list of scalars or a from: to mapping.
// A null value (key:) sets nothing.
func configValues(v *yaml.Node, f *flag.Flag) ([]string, error) {
	_, multi := f.Value.(repeatable)
	switch {
	case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
		return nil, nil
	case v.Kind == yaml.ScalarNode:
		return []string{v.Value}, nil
	case v.Kind == yaml.SequenceNode && multi:
		out := []string{}
		for _, item := range v.Content {
			if item.Kind != yaml.ScalarNode {
				return nil, errors.New("want a list of plain values")
			}
			out = append(out, item.Value)
		}
		return out, nil
	case v.Kind == yaml.MappingNode && multi:
		var out []string
		for i := 0; i+1 < len(v.Content); i += 2 {
			out = append(out, v.Content[i].Value+"="+v.Content[i+1].Value)
		}
		return out, nil
	}
	return nil, errors.New("want a single value")
}

// checkPasswordExposure refuses a URL with a password in a config file that
// every user of the machine can read.
func checkPasswordExposure(path, key string, values []string) error {
	if runtime.GOOS == "windows" {
		return nil // no Unix permission bits to judge by
	}
	for _, v := range values {
		if !mayHoldPassword(v) {
			continue
		}
		if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o004 != 0 {
			return fmt.Errorf("%s holds a password but %s is readable by every user: chmod o-r it, or set %s instead", key, path, envName(key))
		}
	}
	return nil
}

// mayHoldPassword reports a URL with a password, or a URL that does not
// parse: where its password would be cannot be known (a # in a password
// makes url.Parse fail), so it is judged as holding one.
func mayHoldPassword(v string) bool {
	if !strings.Contains(v, "://") {
		return false
	}
	if _, err := url.Parse(v); err != nil {
		return true
	}
	return keys.URLPassword(v) != ""
}

// maskSecrets hides the secret parts of a setting's value: any token
// (flags naming a token file are paths, not secrets) and a URL's
// passwords. URLs go through keys.RedactURL, the key store's own
// redaction, so config print masks what the store's messages mask: the
// userinfo password, every password and sslpassword parameter, and the
// whole URL but its scheme when it does not parse.
func maskSecrets(name, value string) string {
	switch {
	case value == "":
		return value
	case (strings.Contains(name, "token") || strings.Contains(name, "secret") || strings.Contains(name, "password")) &&
		!strings.HasSuffix(name, "-file"):
		return "****"
	case strings.Contains(value, "://"):
		return keys.RedactURL(value)
	}
	return value
}

// writeConfig writes fs's effective settings as a config file, one line
// per flag in name order with its source as a comment and secrets masked.
// Settings left at their default are commented out, so loading the output
// back keeps following the defaults of the binary that reads it. --config
// itself is left out (a config file cannot name another).
func writeConfig(fs *flag.FlagSet, sources map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" || err != nil {
			return
		}
		var line []byte
		one := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.Name}, configNode(f)}}
		if line, err = yaml.Marshal(one); err != nil {
			return
		}
		src := sources[f.Name]
		if src == sourceEnv {
			src += " " + envName(f.Name)
		}
		if src == sourceDefault {
			buf.WriteString("# ")
		}
		buf.WriteString(strings.TrimSuffix(string(line), "\n") + " # " + src + "\n")
	})
	return buf.Bytes(), err
}

// configNode is a flag's value as a YAML node: a list for a repeatable
// flag, else a scalar typed as the flag parses it.
func configNode(f *flag.Flag) *yaml.Node {
	if r, ok := f.Value.(repeatable); ok {
		seq := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, v := range r.values() {
			seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: maskSecrets(f.Name, v)})
		}
		return seq
	}
	v := maskSecrets(f.Name, f.Value.String())
	tag := "!!str"
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		tag = "!!bool"
	} else if isInteger(v) {
		tag = "!!int"
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v}
}

// isInteger reports a plain decimal integer such as 60 or -1.
func isInteger(s string) bool {
	s = strings.TrimPrefix(s, "-")
	return s != "" && strings.Trim(s, "0123456789") == "" && (s == "0" || s[0] != '0')
}
