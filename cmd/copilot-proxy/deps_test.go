package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestBinaryLinksNoTestCode: the shipped binary does not link testing or
// net/http/httptest (whose init reads the process's flags): the demo uses
// the fake's core, copilotfake, not the tests' copilottest wrapper.
func TestBinaryLinksNoTestCode(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	for _, pkg := range []string{"testing", "net/http/httptest", "github.com/copilot-proxy/copilot-proxy/copilot/copilottest"} {
		if slices.Contains(deps, pkg) {
			t.Errorf("the copilot-proxy binary links %s", pkg)
		}
	}
}
