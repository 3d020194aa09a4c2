package main

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// root is the module root seen from this package.
const root = "../.."

// TestReleaseHostArchive runs the release the way `make release` does, for
// the host platform only (all five targets take minutes on a cold cache;
// RELEASE_TEST_TARGETS widens it), extracts the archive, runs `copilot-proxy
// version` from it and checks it reports git describe's version, and checks
// SHA256SUMS against the archives.
func TestReleaseHostArchive(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary (-short)")
	}
	want, err := git(t.Context(), root, "describe", "--tags", "--always", "--dirty")
	if err != nil {
		t.Skipf("git describe: %v (not a git checkout)", err)
	}
	host := runtime.GOOS + "/" + runtime.GOARCH
	targets, err := parseTargets(host + "," + os.Getenv("RELEASE_TEST_TARGETS"))
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	r, err := release(t.Context(), options{Dir: root, Out: out2rel(t, out), Targets: targets, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != want {
		t.Fatalf("version %q, want git describe's %q", r.Version, want)
	}
	checkSums(t, r)
	bin := extractTarGz(t, r.Archives[0], t.TempDir())
	got, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(got), "copilot-proxy "+want+" (") {
		t.Fatalf("%s version = %q, want version %q", bin, got, want)
	}
	name := filepath.Base(r.Archives[0])
	if wantName := "copilot-proxy_" + want + "_" + runtime.GOOS + "_" + runtime.GOARCH + ".tar.gz"; name != wantName {
		t.Fatalf("archive %s, want %s", name, wantName)
	}
}

// out2rel makes the absolute out relative to root, as options.Out is.
func out2rel(t *testing.T, out string) string {
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(abs, out)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// checkSums verifies every SHA256SUMS line against its archive, and that
// every archive has a line.
func checkSums(t *testing.T, r result) {
	t.Helper()
	f, err := os.Open(r.Sums)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line := regexp.MustCompile(`^([0-9a-f]{64})  (\S+)$`)
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			t.Fatalf("SHA256SUMS line %q is not in sha256sum's format", sc.Text())
		}
		sum, err := sha256File(filepath.Join(filepath.Dir(r.Sums), m[2]))
		if err != nil || sum != m[1] {
			t.Fatalf("%s: sum %s, want %s (%v)", m[2], sum, m[1], err)
		}
		seen[m[2]] = true
	}
	for _, a := range r.Archives {
		if !seen[filepath.Base(a)] {
			t.Fatalf("SHA256SUMS has no line for %s", a)
		}
	}
}

// extractTarGz unpacks an archive into dir, checks its layout (one top
// directory named like the archive, the binary executable, README.md and
// the systemd unit on Linux) and returns the binary's path.
func extractTarGz(t *testing.T, archive, dir string) string {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	top := strings.TrimSuffix(filepath.Base(archive), ".tar.gz")
	names := map[string]bool{}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rel, ok := strings.CutPrefix(h.Name, top+"/")
		if !ok || strings.Contains(rel, "..") {
			t.Fatalf("entry %q is not under %s/", h.Name, top)
		}
		names[rel] = true
		dst := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, os.FileMode(h.Mode)); err != nil {
			t.Fatal(err)
		}
	}
	for _, need := range []string{"copilot-proxy", "README.md"} {
		if !names[need] {
			t.Fatalf("%s lacks %s (has %v)", archive, need, names)
		}
	}
	if runtime.GOOS == "linux" && (!names["deploy/systemd/copilot-proxy.service"] || !names["deploy/systemd/config.yaml"]) {
		t.Fatalf("%s lacks the systemd unit (has %v)", archive, names)
	}
	return filepath.Join(dir, "copilot-proxy")
}

// TestWriteZip: the Windows archive is a valid zip holding the files with
// their contents, modes and date.
func TestWriteZip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "a.exe")
	if err := os.WriteFile(src, []byte("MZ binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC)
	path := filepath.Join(dir, "x.zip")
	if err := writeZip(path, []file{{Name: "top/copilot-proxy.exe", Path: src, Mode: 0o755}}, mtime); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 1 || zr.File[0].Name != "top/copilot-proxy.exe" || !zr.File[0].Modified.Equal(mtime) || zr.File[0].Mode().Perm() != 0o755 {
		t.Fatalf("zip entries: %+v", zr.File)
	}
	rc, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, _ := io.ReadAll(rc); string(b) != "MZ binary" {
		t.Fatalf("content %q", b)
	}
}

// TestWriteTarGz: the tar archives hold the files with their contents,
// sizes, modes, owner and date.
func TestWriteTarGz(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "bin")
	content := strings.Repeat("ELF binary ", 10000)
	if err := os.WriteFile(src, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC)
	path := filepath.Join(dir, "x.tar.gz")
	files := []file{{Name: "top/copilot-proxy", Path: src, Mode: 0o755}, {Name: "top/README.md", Path: src, Mode: 0o644}}
	if err := writeTarGz(path, files, mtime); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for _, want := range files {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("entry %s: %v", want.Name, err)
		}
		if hdr.Name != want.Name || hdr.Mode != want.Mode || hdr.Size != int64(len(content)) || !hdr.ModTime.Equal(mtime) || hdr.Uname != "root" {
			t.Errorf("header %+v; want %s mode %o size %d", hdr, want.Name, want.Mode, len(content))
		}
		if b, _ := io.ReadAll(tr); string(b) != content {
			t.Errorf("%s: content of %d bytes differs", want.Name, len(b))
		}
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Errorf("more entries than written: %v", err)
	}
}

// TestWriteSumsSortedByName: SHA256SUMS lists the archives by name,
// whatever order they were built in.
func TestWriteSumsSortedByName(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var archives []string
	for _, name := range []string{"copilot-proxy_v1_windows_amd64.zip", "copilot-proxy_v1_darwin_arm64.tar.gz", "copilot-proxy_v1_linux_amd64.tar.gz"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
		archives = append(archives, p)
	}
	sums := filepath.Join(dir, "SHA256SUMS")
	if err := writeSums(sums, archives); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(sums)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		hash, name, ok := strings.Cut(line, "  ")
		if !ok || len(hash) != 64 {
			t.Fatalf("line %q is not HASH  NAME", line)
		}
		names = append(names, name)
	}
	want := "copilot-proxy_v1_darwin_arm64.tar.gz copilot-proxy_v1_linux_amd64.tar.gz copilot-proxy_v1_windows_amd64.zip"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("SHA256SUMS order %s; want %s", got, want)
	}
}

// TestArchiveTimeOutsideCheckout: without git history nor
// SOURCE_DATE_EPOCH, entries are dated 1980-01-01, the first date a zip
// entry can hold.
func TestArchiveTimeOutsideCheckout(t *testing.T) {
	t.Parallel()
	got, err := archiveTime(t.Context(), options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("archiveTime outside a checkout = %v; want %v", got, want)
	}
}

// TestParseTargets covers the target list syntax.
func TestParseTargets(t *testing.T) {
	t.Parallel()
	ts, err := parseTargets(defaultTargets)
	if err != nil || len(ts) != 5 || ts[4] != (target{"windows", "amd64"}) {
		t.Fatalf("parseTargets(default) = %v, %v", ts, err)
	}
	for _, bad := range []string{"", "linux", "linux/", "/amd64"} {
		if _, err := parseTargets(bad); err == nil {
			t.Errorf("parseTargets(%q) succeeded", bad)
		}
	}
}

// TestGoInstallPath: the README's go install line names the module of
// go.mod and a main package that exists, so `go install …@latest` works.
func TestGoInstallPath(t *testing.T) {
	t.Parallel()
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^module\s+(\S+)$`).FindSubmatch(mod)
	if m == nil || string(m[1]) != modulePath {
		t.Fatalf("go.mod module %q, want %q (the version stamp's package path)", m, modulePath)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	want := "go install " + modulePath + "/cmd/copilot-proxy@latest"
	if !strings.Contains(string(readme), want) {
		t.Fatalf("README.md lacks %q", want)
	}
	for _, l := range regexp.MustCompile(`go install (\S+)`).FindAllStringSubmatch(string(readme), -1) {
		if !strings.HasPrefix(l[1], modulePath+"/") {
			t.Errorf("README.md installs %s, outside module %s", l[1], modulePath)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "cmd/copilot-proxy/main.go")); err != nil {
		t.Fatal(err)
	}
}
