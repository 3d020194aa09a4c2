package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
)

const keysUsage = `Usage: copilot-proxy keys COMMAND [flags]

Manage the client keys teammates use to call the gateway. Works on the same
database as a running "serve"; changes take effect there within a second.

Commands:
  create --name NAME [--rpm N] [--tpm N] [--concurrency N] [--models a,b] [--expires 30d|2027-01-31] [--json]
  list [--json]
  revoke ID|NAME
  rotate ID|NAME [--grace 24h] [--json]

Every command takes --db PATH (env COPILOT_PROXY_DB).
`

// optionalInt is a flag.Value for a limit that may be left unset (the server
// default applies) or set to a number (0 = unlimited).
type optionalInt struct{ v *int }

func (o *optionalInt) String() string {
	if o == nil || o.v == nil {
		return ""
	}
	return strconv.Itoa(*o.v)
}

func (o *optionalInt) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return errors.New("want a whole number ≥ 0 (0 = unlimited)")
	}
	o.v = &n
	return nil
}

// dbFlag declares --db on fs with the default location.
func dbFlag(fs *flag.FlagSet, getenv func(string) string) *string {
	return fs.String("db", keys.DefaultPath(getenv), "key store database file")
}

// openStore opens the key store for a CLI command. Its background work is
// short-lived: the command closes it (flushing nothing but what it wrote).
func openStore(ctx context.Context, path string) (*keys.Store, error) {
	return keys.Open(ctx, path, keys.Options{Logger: zerolog.Nop()})
}

func runKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) == 0 {
			fmt.Fprint(stderr, keysUsage)
			return fmt.Errorf("%w: keys needs a command: create, list, revoke or rotate", errUsage)
		}
		fmt.Fprint(stdout, keysUsage)
		return nil
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "create":
		return runKeysCreate(ctx, args, getenv, stdout)
	case "list", "ls":
		return runKeysList(ctx, args, getenv, stdout)
	case "revoke":
		return runKeysRevoke(ctx, args, getenv, stdout)
	case "rotate":
		return runKeysRotate(ctx, args, getenv, stdout)
	default:
		fmt.Fprint(stderr, keysUsage)
		return fmt.Errorf("%w: unknown keys command %q", errUsage, cmd)
	}
}

// splitTarget takes the one positional ID|NAME argument, which may come
// before or after the flags.
func splitTarget(args []string) (string, []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}

func runKeysCreate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("keys create", flag.ContinueOnError)
	db := dbFlag(fs, getenv)
	name := fs.String("name", "", "a unique name for the key, e.g. the teammate or tool (required)")
	var rpm, tpm, conc optionalInt
	fs.Var(&rpm, "rpm", "requests per minute for this key (default: the server's --key-rpm; 0 = unlimited)")
	fs.Var(&tpm, "tpm", "tokens per minute for this key (default: the server's --key-tpm; 0 = unlimited)")
	fs.Var(&conc, "concurrency", "max concurrent requests for this key (default: the server's --key-concurrency; 0 = unlimited)")
	models := fs.String("models", "", "comma-separated models this key may use (default: all)")
	expires := fs.String("expires", "", "expiry: a duration such as 30d, 12h, 2w, or a date 2027-01-31")
	asJSON := fs.Bool("json", false, "print JSON")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: copilot-proxy keys create --name NAME [flags]")
		fs.PrintDefaults()
	}
	if done, err := parseFlags(fs, args, stdout); done || err != nil {
		return err
	}
	if err := applyEnv(fs, getenv, "db"); err != nil {
		return err
	}
	if strings.TrimSpace(*name) == "" {
		return fmt.Errorf("%w: --name is required", errUsage)
	}
	p := keys.CreateParams{Name: *name, RPM: rpm.v, TPM: tpm.v, Concurrency: conc.v, Models: splitList(*models)}
	if *expires != "" {
		at, err := keys.ParseExpiry(*expires, time.Now())
		if err != nil {
			return fmt.Errorf("%w: invalid --expires %q: %v", errUsage, *expires, err)
		}
		p.ExpiresAt = &at
	}
	st, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	created, err := st.Create(ctx, p)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, created)
	}
	fmt.Fprintf(stdout, "Created key %q (%s).\n\n  %s\n\nThis is the only time the key is shown: give it to its user now.\n", created.Name, created.ID, created.Secret)
	fmt.Fprintf(stdout, "Use it as \"Authorization: Bearer <key>\" (OpenAI SDKs: api_key) or \"x-api-key: <key>\".\n")
	fmt.Fprintf(stdout, "Limits: %s\n", describeLimits(created.Key))
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func describeLimits(k keys.Key) string {
	lim := func(v *int, unit string) string {
		switch {
		case v == nil:
			return "server default " + unit
		case *v == 0:
			return "unlimited " + unit
		}
		return strconv.Itoa(*v) + " " + unit
	}
	parts := []string{lim(k.RPM, "requests/min"), lim(k.TPM, "tokens/min"), lim(k.Concurrency, "concurrent")}
	if len(k.Models) > 0 {
		parts = append(parts, "models "+strings.Join(k.Models, ","))
	} else {
		parts = append(parts, "all models")
	}
	if k.ExpiresAt != nil {
		parts = append(parts, "expires "+k.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return strings.Join(parts, "; ")
}

func runKeysList(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("keys list", flag.ContinueOnError)
	db := dbFlag(fs, getenv)
	asJSON := fs.Bool("json", false, "print JSON")
	fs.Usage = func() { fmt.Fprintln(fs.Output(), "Usage: copilot-proxy keys list [--json]"); fs.PrintDefaults() }
	if done, err := parseFlags(fs, args, stdout); done || err != nil {
		return err
	}
	if err := applyEnv(fs, getenv, "db"); err != nil {
		return err
	}
	st, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	list, err := st.List(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		if list == nil {
			list = []keys.KeyWithUsage{}
		}
		return writeJSON(stdout, list)
	}
	if len(list) == 0 {
		fmt.Fprintln(stdout, "No keys yet. Create one with: copilot-proxy keys create --name NAME")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tHINT\tSTATUS\tREQUESTS\tPROMPT TOK\tCOMPL TOK\tLAST USED\tLIMITS")
	now := time.Now()
	for _, k := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", k.ID, k.Name, k.Hint, keyStatus(k.Key, now),
			k.Requests, k.PromptTokens, k.CompletionTokens, fmtTime(k.LastUsed), describeLimits(k.Key))
	}
	return tw.Flush()
}

func keyStatus(k keys.Key, now time.Time) string {
	switch {
	case k.RevokedAt != nil:
		return "revoked"
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return "expired"
	}
	return "active"
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04")
}

func runKeysRevoke(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	target, args := splitTarget(args)
	fs := flag.NewFlagSet("keys revoke", flag.ContinueOnError)
	db := dbFlag(fs, getenv)
	asJSON := fs.Bool("json", false, "print JSON")
	fs.Usage = func() { fmt.Fprintln(fs.Output(), "Usage: copilot-proxy keys revoke ID|NAME"); fs.PrintDefaults() }
	if done, err := parseFlags(fs, args, stdout); done || err != nil {
		return err
	}
	if err := applyEnv(fs, getenv, "db"); err != nil {
		return err
	}
	if target == "" {
		return fmt.Errorf("%w: keys revoke needs the key's ID or NAME", errUsage)
	}
	st, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	k, err := st.Revoke(ctx, target)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, k)
	}
	fmt.Fprintf(stdout, "Revoked key %q (%s). A running gateway refuses it within a second.\n", k.Name, k.ID)
	return nil
}

func runKeysRotate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	target, args := splitTarget(args)
	fs := flag.NewFlagSet("keys rotate", flag.ContinueOnError)
	db := dbFlag(fs, getenv)
	grace := graceFlag(24 * time.Hour)
	fs.Var(&grace, "grace", "how long the old secret keeps working, e.g. 24h, 7d (0s cuts it off at once)")
	asJSON := fs.Bool("json", false, "print JSON")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: copilot-proxy keys rotate ID|NAME [--grace 24h] [--json]")
		fs.PrintDefaults()
	}
	if done, err := parseFlags(fs, args, stdout); done || err != nil {
		return err
	}
	if err := applyEnv(fs, getenv, "db"); err != nil {
		return err
	}
	if target == "" {
		return fmt.Errorf("%w: keys rotate needs the key's ID or NAME", errUsage)
	}

	st, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	created, err := st.Rotate(ctx, target, time.Duration(grace))
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, created)
	}
	fmt.Fprintf(stdout, "New secret for key %q (%s):\n\n  %s\n\nThis is the only time it is shown. ", created.Name, created.ID, created.Secret)
	if grace == 0 {
		fmt.Fprintln(stdout, "The old secret no longer works.")
	} else {
		fmt.Fprintf(stdout, "The old secret keeps working for %s.\n", time.Duration(grace))
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// graceFlag is a duration flag that also takes days and weeks (7d, 2w).
type graceFlag time.Duration

func (g *graceFlag) String() string { return time.Duration(*g).String() }

func (g *graceFlag) Set(s string) error {
	d, err := keys.ParseDuration(s)
	if err != nil {
		return errors.New("want a duration such as 24h, 7d or 0s")
	}
	*g = graceFlag(d)
	return nil
}
