package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// modulePath is where the version stamp lives.
const modulePath = "github.com/copilot-proxy/copilot-proxy"

// options says what release builds.
type options struct {
	Version         string // "" = git describe --tags --always --dirty
	Out             string // output directory, relative to Dir
	Dir             string // the module root
	Targets         []target
	SourceDateEpoch string // seconds; "" = the last commit's time
	Log             io.Writer
}

// result is what release wrote.
type result struct {
	Version  string
	Archives []string // paths, in target order
	Sums     string   // path of SHA256SUMS
}

// release builds every target's archive into o.Out and writes SHA256SUMS
// for them. Stale archives and sums in o.Out are removed first.
func release(ctx context.Context, o options) (result, error) {
	var r result
	var err error
	if r.Version, err = versionOf(ctx, o); err != nil {
		return r, err
	}
	mtime, err := archiveTime(ctx, o)
	if err != nil {
		return r, err
	}
	out := filepath.Join(o.Dir, o.Out)
	if err := clean(out); err != nil {
		return r, err
	}
	stage, err := os.MkdirTemp("", "copilot-proxy-release-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(stage)
	for _, t := range o.Targets {
		fmt.Fprintf(o.Log, "building %s\n", t)
		bin, err := build(ctx, o.Dir, stage, r.Version, t)
		if err != nil {
			return r, err
		}
		path, err := pack(o.Dir, out, bin, r.Version, t, mtime)
		if err != nil {
			return r, err
		}
		r.Archives = append(r.Archives, path)
	}
	r.Sums = filepath.Join(out, "SHA256SUMS")
	return r, writeSums(r.Sums, r.Archives)
}

// versionOf is o.Version, else git describe's answer.
func versionOf(ctx context.Context, o options) (string, error) {
	if o.Version != "" {
		return o.Version, nil
	}
	v, err := git(ctx, o.Dir, "describe", "--tags", "--always", "--dirty")
	if err != nil {
		return "", fmt.Errorf("no -version and git describe failed: %w", err)
	}
	return v, nil
}

// zipEpoch dates the entries outside a git checkout: the first date a zip
// entry can hold (its MS-DOS date starts in 1980; Unix 0 does not fit).
var zipEpoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// archiveTime dates every archive entry: SOURCE_DATE_EPOCH, else the last
// commit's time, so rebuilding the same commit gives the same archives.
func archiveTime(ctx context.Context, o options) (time.Time, error) {
	s := o.SourceDateEpoch
	if s == "" {
		var err error
		if s, err = git(ctx, o.Dir, "log", "-1", "--format=%ct"); err != nil {
			return zipEpoch, nil // not a checkout: a fixed date
		}
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid SOURCE_DATE_EPOCH %q: %v", s, err)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// git runs a git command in dir and returns its trimmed output.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...).Output()
	return strings.TrimSpace(string(out)), err
}

// clean creates dir and removes a previous release from it.
func clean(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, _ := filepath.Glob(filepath.Join(dir, "copilot-proxy_*"))
	for _, f := range append(old, filepath.Join(dir, "SHA256SUMS")) {
		if err := os.RemoveAll(f); err != nil {
			return err
		}
	}
	return nil
}

// build cross-compiles the static binary for t into stage and returns its
// path.
func build(ctx context.Context, dir, stage, version string, t target) (string, error) {
	name := "copilot-proxy"
	if t.OS == "windows" {
		name += ".exe"
	}
	bin := filepath.Join(stage, t.OS+"_"+t.Arch, name)
	ldflags := "-s -w -X " + modulePath + "/version.stamp=" + version
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", bin, "./cmd/copilot-proxy")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+t.OS, "GOARCH="+t.Arch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build for %s: %v\n%s", t, err, out)
	}
	return bin, nil
}

// pack writes the archive of one target: the binary, the README, the
// LICENSE when there is one and (for Linux) the systemd unit and its
// example config, under a
// directory named like the archive.
func pack(dir, out, bin, version string, t target, mtime time.Time) (string, error) {
	base := fmt.Sprintf("copilot-proxy_%s_%s_%s", version, t.OS, t.Arch)
	files := []file{{Name: filepath.Base(bin), Path: bin, Mode: 0o755}}
	extra := []string{"README.md", "LICENSE"}
	if t.OS == "linux" {
		extra = append(extra, "deploy/systemd/copilot-proxy.service", "deploy/systemd/config.yaml")
	}
	for _, e := range extra {
		p := filepath.Join(dir, e)
		if _, err := os.Stat(p); err == nil {
			files = append(files, file{Name: e, Path: p, Mode: 0o644})
		}
	}
	for i := range files {
		files[i].Name = base + "/" + files[i].Name
	}
	if t.OS == "windows" {
		path := filepath.Join(out, base+".zip")
		return path, writeZip(path, files, mtime)
	}
	path := filepath.Join(out, base+".tar.gz")
	return path, writeTarGz(path, files, mtime)
}

// writeSums writes "HASH  NAME" lines (sha256sum -c reads them) for the
// archives, sorted by name.
func writeSums(path string, archives []string) error {
	archives = slices.Clone(archives)
	slices.SortFunc(archives, func(a, b string) int { return strings.Compare(filepath.Base(a), filepath.Base(b)) })
	var lines []string
	for _, a := range archives {
		sum, err := sha256File(a)
		if err != nil {
			return err
		}
		lines = append(lines, sum+"  "+filepath.Base(a))
	}
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

// sha256File returns the hex SHA-256 of a file.
func sha256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
