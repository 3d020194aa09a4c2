package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeConfigFile writes a config file (mode 0600) and returns its path.
func writeConfigFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadServe parses serve's settings from args, env and the config file
// the way serve does.
func loadServe(t *testing.T, args []string, env map[string]string) (serveConfig, map[string]string, error) {
	t.Helper()
	var cfg serveConfig
	env["HOME"] = "/home/x"
	fs := serveFlags(&cfg, envMap(env))
	if _, err := parseFlags(fs, args, &strings.Builder{}); err != nil {
		return cfg, nil, err
	}
	sources, err := applySettings(fs, envMap(env))
	if err == nil {
		err = cfg.validate()
	}
	return cfg, sources, err
}

// TestConfigPrecedence: for each of a string, an int, a duration and a
// repeatable setting, every combination of the four layers (flag, env,
// file, default) gives the value of the highest layer present, and
// reports that layer as the source.
func TestConfigPrecedence(t *testing.T) {
	t.Parallel()
	type layer struct{ flag, env, file, def string }
	settings := map[string]layer{
		"addr":             {"127.0.0.1:1001", "127.0.0.1:1002", "127.0.0.1:1003", "127.0.0.1:8080"},
		"key-rpm":          {"11", "12", "13", "60"},
		"upstream-timeout": {"1m0s", "2m0s", "3m0s", "10m0s"},
		"model-alias":      {"a=flag", "a=env", "a=file", ""},
		"trusted-proxy":    {"10.0.0.1", "10.0.0.2", "10.0.0.3", ""},
	}
	for name, l := range settings {
		for mask := 0; mask < 8; mask++ {
			var args []string
			env := map[string]string{}
			want, wantSource := l.def, sourceDefault
			if mask&4 != 0 {
				env[envName("config")] = writeConfigFile(t, name+": "+l.file+"\n")
				want, wantSource = l.file, sourceFile
			}
			if mask&2 != 0 {
				env[envName(name)] = l.env
				want, wantSource = l.env, sourceEnv
			}
			if mask&1 != 0 {
				args = []string{"--" + name, l.flag}
				want, wantSource = l.flag, sourceFlag
			}
			_, sources, err := loadServe(t, args, env)
			if err != nil {
				t.Fatalf("%s, layers %03b: %v", name, mask, err)
			}
			var cfg serveConfig
			fs := serveFlags(&cfg, envMap(env))
			_, _ = parseFlags(fs, args, &strings.Builder{})
			_, _ = applySettings(fs, envMap(env))
			if got := fs.Lookup(name).Value.String(); got != want || sources[name] != wantSource {
				t.Errorf("%s with layers flag=%v env=%v file=%v: %q from %s, want %q from %s",
					name, mask&1 != 0, mask&2 != 0, mask&4 != 0, got, sources[name], want, wantSource)
			}
		}
	}
}

// TestConfigFileValues: YAML types, lists and mappings for a repeatable
// flag, null, and the plural MODEL_ALIASES variable beating the file.
func TestConfigFileValues(t *testing.T) {
	t.Parallel()
	path := writeConfigFile(t, `# settings
addr: 0.0.0.0:9000
metrics: true
max-body: 1MiB
keepalive: 0s
log-level:
model-alias:
  fast: gpt-4o
  smart: claude-sonnet-4
`)
	cfg, _, err := loadServe(t, []string{"--config", path}, map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "0.0.0.0:9000" || !cfg.Metrics || cfg.MaxBody != 1<<20 || cfg.Keepalive != 0 || cfg.LogLevel != "info" ||
		cfg.ModelAliases.String() != "fast=gpt-4o,smart=claude-sonnet-4" {
		t.Fatalf("config: %+v", cfg)
	}
	list := writeConfigFile(t, "model-alias: [a=b, c=d]\n")
	cfg, _, err = loadServe(t, []string{"--config", list}, map[string]string{})
	if err != nil || cfg.ModelAliases.String() != "a=b,c=d" {
		t.Fatalf("list: %v %v", cfg.ModelAliases, err)
	}
	cfg, src, err := loadServe(t, []string{"--config", list}, map[string]string{"COPILOT_PROXY_MODEL_ALIASES": "x=y"})
	if err != nil || cfg.ModelAliases.String() != "x=y" || src["model-alias"] != sourceEnv {
		t.Fatalf("env over file: %v from %s, %v", cfg.ModelAliases, src["model-alias"], err)
	}
	for text, want := range map[string]string{
		"trusted-proxy: [10.0.0.1, '172.28.0.0/24', 'fd00::/8']\n": "10.0.0.1,172.28.0.0/24,fd00::/8",
		"trusted-proxy: 10.0.0.1, 10.0.0.2\n":                      "10.0.0.1,10.0.0.2",
		"trusted-proxy:\n  - 192.0.2.1\n":                          "192.0.2.1",
		"trusted-proxy: []\n":                                      "",
	} {
		cfg, _, err = loadServe(t, []string{"--config", writeConfigFile(t, text)}, map[string]string{})
		if err != nil || cfg.TrustedProxies.String() != want {
			t.Errorf("%q: trusted proxies %q, %v; want %q", text, cfg.TrustedProxies.String(), err, want)
		}
	}
	empty := writeConfigFile(t, "# nothing yet\n")
	if _, _, err := loadServe(t, []string{"--config", empty}, map[string]string{}); err != nil {
		t.Fatalf("empty file: %v", err)
	}
}

// TestConfigFileErrors: every bad file is a usage error naming the file,
// the line and the setting.
func TestConfigFileErrors(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct{ text, want string }{
		"unknown key":        {"addr: 127.0.0.1:1\nlisten: 0.0.0.0:80\n", ":2: unknown setting \"listen\""},
		"bad duration":       {"keepalive: soon\n", ":1: invalid value \"soon\" for keepalive"},
		"bad int":            {"\nkey-rpm: many\n", ":2: invalid value \"many\" for key-rpm"},
		"bad bool":           {"metrics: maybe\n", "for metrics"},
		"invalid setting":    {"log-level: loud\n", "invalid --log-level"},
		"token":              {"github-token: ghu_abc\n", "tokens are never read from the config file"},
		"admin token":        {"admin-token: x\n", "tokens are never read"},
		"nested config":      {"config: other.yaml\n", "cannot name another"},
		"twice":              {"addr: a:1\naddr: b:2\n", ":2: addr is set twice (first on line 1)"},
		"list for a scalar":  {"addr: [a:1, b:2]\n", "addr: want a single value"},
		"not a mapping":      {"- addr\n", "want a mapping"},
		"bad yaml":           {"addr: [\n", "config.yaml"},
		"flag name with --":  {"--addr: a:1\n", "unknown setting \"--addr\""},
		"bad alias in a map": {"model-alias:\n  fast: fast\n", "model-alias"},
		"bad trusted proxy":  {"addr: a:1\ntrusted-proxy: [10.0.0.1, nginx]\n", ":2: invalid value \"nginx\" for trusted-proxy: \"nginx\" is not an IP address"},
		"trusted proxy map":  {"trusted-proxy: {a: b}\n", "invalid value \"a=b\" for trusted-proxy"},
	} {
		path := writeConfigFile(t, tt.text)
		_, _, err := loadServe(t, []string{"--config", path}, map[string]string{})
		if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, errUsage) {
			t.Errorf("%s: error %v, want a usage error containing %q", name, err, tt.want)
			continue
		}
		if !strings.Contains(tt.want, "invalid --") && !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v does not name the file", name, err)
		}
	}
	_, _, err := loadServe(t, []string{"--config", filepath.Join(t.TempDir(), "missing.yaml")}, map[string]string{})
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

// TestConfigFilePasswordNeedsPrivateFile: a URL with a password is refused
// in a file every user can read, and accepted in a private one.
func TestConfigFilePasswordNeedsPrivateFile(t *testing.T) {
	t.Parallel()
	path := writeConfigFile(t, "redis-url: redis://:hunter2@redis:6379/0\n")
	if _, _, err := loadServe(t, []string{"--config", path}, map[string]string{}); err != nil {
		t.Fatalf("private file: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := loadServe(t, []string{"--config", path}, map[string]string{})
	if err == nil || !strings.Contains(err.Error(), "readable by every user") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("world-readable file with a password: %v", err)
	}
}

// TestConfigFilePasswordExposureCases: every URL config print would have
// to mask is refused in a world-readable file, including an @ or a # in
// the password and a second password parameter.
func TestConfigFilePasswordExposureCases(t *testing.T) {
	t.Parallel()
	for _, url := range []string{
		"postgres://u:p@ss@db/x",
		"postgres://db/x?sslmode=require&sslpassword=abc",
		"postgres://u:p#ss@db/x",
	} {
		t.Run(url, func(t *testing.T) {
			t.Parallel()
			path := writeConfigFile(t, "database-url: \""+url+"\"\n")
			if err := os.Chmod(path, 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := loadServe(t, []string{"--config", path}, map[string]string{})
			if err == nil || !strings.Contains(err.Error(), "readable by every user") {
				t.Fatalf("world-readable file with %s: %v", url, err)
			}
		})
	}
	path := writeConfigFile(t, "database-url: postgres://u@db/x?sslmode=require\n")
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadServe(t, []string{"--config", path}, map[string]string{}); err != nil {
		t.Fatalf("world-readable file without a password: %v", err)
	}
}

// TestMaskSecrets: passwords in URLs and parameters and tokens never show.
func TestMaskSecrets(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, in, want string }{
		{"database-url", "postgres://user:pass@db:5432/x?sslmode=require", "postgres://user:xxxxx@db:5432/x?sslmode=require"},
		{"database-url", "postgres://user:p%40ss@db/x", "postgres://user:xxxxx@db/x"},
		{"database-url", "postgres://user@db/x", "postgres://user@db/x"},
		{"database-url", "postgres://db/x?user=u&password=pw&sslmode=disable", "postgres://db/x?password=xxxxx&sslmode=disable&user=u"},
		{"database-url", "sqlite:///var/lib/x.db", "sqlite:///var/lib/x.db"},
		{"redis-url", "redis://:pass@redis:6379/0", "redis://:xxxxx@redis:6379/0"},
		{"redis-url", "rediss://default:pass@redis:6380", "rediss://default:xxxxx@redis:6380"},
		// An unescaped @ in the password: url.Parse splits at the last @.
		{"database-url", "postgres://u:p@ss@db/x", "postgres://u:xxxxx@db/x"},
		// Every password parameter, not only the first.
		{"database-url", "postgres://db/x?sslpassword=abc&password=pw", "postgres://db/x?password=xxxxx&sslpassword=xxxxx"},
		// A # in the password: the URL does not parse, so only its scheme shows.
		{"database-url", "postgres://u:p#ss@db/x", "postgres://(unparsable URL)"},
		{"github-token", "ghu_secret", "****"},
		{"github-token-file", "/run/credentials/x/github-token", "/run/credentials/x/github-token"},
		{"addr", "0.0.0.0:8080", "0.0.0.0:8080"},
	} {
		if got := maskSecrets(tt.name, tt.in); got != tt.want {
			t.Errorf("maskSecrets(%s, %q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

// TestConfigPrint: config print shows each setting's value and source,
// masks secrets, comments out defaults, and its output loaded back with
// --config gives the same configuration.
func TestConfigPrint(t *testing.T) {
	t.Parallel()
	file := writeConfigFile(t, "key-rpm: 30\nmodel-alias: {fast: gpt-4o}\nredis-url: redis://:hunter2@redis:6379/0\ntrusted-proxy: [10.0.0.1, 'fd00::/8']\n")
	env := map[string]string{"HOME": "/home/x", "COPILOT_PROXY_LOG_LEVEL": "debug",
		"COPILOT_PROXY_DATABASE_URL": "postgres://copilot:s3cret@db:5432/copilot"}
	var out, stderr bytes.Buffer
	if err := run(t.Context(), []string{"config", "print", "--config", file, "--addr", "0.0.0.0:9000"}, envMap(env), &out, &stderr); err != nil {
		t.Fatalf("%v (%s)", err, stderr.String())
	}
	text := out.String()
	for _, want := range []string{
		"\naddr: 0.0.0.0:9000 # flag\n", "\nlog-level: debug # env COPILOT_PROXY_LOG_LEVEL\n", "\nkey-rpm: 30 # file\n",
		"\nmodel-alias: [fast=gpt-4o] # file\n", "\n# key-tpm: 0 # default\n", "\n# metrics: false # default\n",
		"\ndatabase-url: postgres://copilot:xxxxx@db:5432/copilot # env COPILOT_PROXY_DATABASE_URL\n",
		"\nredis-url: redis://:xxxxx@redis:6379/0 # file\n", "\ntrusted-proxy: [10.0.0.1, 'fd00::/8'] # file\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("config print lacks %q:\n%s", strings.TrimSpace(want), text)
		}
	}
	for _, secret := range []string{"hunter2", "s3cret"} {
		if strings.Contains(text, secret) {
			t.Errorf("config print shows the secret %q", secret)
		}
	}
	if strings.Contains(text, "\nconfig:") {
		t.Error("config print writes a config: key, which a config file refuses")
	}
	// Round trip: the printed file, loaded alone, gives the same settings.
	printed := writeConfigFile(t, text)
	var again bytes.Buffer
	if err := run(t.Context(), []string{"config", "print", "--config", printed}, envMap(map[string]string{"HOME": "/home/x"}), &again, &stderr); err != nil {
		t.Fatalf("printed config does not load back: %v", err)
	}
	if a, b := settingLines(text), settingLines(again.String()); a != b {
		t.Errorf("round trip changed the settings:\n%s\nvs\n%s", a, b)
	}
}

// settingLines is config print's output without the sources and header.
func settingLines(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		v, _, ok := strings.Cut(strings.TrimPrefix(l, "# "), " # ")
		if ok { // a setting: every one has its source as a comment
			out = append(out, v)
		}
	}
	return strings.Join(out, "\n")
}

// TestKeysReadConfigFile: the key store commands take db from serve's
// config file (COPILOT_PROXY_CONFIG or --config), and a flag still wins.
func TestKeysReadConfigFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "from-file.db")
	file := writeConfigFile(t, "db: "+db+"\naddr: 0.0.0.0:8080\n")
	env := envMap(map[string]string{"HOME": dir, envName("config"): file})
	var out, stderr bytes.Buffer
	if err := run(t.Context(), []string{"keys", "create", "--name", "alice"}, env, &out, &stderr); err != nil {
		t.Fatalf("%v (%s)", err, stderr.String())
	}
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("keys create did not use the config file's db: %v", err)
	}
	out.Reset()
	other := filepath.Join(dir, "flag.db")
	if err := run(t.Context(), []string{"keys", "list", "--db", other}, env, &out, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "No keys yet") {
		t.Fatalf("--db did not win over the config file: %s", out.String())
	}
	bad := writeConfigFile(t, "dbase: x\n")
	err := run(t.Context(), []string{"keys", "list", "--config", bad}, env, &out, &stderr)
	if err == nil || !strings.Contains(err.Error(), "unknown setting \"dbase\"") {
		t.Fatalf("unknown key in keys' config: %v", err)
	}
}

// TestServeRefusesBadConfig: serve stops before listening on a bad file.
func TestServeRefusesBadConfig(t *testing.T) {
	t.Parallel()
	bad := writeConfigFile(t, "addr: 127.0.0.1:0\nno-such: 1\n")
	err := run(t.Context(), []string{"serve", "--config", bad}, envMap(map[string]string{"HOME": t.TempDir()}), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), bad+":2: unknown setting") {
		t.Fatalf("serve with a bad config: %v", err)
	}
}
