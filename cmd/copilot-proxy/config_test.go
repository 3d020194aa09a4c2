package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot"
)

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestServeConfigFlagsAndEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, c serveConfig)
		wantErr string
	}{
		{
			name: "defaults",
			check: func(t *testing.T, c serveConfig) {
				if c.Addr != "127.0.0.1:8080" || c.UpstreamTimeout != 10*time.Minute || c.StreamIdleTimeout != 5*time.Minute ||
					c.Keepalive != 15*time.Second || c.MaxBody != 10<<20 || c.ShutdownTimeout != 30*time.Second ||
					c.GitHubAPIURL != "https://api.github.com" || c.LogLevel != "info" || c.GCHeadroom != 16<<20 {
					t.Fatalf("unexpected defaults: %+v", c)
				}
			},
		},
		{
			name: "environment applies",
			env:  map[string]string{"COPILOT_PROXY_ADDR": "127.0.0.1:9999", "COPILOT_PROXY_KEEPALIVE": "3s", "COPILOT_PROXY_MAX_BODY": "1MiB"},
			check: func(t *testing.T, c serveConfig) {
				if c.Addr != "127.0.0.1:9999" || c.Keepalive != 3*time.Second || c.MaxBody != 1<<20 {
					t.Fatalf("env not applied: %+v", c)
				}
			},
		},
		{
			name: "flag wins over environment",
			args: []string{"--addr", "127.0.0.1:7000", "--upstream-timeout=90s"},
			env:  map[string]string{"COPILOT_PROXY_ADDR": "127.0.0.1:9999", "COPILOT_PROXY_UPSTREAM_TIMEOUT": "1m"},
			check: func(t *testing.T, c serveConfig) {
				if c.Addr != "127.0.0.1:7000" || c.UpstreamTimeout != 90*time.Second {
					t.Fatalf("flag did not win: %+v", c)
				}
			},
		},
		{name: "bad duration in env names the variable", env: map[string]string{"COPILOT_PROXY_STREAM_IDLE_TIMEOUT": "five"}, wantErr: "COPILOT_PROXY_STREAM_IDLE_TIMEOUT"},
		{name: "bad duration flag names the flag", args: []string{"--keepalive", "soon"}, wantErr: "keepalive"},
		{name: "bad size", args: []string{"--max-body", "lots"}, wantErr: "max-body"},
		{name: "zero size", args: []string{"--max-body", "0"}, wantErr: "max-body"},
		{
			name: "gc headroom from the environment",
			env:  map[string]string{"COPILOT_PROXY_GC_HEADROOM": "0"},
			check: func(t *testing.T, c serveConfig) {
				if c.GCHeadroom != 0 {
					t.Fatalf("gc headroom %v, want 0", c.GCHeadroom)
				}
			},
		},
		{name: "bad gc headroom", args: []string{"--gc-headroom", "-1MiB"}, wantErr: "gc-headroom"},
		{name: "negative keepalive", args: []string{"--keepalive", "-1s"}, wantErr: "keepalive"},
		{name: "bad log level", env: map[string]string{"COPILOT_PROXY_LOG_LEVEL": "loud"}, wantErr: "COPILOT_PROXY_LOG_LEVEL"},
		{name: "bad log format", args: []string{"--log-format", "xml"}, wantErr: "log-format"},
		{name: "bad url", args: []string{"--github-api-url", "api.github.com"}, wantErr: "github-api-url"},
		{name: "bad addr", args: []string{"--addr", "8080"}, wantErr: "addr"},
		{name: "stray argument", args: []string{"extra"}, wantErr: "unexpected argument"},
		{
			name: "trusted proxies: repeated and comma-separated flags add up",
			args: []string{"--trusted-proxy", "10.0.0.1, 172.28.0.0/24", "--trusted-proxy=fd00::/8", "--trusted-proxy", "::ffff:192.0.2.7"},
			env:  map[string]string{"COPILOT_PROXY_TRUSTED_PROXY": "198.51.100.1"}, // a flag wins
			check: func(t *testing.T, c serveConfig) {
				if got := c.TrustedProxies.String(); got != "10.0.0.1,172.28.0.0/24,fd00::/8,192.0.2.7" {
					t.Fatalf("trusted proxies %q", got)
				}
			},
		},
		{
			name: "trusted proxies from the environment",
			env:  map[string]string{"COPILOT_PROXY_TRUSTED_PROXY": "10.0.0.0/8,2001:db8::1"},
			check: func(t *testing.T, c serveConfig) {
				if got := c.TrustedProxies.String(); got != "10.0.0.0/8,2001:db8::1" {
					t.Fatalf("trusted proxies %q", got)
				}
			},
		},
		{
			name: "no trusted proxies by default",
			check: func(t *testing.T, c serveConfig) {
				if len(c.TrustedProxies) != 0 {
					t.Fatalf("trusted proxies %v by default", c.TrustedProxies)
				}
			},
		},
		{name: "bad trusted proxy flag names flag and value", args: []string{"--trusted-proxy", "10.0.0.1,nginx"}, wantErr: `flag -trusted-proxy: "nginx" is not an IP address`},
		{name: "empty trusted proxy in a list", args: []string{"--trusted-proxy", "10.0.0.1,"}, wantErr: `-trusted-proxy: "" is not an IP address`},
		{name: "trusted proxy range with host bits", args: []string{"--trusted-proxy", "10.1.2.3/8"}, wantErr: "write the range as 10.0.0.0/8"},
		{name: "bad trusted proxy in env names variable and value", env: map[string]string{"COPILOT_PROXY_TRUSTED_PROXY": "10.0.0.0/33"},
			wantErr: `"10.0.0.0/33" for COPILOT_PROXY_TRUSTED_PROXY (--trusted-proxy)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var cfg serveConfig
			fs := serveFlags(&cfg, envMap(map[string]string{"HOME": "/home/x"}))
			done, err := parseFlags(fs, tt.args, &strings.Builder{})
			if done {
				t.Fatal("help shown unexpectedly")
			}
			if err == nil {
				err = applyEnv(fs, envMap(tt.env))
			}
			if err == nil {
				err = cfg.validate()
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one naming %q", err, tt.wantErr)
				}
				if !errors.Is(err, errUsage) {
					t.Fatalf("error %v is not a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, cfg)
		})
	}
}

// TestGCTunerGivesWayToGoEnv: GOGC or GOMEMLIMIT in the environment is the
// operator's own tuning, and turns --gc-headroom off.
func TestGCTunerGivesWayToGoEnv(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  map[string]string
		want uint64
	}{
		{nil, 16 << 20},
		{map[string]string{"GOGC": "200"}, 0},
		{map[string]string{"GOMEMLIMIT": "512MiB"}, 0},
	} {
		tu := startGCTuner(16<<20, envMap(tc.env))
		tu.Stop()
		if got := tu.Headroom(); got != tc.want {
			t.Errorf("env %v: headroom %d, want %d", tc.env, got, tc.want)
		}
	}
}

func TestIsLoopbackAddr(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "localhost:1": true, "[::1]:80": true, "127.1.2.3:9": true,
		":8080": false, "0.0.0.0:8080": false, "[::]:80": false, "192.168.1.2:80": false, "example.com:80": false,
	} {
		if got := isLoopbackAddr(addr); got != want {
			t.Errorf("isLoopbackAddr(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestEditorFlagsAndGHEHosts(t *testing.T) {
	t.Parallel()
	var cfg serveConfig
	fs := serveFlags(&cfg, envMap(map[string]string{"HOME": "/home/x"}))
	if _, err := parseFlags(fs, []string{"--editor-version", "vscode/9.9.9"}, &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	if err := applyEnv(fs, envMap(map[string]string{"COPILOT_PROXY_EDITOR_PLUGIN_VERSION": "copilot-chat/9.0.0", "COPILOT_PROXY_EDITOR_VERSION": "ignored/1"})); err != nil {
		t.Fatal(err)
	}
	if cfg.Editor.EditorVersion != "vscode/9.9.9" || cfg.Editor.PluginVersion != "copilot-chat/9.0.0" || cfg.Editor.IntegrationID != "vscode-chat" {
		t.Fatalf("editor settings: %+v", *cfg.Editor)
	}
	for in, want := range map[string]string{
		"https://api.github.com":         "",
		"https://api.octocorp.ghe.com":   "copilot-api.octocorp.ghe.com",
		"https://ghe.example.com/api/v3": "",
		"not a url %%":                   "",
	} {
		got := strings.Join(copilot.EndpointFor(in, "").AllowedHosts, ",")
		if got != want {
			t.Errorf("EndpointFor(%q).AllowedHosts = %q, want %q", in, got, want)
		}
	}
}
