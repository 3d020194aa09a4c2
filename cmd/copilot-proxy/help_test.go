package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestHelpFlags: a leading -h, -help or --help prints the top-level usage
// (the commands) to stdout and succeeds, as "help" does; "serve --help"
// still lists serve's flags.
func TestHelpFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string // printed to stdout
	}{
		{[]string{"help"}, usage},
		{[]string{"-h"}, usage},
		{[]string{"-help"}, usage},
		{[]string{"--help"}, usage},
		{[]string{"--help", "serve"}, usage},
		{[]string{"serve", "--help"}, "Usage: copilot-proxy serve [flags]"},
		{[]string{"serve", "-h"}, "-addr"},
	}
	for _, tt := range tests {
		home := t.TempDir()
		env := envMap(map[string]string{"HOME": home, "XDG_CONFIG_HOME": home + "/config"})
		var stdout, stderr bytes.Buffer
		if err := run(t.Context(), tt.args, env, &stdout, &stderr); err != nil {
			t.Errorf("%q: %v (stderr %q)", tt.args, err, stderr.String())
			continue
		}
		if !strings.Contains(stdout.String(), tt.want) {
			t.Errorf("%q: stdout = %q, want it to contain %q", tt.args, stdout.String(), tt.want)
		}
		if tt.want != usage && strings.Contains(stdout.String(), "copilot-proxy login") {
			t.Errorf("%q: printed the top-level usage, want serve's flags: %q", tt.args, stdout.String())
		}
	}
}
