package main

import "flag"

// mainCommands are the gateway commands and the GitHub token commands.
func mainCommands() []command {
	return []command{{
		name: "serve", summary: "run the gateway (the default command)",
		synopsis: "copilot-proxy [serve] [--config FILE] [flags]",
		desc: "Runs the gateway: the OpenAI chat completions, Responses and embeddings APIs and the Anthropic Messages API " +
			"in front of GitHub Copilot, with client keys, limits, budgets and usage. Every flag --some-name can also be set " +
			"with the environment variable COPILOT_PROXY_SOME_NAME and with the key some-name in the YAML file of --config; " +
			"a flag wins over the environment, which wins over the file, which wins over the default. " +
			`"copilot-proxy config print" shows the result.` +
			"\n\nThe GitHub token is read from COPILOT_PROXY_GITHUB_TOKEN or --github-token-file (never a flag), then " +
			"GH_COPILOT_TOKEN / GITHUB_COPILOT_TOKEN, then the file login saves, then the editor plugins' files.",
		flags: func(getenv func(string) string) *flag.FlagSet { return serveFlags(&serveConfig{}, getenv) },
		env:   "all",
		extraEnv: append([]string{"COPILOT_PROXY_ADMIN_TOKEN   the admin token itself (instead of --admin-token-file)",
			"COPILOT_PROXY_MODEL_ALIASES   --model-alias pairs, comma-separated"}, tokenEnv...),
		files: append([]string{"$XDG_DATA_HOME/copilot-proxy/copilot-proxy.db   the default key store (~/.local/share/...)"}, tokenFiles...),
		examples: []string{
			"copilot-proxy serve --addr 0.0.0.0:8080 --admin-token-file /etc/copilot-proxy/admin-token",
			"copilot-proxy serve --config /etc/copilot-proxy/config.yaml",
			"COPILOT_PROXY_LOG_LEVEL=debug copilot-proxy serve --no-auth",
		},
	}, {
		name: "demo", summary: "try the gateway without a Copilot seat: fake answers, no token, no network",
		synopsis: "copilot-proxy demo [flags]",
		desc: "Serves the whole gateway on a loopback address against a built-in fake Copilot and prints the base URLs, " +
			"a demo client key and examples for curl, the SDKs, Codex and Claude Code. Every answer is fake and marked so. " +
			"The environment is not read.",
		flags:    func(func(string) string) *flag.FlagSet { return demoFlags(&demoConfig{}) },
		examples: []string{"copilot-proxy demo", "copilot-proxy demo --addr 127.0.0.1:0"},
	}, {
		name: "login", summary: "get a GitHub token with GitHub's device flow and save it",
		synopsis: "copilot-proxy login [flags]",
		desc: "Prints a URL and a code; enter the code on GitHub from any device (no browser is needed on this machine). " +
			"The token is checked against Copilot, then saved where serve finds it. It is never printed.",
		flags: func(func(string) string) *flag.FlagSet { return loginFlags(&loginConfig{}) },
		env:   "all", extraEnv: []string{"XDG_CONFIG_HOME   where the token is saved (default ~/.config)"},
		files:    tokenFiles[:1],
		examples: []string{"copilot-proxy login", "copilot-proxy login --github-url https://ghe.example.com --github-api-url https://ghe.example.com/api/v3"},
	}, {
		name: "logout", summary: "remove the token login saved",
		synopsis: "copilot-proxy logout",
		desc: "Removes the GitHub token login saved, and says whether serve would still find a token elsewhere. " +
			"Nothing else is touched; the token stays valid at GitHub until revoked there.",
		extraEnv: tokenEnv, files: tokenFiles[:1],
		examples: []string{"copilot-proxy logout"},
	}, {
		name: "status", summary: "check the token, the Copilot plan and the quota",
		synopsis: "copilot-proxy status [--json] [flags]",
		desc: "Checks the GitHub token serve would use without starting a server: its source (never the token), the " +
			"Copilot token exchange, the plan, the API host, the token's expiry and the quota. Exits non-zero with one " +
			"line saying what to do when something fails.",
		flags: func(func(string) string) *flag.FlagSet { return statusFlags(&statusConfig{}) },
		env:   "all", extraEnv: tokenEnv, files: tokenFiles,
		examples: []string{"copilot-proxy status", "copilot-proxy status --json | jq .quota"},
	}}
}

// keysCommands are keys, its subcommands, and usage.
func keysCommands() []command {
	store := []string{"$XDG_DATA_HOME/copilot-proxy/copilot-proxy.db   the default key store, shared with serve"}
	desc := " Works on the same database as a running serve (--db, --database-url, or those of serve's --config file); " +
		"a running gateway applies the change within a second."
	return []command{{
		name: "keys", summary: "issue, list, update, revoke and rotate client keys",
		synopsis: "copilot-proxy keys COMMAND [flags]",
		desc:     "Manages the client keys teammates use to call the gateway: their limits, allowed models, budgets and expiry." + desc,
		files:    store, env: "store",
		examples: []string{"copilot-proxy keys create --name alice --rpm 30 --budget 500", "copilot-proxy keys list"},
	}, {
		name: "keys create", summary: "issue a key (shown once)", synopsis: "copilot-proxy keys create --name NAME [flags]",
		desc:  "Creates a key and prints its secret once." + desc,
		flags: func(g func(string) string) *flag.FlagSet { fs, _ := keysCreateFlags(g); return fs.FlagSet },
		env:   "store", files: store,
		examples: []string{"copilot-proxy keys create --name alice --models gpt-4o,claude-sonnet-4 --expires 30d --json"},
	}, {
		name: "keys list", summary: "list keys with their usage", synopsis: "copilot-proxy keys list [--json]",
		desc:  "Lists every key with its requests, tokens, credits spent this budget period, budget and limits." + desc,
		flags: func(g func(string) string) *flag.FlagSet { return keysListFlags(g).FlagSet },
		env:   "store", files: store, examples: []string{"copilot-proxy keys list --json"},
	}, {
		name: "keys update", summary: "change a key's limits, models, budget or expiry", synopsis: "copilot-proxy keys update ID|NAME [flags]",
		desc:  "Changes only the settings given; the others stay." + desc,
		flags: func(g func(string) string) *flag.FlagSet { fs, _ := keysUpdateFlags(g); return fs.FlagSet },
		env:   "store", files: store, examples: []string{"copilot-proxy keys update alice --rpm default --budget none"},
	}, {
		name: "keys revoke", summary: "revoke a key", synopsis: "copilot-proxy keys revoke ID|NAME",
		desc:  "Revokes a key for good." + desc,
		flags: func(g func(string) string) *flag.FlagSet { return keysRevokeFlags(g).FlagSet },
		env:   "store", files: store, examples: []string{"copilot-proxy keys revoke alice"},
	}, {
		name: "keys rotate", summary: "give a key a new secret", synopsis: "copilot-proxy keys rotate ID|NAME [--grace 24h] [--json]",
		desc:  "Issues a new secret for the key; the old one keeps working for --grace." + desc,
		flags: func(g func(string) string) *flag.FlagSet { fs, _ := keysRotateFlags(g); return fs.FlagSet },
		env:   "store", files: store, examples: []string{"copilot-proxy keys rotate alice --grace 0s"},
	}, {
		name: "usage", summary: "requests, tokens and AI credits by key, model and day",
		synopsis: "copilot-proxy usage [--key ID|NAME] [--since 7d] [--json]",
		desc:     "Prints requests, tokens, AI credits (1 credit = $0.01) and errors by key, model and UTC day, from the key store.",
		flags:    func(g func(string) string) *flag.FlagSet { fs, _, _ := usageFlags(g); return fs.FlagSet },
		env:      "store", files: store,
		examples: []string{"copilot-proxy usage --since 7d", "copilot-proxy usage --key alice --json"},
	}}
}

// toolCommands are the operational commands.
func toolCommands() []command {
	return []command{{
		name: "config", summary: "show the effective serve configuration",
		synopsis: "copilot-proxy config print [--config FILE] [flags]",
		desc: "Settings come from flags, then the environment, then the --config file, then the defaults. " +
			`"config print" shows what serve would run with.`,
		examples: []string{"copilot-proxy config print --config /etc/copilot-proxy/config.yaml"},
	}, {
		name: "config print", summary: "print the effective serve configuration as a config file",
		synopsis: "copilot-proxy config print [--config FILE] [serve flags]",
		desc: "Prints every serve setting as YAML with, as a comment, where its value comes from (flag, env, file or " +
			"default; defaults are commented out). Secrets are masked (****): URL passwords and tokens. The output " +
			"loads back with --config (fill a masked password in again).",
		flags:    func(getenv func(string) string) *flag.FlagSet { return serveFlags(&serveConfig{}, getenv) },
		env:      "all",
		examples: []string{"copilot-proxy config print", "COPILOT_PROXY_ADDR=0.0.0.0:8080 copilot-proxy config print --config prod.yaml > effective.yaml"},
	}, {
		name: "healthcheck", summary: "exit 0 when the gateway is ready (for container health checks)",
		synopsis: "copilot-proxy healthcheck [--timeout 3s] [URL]",
		desc:     "GETs URL (default http://127.0.0.1:8080/readyz) and exits 0 only on a 2xx answer: a HEALTHCHECK without a shell or curl.",
		flags:    func(func(string) string) *flag.FlagSet { fs, _ := healthcheckFlags(); return fs },
		examples: []string{`HEALTHCHECK CMD ["/copilot-proxy", "healthcheck", "http://127.0.0.1:8080/readyz"]`},
	}, {
		name: "completion", summary: "print a shell completion script: bash, zsh or fish",
		synopsis: "copilot-proxy completion bash|zsh|fish",
		desc:     "Prints a completion script for the shell, generated from the commands' own flags.",
		args:     completionShells,
		examples: []string{
			"source <(copilot-proxy completion bash)          # bash, this session; or save it in /etc/bash_completion.d/copilot-proxy",
			`copilot-proxy completion zsh > "${fpath[1]}/_copilot-proxy"   # zsh; or source <(copilot-proxy completion zsh)`,
			"copilot-proxy completion fish > ~/.config/fish/completions/copilot-proxy.fish",
		},
	}, {
		name: "version", summary: "print the version", synopsis: "copilot-proxy version",
		desc:     "Prints the version (stamped from git describe by make build and make release) and the Go toolchain and platform.",
		examples: []string{"copilot-proxy version"},
	}, {
		name: "help", summary: "show the overview, or a command's manual", synopsis: "copilot-proxy help [COMMAND [SUBCOMMAND]]",
		desc:     "Without a command, lists the commands; with one, prints its manual: options with their environment variables, files and examples.",
		examples: []string{"copilot-proxy help serve", "copilot-proxy help keys create"},
	}}
}
