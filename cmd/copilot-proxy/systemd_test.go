package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// unitFile is a parsed systemd unit: section -> directive -> values (a
// directive may repeat).
type unitFile map[string]map[string][]string

// parseUnit reads a systemd unit: [Section] headers, Key=Value lines,
// comments, and lines continued with a trailing backslash.
func parseUnit(text string) unitFile {
	u := unitFile{}
	section := ""
	var cont strings.Builder
	for _, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(raw)
		if cont.Len() == 0 && (line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";")) {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cont.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		line = cont.String() + line
		cont.Reset()
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
	}
	return u
}

const unitPath = "deploy/systemd/copilot-proxy.service"

// TestSystemdUnit: the unit has the hardening the README promises, reads
// the tokens as credentials, and starts serve with flags that exist.
func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(repoRoot, unitPath))
	if err != nil {
		t.Fatal(err)
	}
	svc := parseUnit(string(b))["Service"]
	for k, want := range map[string]string{
		"DynamicUser": "yes", "StateDirectory": "copilot-proxy", "ProtectSystem": "strict", "ProtectHome": "yes",
		"PrivateTmp": "yes", "NoNewPrivileges": "yes", "CapabilityBoundingSet": "", "Restart": "on-failure",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "SystemCallFilter": "@system-service",
	} {
		if vs, ok := svc[k]; !ok || vs[0] != want {
			t.Errorf("%s: %s=%q, want %q", unitPath, k, vs, want)
		}
	}
	creds := map[string]bool{}
	for _, lc := range svc["LoadCredential"] {
		id, src, _ := strings.Cut(lc, ":")
		if !strings.HasPrefix(src, "/etc/copilot-proxy/") {
			t.Errorf("LoadCredential=%s: want a file under /etc/copilot-proxy", lc)
		}
		creds[id] = true
	}
	for _, e := range svc["Environment"] {
		if secretName.MatchString(strings.SplitN(e, "=", 2)[0]) {
			t.Errorf("Environment=%s puts a secret in the environment; use LoadCredential=", e)
		}
	}
	checkExecStart(t, svc["ExecStart"], creds)
}

// checkExecStart checks that ExecStart runs serve with flags serve has,
// credentials the unit loads and the store in its StateDirectory.
func checkExecStart(t *testing.T, exec []string, creds map[string]bool) {
	t.Helper()
	if len(exec) != 1 {
		t.Fatalf("want one ExecStart, got %q", exec)
	}
	args := strings.Fields(exec[0])
	if len(args) < 2 || filepath.Base(args[0]) != "copilot-proxy" || args[1] != "serve" {
		t.Fatalf("ExecStart=%s: want copilot-proxy serve …", exec[0])
	}
	var cfg serveConfig
	fs := serveFlags(&cfg, envMap(nil))
	values := map[string]string{}
	for _, a := range args[2:] {
		name, value, ok := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || !ok {
			t.Errorf("ExecStart argument %q: want --flag=value", a)
			continue
		}
		if fs.Lookup(name) == nil {
			t.Errorf("ExecStart uses --%s, which serve does not have", name)
		}
		values[name] = value
		if id, ok := strings.CutPrefix(value, "%d/"); ok && !creds[id] {
			t.Errorf("--%s=%s names credential %q, which no LoadCredential= loads", name, value, id)
		}
	}
	for _, need := range []string{"github-token-file", "config"} {
		if !strings.HasPrefix(values[need], "%d/") {
			t.Errorf("--%s=%q: want a credential (%%d/…)", need, values[need])
		}
	}
	if !strings.HasPrefix(values["db"], "%S/copilot-proxy/") {
		t.Errorf("--db=%q: want the StateDirectory (%%S/copilot-proxy/…)", values["db"])
	}
}

// TestSystemdConfigExample: the example config the unit loads is valid.
func TestSystemdConfigExample(t *testing.T) {
	t.Parallel()
	path := filepath.Join(repoRoot, "deploy/systemd/config.yaml")
	if _, err := readConfigFile(path, envMap(nil)); err != nil {
		t.Fatal(err)
	}
}

// TestSystemdAnalyzeVerify runs systemd-analyze verify on the unit, with
// ExecStart pointing at a binary that exists, where systemd is installed.
func TestSystemdAnalyzeVerify(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("no systemd-analyze")
	}
	b, err := os.ReadFile(filepath.Join(repoRoot, unitPath))
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), "copilot-proxy.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/copilot-proxy", self)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
