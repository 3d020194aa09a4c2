// Package version says which build of copilot-proxy is running: the version
// stamped by the build (make build, make release), else what the Go
// toolchain recorded.
package version

import "runtime/debug"

// stamp is set at build time with
// -ldflags "-X github.com/copilot-proxy/copilot-proxy/version.stamp=v1.2.3".
var stamp = ""

// String returns the version stamped at build time, else the module version
// or VCS revision recorded by the Go toolchain ("devel-<rev>[-dirty]"), else
// "devel".
func String() string {
	if stamp != "" {
		return stamp
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "devel-" + rev
}
