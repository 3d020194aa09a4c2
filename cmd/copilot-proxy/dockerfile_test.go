package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// repoRoot is the module root, seen from this package's test directory.
const repoRoot = "../.."

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// parseDockerfile splits a Dockerfile into instructions: comments and blank
// lines dropped, lines ending in a backslash joined to the next.
func parseDockerfile(text string) []instruction {
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		cont := strings.HasSuffix(line, "\\")
		cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
		if cont {
			continue
		}
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, instruction{start, strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

var (
	// pinnedTag: a tag holding a version number (1.26.8-bookworm, 7.4-alpine).
	pinnedTag = regexp.MustCompile(`:v?\d+(\.\d+)+[^/]*$`)
	// secretName: a variable that would hold a secret itself (not a path to
	// one): ..._TOKEN, ..._SECRET, ..._PASSWORD, ..._API_KEY.
	secretName = regexp.MustCompile(`(?i)(^|_)(TOKEN|SECRET|PASSWORD|PASSWD|PRIVATE_KEY|API_KEY|APIKEY|CREDENTIALS?)$`)
	// urlPassword: a URL with user:password@.
	urlPassword = regexp.MustCompile(`://[^/@\s:]*:[^/@\s]+@`)
	// secretFile: what a COPY or ADD must not take into the image.
	secretFile = regexp.MustCompile(`(?i)(^|/)(\.env|[^/ ]*\.env|github-token|admin-token|secrets?/?|[^/ ]*\.(pem|key)|id_rsa|id_ed25519)$`)
)

// lintDockerfile returns every broken invariant of the container image:
// multi-stage, every pulled base pinned by version or digest, a non-root
// final user, no secret in ENV, ARG, COPY or ADD, only known settings in
// ENV, no --no-auth with a public address, and HEALTHCHECK on /readyz,
// VOLUME, EXPOSE, ENTRYPOINT present in the final stage.
func lintDockerfile(text string, knownEnv func(string) bool) []string {
	var problems []string
	bad := func(in instruction, format string, a ...any) {
		problems = append(problems, fmt.Sprintf("line %d: %s ", in.line, in.cmd)+fmt.Sprintf(format, a...))
	}
	var stages []string
	final := map[string]instruction{} // last instruction of each kind in the final stage
	env := map[string]string{}
	for _, in := range parseDockerfile(text) {
		fields := strings.Fields(in.args)
		switch in.cmd {
		case "FROM":
			lintFrom(in, fields, stages, bad)
			if n := len(fields); n >= 3 && strings.EqualFold(fields[n-2], "AS") {
				stages = append(stages, fields[n-1])
			} else {
				stages = append(stages, "")
			}
			clear(final)
			clear(env)
		case "ENV", "ARG":
			for k, v := range parseKeyValues(in.cmd, in.args) {
				lintVariable(in, k, v, knownEnv, bad)
				env[k] = v
			}
		case "COPY", "ADD":
			for _, src := range copySources(fields) {
				if secretFile.MatchString(strings.TrimSuffix(src, "/")) || secretFile.MatchString(src) {
					bad(in, "copies %q, which looks like a secret", src)
				}
			}
		}
		final[in.cmd] = in
	}
	if len(stages) < 2 {
		problems = append(problems, "not a multi-stage build: want a build stage and a small final stage")
	}
	return append(problems, lintFinalStage(final, env)...)
}

// lintFrom checks that a pulled base image is pinned.
func lintFrom(in instruction, fields, stages []string, bad func(instruction, string, ...any)) {
	var image string
	for _, f := range fields {
		if !strings.HasPrefix(f, "--") {
			image = f
			break
		}
	}
	switch {
	case image == "":
		bad(in, "names no image")
	case image == "scratch", slices.Contains(stages, image):
	case strings.Contains(image, "@sha256:"), pinnedTag.MatchString(image):
	default:
		bad(in, "%s is not pinned: use a version tag (name:1.2.3) or a digest (@sha256:…)", image)
	}
}

// lintVariable checks one ENV or ARG variable.
func lintVariable(in instruction, k, v string, knownEnv func(string) bool, bad func(instruction, string, ...any)) {
	switch {
	case secretName.MatchString(k):
		bad(in, "%s would bake a secret into the image (pass a file at run time instead)", k)
	case urlPassword.MatchString(v):
		bad(in, "%s holds a URL with a password", k)
	case strings.HasPrefix(k, envPrefix) && !knownEnv(k):
		bad(in, "%s is not a setting of serve", k)
	case k == envName("no-auth") && v != "" && v != "false" && v != "0":
		bad(in, "%s: the image must keep client keys on", k)
	}
}

// lintFinalStage checks what the running container depends on.
func lintFinalStage(final map[string]instruction, env map[string]string) []string {
	var problems []string
	user, ok := final["USER"]
	name, _, _ := strings.Cut(user.args, ":")
	switch {
	case !ok:
		problems = append(problems, "the final stage sets no USER: it would run as root")
	case name == "root" || name == "0" || name == "":
		problems = append(problems, fmt.Sprintf("line %d: the final stage runs as root", user.line))
	}
	hc, ok := final["HEALTHCHECK"]
	if !ok || !strings.Contains(hc.args, "/readyz") {
		problems = append(problems, "no HEALTHCHECK on /readyz in the final stage")
	}
	for _, need := range []string{"VOLUME", "EXPOSE", "ENTRYPOINT"} {
		if _, ok := final[need]; !ok {
			problems = append(problems, "no "+need+" in the final stage")
		}
	}
	if addr := env[envName("addr")]; addr == "" || isLoopbackAddr(addr) {
		problems = append(problems, "the final stage must listen beyond loopback: ENV "+envName("addr")+"=0.0.0.0:PORT")
	}
	if env[envName("db")] == "" {
		problems = append(problems, "no ENV "+envName("db")+" placing the store on the volume")
	}
	return problems
}

// parseKeyValues reads ENV k=v k2="v 2" (or the legacy ENV k v) and ARG k[=v].
func parseKeyValues(cmd, args string) map[string]string {
	out := map[string]string{}
	if cmd == "ENV" && !strings.Contains(strings.Fields(args + " x")[0], "=") {
		k, v, _ := strings.Cut(args, " ")
		out[k] = strings.TrimSpace(v)
		return out
	}
	for _, m := range regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)(?:=("[^"]*"|\S*))?`).FindAllStringSubmatch(args, -1) {
		out[m[1]] = strings.Trim(m[2], `"`)
	}
	return out
}

// copySources returns the sources of COPY/ADD (all arguments but the last
// and the --options), from JSON or shell form.
func copySources(fields []string) []string {
	var args []string
	for _, f := range fields {
		if !strings.HasPrefix(f, "--") {
			args = append(args, strings.Trim(f, `[]",`))
		}
	}
	if len(args) < 2 {
		return nil
	}
	return args[:len(args)-1]
}

// serveEnvNames reports whether name is the environment variable of a serve
// flag (or one of the variables serve reads besides its flags).
func serveEnvNames() func(string) bool {
	known := map[string]bool{"COPILOT_PROXY_GITHUB_TOKEN": true, "COPILOT_PROXY_ADMIN_TOKEN": true, "COPILOT_PROXY_MODEL_ALIASES": true}
	var cfg serveConfig
	serveFlags(&cfg, envMap(nil)).VisitAll(func(f *flag.Flag) { known[envName(f.Name)] = true })
	return func(name string) bool { return known[name] }
}

// TestDockerfile holds the repository's Dockerfile to the image's
// invariants (make image-check; no container runtime needed).
func TestDockerfile(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if problems := lintDockerfile(string(b), serveEnvNames()); len(problems) > 0 {
		t.Fatalf("Dockerfile:\n  %s", strings.Join(problems, "\n  "))
	}
}

// TestDockerfileLint proves the lint catches each broken invariant.
func TestDockerfileLint(t *testing.T) {
	t.Parallel()
	good := `FROM golang:1.26.8-bookworm AS build
RUN go build
FROM scratch
COPY --from=build /rootfs/ /
USER 65532:65532
ENV COPILOT_PROXY_ADDR=0.0.0.0:8080 \
    COPILOT_PROXY_DB=/data/x.db
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK CMD ["/copilot-proxy", "healthcheck", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["/copilot-proxy"]
`
	if p := lintDockerfile(good, serveEnvNames()); len(p) > 0 {
		t.Fatalf("good Dockerfile flagged: %q", p)
	}
	for name, tt := range map[string]struct{ old, new, want string }{
		"single stage":          {"FROM golang:1.26.8-bookworm AS build\nRUN go build\n", "", "multi-stage"},
		"latest base":           {"golang:1.26.8-bookworm", "golang:latest", "not pinned"},
		"untagged base":         {"golang:1.26.8-bookworm", "golang", "not pinned"},
		"digest ok":             {"golang:1.26.8-bookworm", "golang@sha256:0123abcd", ""},
		"root user":             {"USER 65532:65532", "USER root", "runs as root"},
		"numeric root":          {"USER 65532:65532", "USER 0:0", "runs as root"},
		"no user":               {"USER 65532:65532\n", "", "no USER"},
		"token in env":          {"ENV COPILOT_PROXY_ADDR", "ENV COPILOT_PROXY_GITHUB_TOKEN=ghu_x COPILOT_PROXY_ADDR", "bake a secret"},
		"secret build arg":      {"RUN go build", "ARG NPM_TOKEN\nRUN go build", "bake a secret"},
		"password in url":       {"ENV COPILOT_PROXY_ADDR", "ENV COPILOT_PROXY_DATABASE_URL=postgres://u:pw@db/x COPILOT_PROXY_ADDR", "password"},
		"token file ok":         {"ENV COPILOT_PROXY_ADDR", "ENV COPILOT_PROXY_GITHUB_TOKEN_FILE=/run/secrets/t COPILOT_PROXY_ADDR", ""},
		"unknown setting":       {"ENV COPILOT_PROXY_ADDR", "ENV COPILOT_PROXY_LISTEN=x COPILOT_PROXY_ADDR", "not a setting"},
		"no auth":               {"ENV COPILOT_PROXY_ADDR", "ENV COPILOT_PROXY_NO_AUTH=true COPILOT_PROXY_ADDR", "keys on"},
		"loopback only":         {"0.0.0.0:8080", "127.0.0.1:8080", "beyond loopback"},
		"copies a token":        {"COPY --from=build /rootfs/ /", "COPY secrets/github-token /t", "secret"},
		"copies a dot env":      {"COPY --from=build /rootfs/ /", "COPY .env /app/.env", "secret"},
		"no healthcheck":        {"HEALTHCHECK", "LABEL x=", "HEALTHCHECK"},
		"no volume":             {"VOLUME [\"/data\"]\n", "", "VOLUME"},
		"no expose":             {"EXPOSE 8080\n", "", "EXPOSE"},
		"store not on a volume": {"    COPILOT_PROXY_DB=/data/x.db", "    COPILOT_PROXY_LOG_LEVEL=info", "placing the store"},
	} {
		bad := strings.Replace(good, tt.old, tt.new, 1)
		p := strings.Join(lintDockerfile(bad, serveEnvNames()), "\n")
		if tt.want == "" && p != "" || tt.want != "" && !strings.Contains(p, tt.want) {
			t.Errorf("%s: problems %q, want one containing %q", name, p, tt.want)
		}
	}
}

// dockerignoreMatch reports whether a .dockerignore pattern excludes path
// (slash-separated, relative to the context): as Docker does, a pattern
// matching a parent directory excludes everything under it, * and ? stay
// within one path element and **/ spans any number of them.
func dockerignoreMatch(pattern, path string) bool {
	pattern = strings.TrimSuffix(strings.TrimPrefix(filepath.ToSlash(filepath.Clean(pattern)), "/"), "/")
	var re strings.Builder
	re.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; {
		case strings.HasPrefix(pattern[i:], "**/"):
			re.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(pattern[i:], "**"):
			re.WriteString(".*")
			i++
		case c == '*':
			re.WriteString("[^/]*")
		case c == '?':
			re.WriteString("[^/]")
		default:
			re.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	rx := regexp.MustCompile(re.String() + "$")
	parts := strings.Split(path, "/")
	for i := 1; i <= len(parts); i++ {
		if rx.MatchString(strings.Join(parts[:i], "/")) {
			return true
		}
	}
	return false
}

// dockerignored reports whether the .dockerignore patterns exclude path
// (the last matching pattern wins; !pattern re-includes).
func dockerignored(patterns []string, path string) bool {
	excluded := false
	for _, p := range patterns {
		if neg, ok := strings.CutPrefix(p, "!"); ok {
			if dockerignoreMatch(neg, path) {
				excluded = false
			}
		} else if dockerignoreMatch(p, path) {
			excluded = true
		}
	}
	return excluded
}

// TestDockerignore: the build context leaves out VCS data, build output,
// databases and secrets at any depth, and keeps every tracked file the build
// needs (sources, go.mod, embedded assets).
func TestDockerignore(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	// dockerignoreMatch implements *, ?, ** and parent directories, not
	// Docker's exceptions (!), escapes or character classes: a pattern
	// using them would be judged differently here than by docker build.
	for _, p := range patterns {
		if strings.HasPrefix(p, "!") || strings.ContainsAny(p, "\\[") {
			t.Errorf(".dockerignore pattern %q uses syntax this test does not implement (!, \\ or [...]): check it with Docker's matcher (moby/patternmatcher)", p)
		}
	}
	for _, p := range []string{".git/HEAD", "bin/copilot-proxy", "dist/SHA256SUMS", "bench-results/latest.json",
		"copilot-proxy", "copilot-proxy.db", "data/keys.db", "data/keys.db-wal", ".env", "deploy/compose/.env",
		"prod.env", "deploy/compose/secrets/github-token", "deploy/compose/secrets/admin-token", "secrets/x", "github-token",
		"tls/server.key", "cmd/copilot-proxy/copilot-proxy.test"} {
		if !dockerignored(patterns, p) {
			t.Errorf(".dockerignore lets %s into the build context", p)
		}
	}
	out, err := exec.Command("git", "-C", repoRoot, "ls-files").Output()
	if err != nil {
		t.Skipf("git ls-files: %v (not a git checkout)", err)
	}
	for _, f := range strings.Fields(string(out)) {
		needed := f == "go.mod" || f == "go.sum" || !strings.HasPrefix(f, ".") && !strings.HasPrefix(f, "deploy/") && !strings.HasPrefix(f, "docs/")
		if needed && dockerignored(patterns, f) {
			t.Errorf(".dockerignore leaves out %s, which the build may need", f)
		}
	}
}

// TestComposeUsesImage: the scale-out compose file builds this Dockerfile
// and keeps the gateway's secrets in files, not in its environment.
func TestComposeUsesImage(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy/compose/compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.Contains(s, "context: ../..") {
		t.Error("compose.yaml does not build the repository's Dockerfile (build: context: ../..)")
	}
	for _, v := range []string{"COPILOT_PROXY_GITHUB_TOKEN:", "COPILOT_PROXY_ADMIN_TOKEN:"} {
		if strings.Contains(s, v) {
			t.Errorf("compose.yaml sets %s in the environment; use the _FILE variant and a secret", v)
		}
	}
}

// TestNginxFailsOverOnlyDeadInstances: nginx retries and counts toward
// max_fails only connection errors and timeouts. A gateway's 502 or 503
// comes from Copilot, the token or Redis, which both instances share;
// counted as failures they would take both instances out of the pool.
func TestNginxFailsOverOnlyDeadInstances(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy/compose/nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(strings.TrimSuffix(strings.TrimSpace(line), ";"))
		if len(fields) == 0 || fields[0] != "proxy_next_upstream" {
			continue
		}
		found = true
		if got := strings.Join(fields[1:], " "); got != "error timeout" {
			t.Errorf("nginx.conf: proxy_next_upstream %s; want only error timeout", got)
		}
	}
	if !found {
		t.Error("nginx.conf sets no proxy_next_upstream; keep it explicit: error timeout")
	}
}

// TestDockerfileCopiesStoreDirOnce: the final stage copies the store's
// directory once, owned by the image's user, and the rest of the root
// filesystem without it (COPY would otherwise copy /data twice).
func TestDockerfileCopiesStoreDirOnce(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	ins := parseDockerfile(string(b))
	var copies []string
	for _, in := range ins {
		switch in.cmd {
		case "FROM":
			copies = nil // only the final stage counts
		case "COPY":
			copies = append(copies, in.args)
		}
	}
	var store []string
	for _, c := range copies {
		if strings.Contains(c, "data") {
			store = append(store, c)
		}
	}
	if len(store) != 1 || !strings.Contains(store[0], "--chown=65532:65532") {
		t.Errorf("final stage copies the store's directory as %q; want once, with --chown=65532:65532", store)
	}
	for _, in := range ins {
		if in.cmd == "RUN" && strings.Contains(in.args, "/rootfs/data") {
			t.Errorf("line %d: the store's directory is in /rootfs, which is copied whole", in.line)
		}
	}
}
