package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/credits"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
)

const keysUsage = `Usage: copilot-proxy keys COMMAND [flags]

Manage the client keys teammates use to call the gateway. Works on the same
database as a running "serve"; changes take effect there within a second.

Commands:
  create --name NAME [--rpm N] [--tpm N] [--concurrency N] [--models a,b]
         [--budget CREDITS [--budget-period day|week|month]] [--expires 30d|2027-01-31] [--json]
  list [--json]
  update ID|NAME [--rpm N|default] [--tpm N|default] [--concurrency N|default] [--models a,b|all]
         [--budget CREDITS|none] [--budget-period day|week|month] [--expires 30d|2027-01-31|never] [--json]
  revoke ID|NAME
  rotate ID|NAME [--grace 24h] [--json]

A budget caps the AI credits (1 credit = $0.01) a key spends per UTC day,
week (from Monday) or month; the month follows the account's quota reset
date when the server knows it.

Every command takes --db PATH (env COPILOT_PROXY_DB) or --database-url URL
(env COPILOT_PROXY_DATABASE_URL, e.g. postgres://… shared by several instances),
or --config FILE to take them from serve's config file.
`

// storeCmd is a command on the key store: its flags, with --db and --json
// declared for it.
type storeCmd struct {
	*flag.FlagSet
	db, dbURL *string
	asJSON    *bool
}

func newStoreCmd(name, usage string, getenv func(string) string) storeCmd {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	c := storeCmd{FlagSet: fs, db: fs.String("db", keys.DefaultPath(getenv), "key store database `file`")}
	c.dbURL = fs.String("database-url", "", "key store URL instead of --db: postgres://… (as serve's) or sqlite://PATH")
	c.asJSON = fs.Bool("json", false, "print JSON")
	configFlag(fs) // only its db and database-url settings are read (parse)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), usage); fs.PrintDefaults() }
	return c
}

// parse parses args (help goes to stdout; --db may come from the
// environment). done reports that help was shown.
func (c storeCmd) parse(args []string, getenv func(string) string, stdout io.Writer) (done bool, err error) {
	if done, err := parseFlags(c.FlagSet, args, stdout); done || err != nil {
		return done, err
	}
	_, err = applySettings(c.FlagSet, getenv, storeEnv...)
	return false, err
}

// open opens the key store. Its background work is short-lived: the
// command closes it (flushing nothing but what it wrote).
func (c storeCmd) open(ctx context.Context) (*keys.Store, error) {
	return keys.OpenURL(ctx, storeURL(*c.dbURL, *c.db), keys.Options{Logger: zerolog.Nop()})
}

// print writes v as JSON with --json, else calls text.
func (c storeCmd) print(stdout io.Writer, v any, text func()) error {
	if *c.asJSON {
		return writeJSON(stdout, v)
	}
	text()
	return nil
}

func runKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) == 0 {
			fmt.Fprint(stderr, keysUsage)
			return fmt.Errorf("%w: keys needs a command: create, list, update, revoke or rotate", errUsage)
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
	case "update":
		return runKeysUpdate(ctx, args, getenv, stdout)
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

// keysCreateArgs holds keys create's flag values.
type keysCreateArgs struct {
	name, models, expires *string
	rpm, tpm, conc        keys.Limit
	budget                *keys.ChangeFlag[int64]
	period                *keys.ChangeFlag[credits.Period]
}

// keysCreateFlags declares keys create's flags.
func keysCreateFlags(getenv func(string) string) (storeCmd, *keysCreateArgs) {
	fs := newStoreCmd("keys create", "Usage: copilot-proxy keys create --name NAME [flags]", getenv)
	a := &keysCreateArgs{budget: keys.BudgetFlag(), period: keys.PeriodFlag()}
	a.name = fs.String("name", "", "a unique name for the key, e.g. the teammate or tool (required)")
	fs.Var(&a.rpm, "rpm", "requests per minute for this key (default: the server's --key-rpm; 0 = unlimited)")
	fs.Var(&a.tpm, "tpm", "tokens per minute for this key (default: the server's --key-tpm; 0 = unlimited)")
	fs.Var(&a.conc, "concurrency", "max concurrent requests for this key (default: the server's --key-concurrency; 0 = unlimited)")
	a.models = fs.String("models", "", "comma-separated models this key may use (default: all)")
	a.expires = fs.String("expires", "", "expiry: a duration such as 30d, 12h, 2w, or a date 2027-01-31")
	fs.Var(a.budget, "budget", budgetHelp+" (default: no budget)")
	fs.Var(a.period, "budget-period", periodHelp+" (default month)")
	return fs, a
}

// params checks keys create's flags and turns them into the store's
// parameters; --expires durations count from now.
func (a *keysCreateArgs) params(now time.Time) (keys.CreateParams, error) {
	if strings.TrimSpace(*a.name) == "" {
		return keys.CreateParams{}, fmt.Errorf("%w: --name is required", errUsage)
	}
	p := keys.CreateParams{Name: *a.name, RPM: a.rpm.V, TPM: a.tpm.V, Concurrency: a.conc.V,
		Models: keys.ParseModels(*a.models), Budget: a.budget.Change.Value}
	if a.period.Change.Set {
		// The store would refuse it too, but as a usage error it names the flag.
		if p.Budget == nil {
			return p, fmt.Errorf("%w: --budget-period needs --budget", errUsage)
		}
		p.BudgetPeriod = *a.period.Change.Value
	}
	if *a.expires != "" {
		at, err := keys.ParseExpiry(*a.expires, now)
		if err != nil {
			return p, fmt.Errorf("%w: invalid --expires %q: %v", errUsage, *a.expires, err)
		}
		p.ExpiresAt = &at
	}
	return p, nil
}

func runKeysCreate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs, a := keysCreateFlags(getenv)
	if done, err := fs.parse(args, getenv, stdout); done || err != nil {
		return err
	}
	p, err := a.params(time.Now())
	if err != nil {
		return err
	}
	st, err := fs.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	created, err := st.Create(ctx, p)
	if err != nil {
		return err
	}
	return fs.print(stdout, created, func() {
		fmt.Fprintf(stdout, "Created key %q (%s).\n\n  %s\n\nThis is the only time the key is shown: give it to its user now.\n", created.Name, created.ID, created.Secret)
		fmt.Fprintf(stdout, "Use it as \"Authorization: Bearer <key>\" (OpenAI SDKs: api_key) or \"x-api-key: <key>\".\n")
		fmt.Fprintf(stdout, "Limits: %s\n", created.LimitsText())
	})
}

// The help of the budget flags, shared by create and update.
const (
	budgetHelp = "AI `credits` the key may spend per --budget-period, e.g. 50 or 12.5 (1 credit = $0.01)"
	periodHelp = "budget `period`: day, week or month, in UTC; month follows the account's quota reset date when the server knows it"
)

func runKeysList(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := keysListFlags(getenv)
	if done, err := fs.parse(args, getenv, stdout); done || err != nil {
		return err
	}
	st, err := fs.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	list, err := st.List(ctx, time.Time{})
	if err != nil {
		return err
	}
	if *fs.asJSON {
		return writeJSON(stdout, append([]keys.KeyWithUsage{}, list...))
	}
	if len(list) == 0 {
		fmt.Fprintln(stdout, "No keys yet. Create one with: copilot-proxy keys create --name NAME")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tHINT\tSTATUS\tREQUESTS\tPROMPT TOK\tCOMPL TOK\tSPENT\tBUDGET\tLAST USED\tLIMITS")
	now := time.Now()
	for _, k := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Hint, k.State(now),
			k.Requests, k.PromptTokens, k.CompletionTokens, credits.Format(int64(k.PeriodCredits)), k.BudgetText(),
			fmtTime(k.LastUsed), k.LimitsText())
	}
	return tw.Flush()
}

// keysListFlags declares keys list's flags.
func keysListFlags(getenv func(string) string) storeCmd {
	return newStoreCmd("keys list", keysListUsage, getenv)
}

const keysListUsage = `Usage: copilot-proxy keys list [--json]

Lists every key with its all-time requests and tokens. SPENT is the AI
credits spent in the key's current budget period (this calendar month for a
key without a budget); BUDGET is its budget per period, "-" for none. Months
here are calendar months: the quota reset date the server may count from is
only known to a running server.`

func fmtTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04")
}

const keysUpdateUsage = `Usage: copilot-proxy keys update ID|NAME [flags] [--json]

Changes only the settings given; the others stay as they are. A running
gateway applies the change within a second.`

// keysUpdateFlags declares keys update's flags.
func keysUpdateFlags(getenv func(string) string) (storeCmd, updateFlags) {
	fs := newStoreCmd("keys update", keysUpdateUsage, getenv)
	return fs, newUpdateFlags(fs.FlagSet)
}

func runKeysUpdate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	target, args := splitTarget(args)
	fs, f := keysUpdateFlags(getenv)
	if done, err := fs.parse(args, getenv, stdout); done || err != nil {
		return err
	}
	if target == "" {
		return fmt.Errorf("%w: keys update needs the key's ID or NAME", errUsage)
	}
	given := false
	fs.Visit(func(fl *flag.Flag) {
		given = given || !slices.Contains(storeEnv, fl.Name) && fl.Name != "json"
	})
	if !given {
		return fmt.Errorf("%w: keys update needs a setting to change: --rpm, --tpm, --concurrency, --models, --budget, --budget-period or --expires", errUsage)
	}
	st, err := fs.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	k, err := st.Update(ctx, target, f.params())
	if err != nil {
		return err
	}
	return fs.print(stdout, k, func() {
		fmt.Fprintf(stdout, "Updated key %q (%s). A running gateway applies the change within a second.\n", k.Name, k.ID)
		fmt.Fprintf(stdout, "Limits: %s\n", k.LimitsText())
	})
}

// updateFlags are the settings keys update can change, each left unset
// unless its flag is given.
type updateFlags struct {
	rpm, tpm, conc *keys.ChangeFlag[int]
	models         *keys.ChangeFlag[[]string]
	budget         *keys.ChangeFlag[int64]
	period         *keys.ChangeFlag[credits.Period]
	expires        *keys.ChangeFlag[time.Time]
}

func newUpdateFlags(fs *flag.FlagSet) updateFlags {
	f := updateFlags{rpm: keys.LimitFlag(), tpm: keys.LimitFlag(), conc: keys.LimitFlag(), models: keys.ModelsFlag(),
		budget: keys.BudgetFlag(), period: keys.PeriodFlag(), expires: keys.ExpiryFlag(nil)}
	fs.Var(f.rpm, "rpm", "requests per minute, a whole `number` (0 = unlimited), or default for the server's --key-rpm")
	fs.Var(f.tpm, "tpm", "tokens per minute, a whole `number` (0 = unlimited), or default for the server's --key-tpm")
	fs.Var(f.conc, "concurrency", "max concurrent requests, a whole `number` (0 = unlimited), or default for the server's --key-concurrency")
	fs.Var(f.models, "models", "comma-separated `models` this key may use, or all")
	fs.Var(f.budget, "budget", budgetHelp+", or none to remove the budget")
	fs.Var(f.period, "budget-period", periodHelp+" (the key needs a budget)")
	fs.Var(f.expires, "expires", "`expiry`: a duration from now such as 30d, 12h, 2w, a date 2027-01-31, or never")
	return f
}

func (f updateFlags) params() keys.UpdateParams {
	return keys.UpdateParams{RPM: f.rpm.Change, TPM: f.tpm.Change, Concurrency: f.conc.Change, Models: f.models.Change,
		Budget: f.budget.Change, BudgetPeriod: f.period.Change, ExpiresAt: f.expires.Change}
}

// keysRevokeFlags declares keys revoke's flags.
func keysRevokeFlags(getenv func(string) string) storeCmd {
	return newStoreCmd("keys revoke", "Usage: copilot-proxy keys revoke ID|NAME", getenv)
}

func runKeysRevoke(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	target, args := splitTarget(args)
	fs := keysRevokeFlags(getenv)
	if done, err := fs.parse(args, getenv, stdout); done || err != nil {
		return err
	}
	if target == "" {
		return fmt.Errorf("%w: keys revoke needs the key's ID or NAME", errUsage)
	}
	st, err := fs.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	k, err := st.Revoke(ctx, target)
	if err != nil {
		return err
	}
	return fs.print(stdout, k, func() {
		fmt.Fprintf(stdout, "Revoked key %q (%s). A running gateway refuses it within a second.\n", k.Name, k.ID)
	})
}

// keysRotateFlags declares keys rotate's flags.
func keysRotateFlags(getenv func(string) string) (storeCmd, *keys.Grace) {
	fs := newStoreCmd("keys rotate", "Usage: copilot-proxy keys rotate ID|NAME [--grace 24h] [--json]", getenv)
	grace := keys.Grace(24 * time.Hour)
	fs.Var(&grace, "grace", "how long the old secret keeps working, e.g. 24h, 7d (0s cuts it off at once)")
	return fs, &grace
}

func runKeysRotate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	target, args := splitTarget(args)
	fs, gracep := keysRotateFlags(getenv)
	if done, err := fs.parse(args, getenv, stdout); done || err != nil {
		return err
	}
	if target == "" {
		return fmt.Errorf("%w: keys rotate needs the key's ID or NAME", errUsage)
	}
	grace := *gracep
	st, err := fs.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	created, err := st.Rotate(ctx, target, time.Duration(grace))
	if err != nil {
		return err
	}
	return fs.print(stdout, created, func() {
		fmt.Fprintf(stdout, "New secret for key %q (%s):\n\n  %s\n\nThis is the only time it is shown. ", created.Name, created.ID, created.Secret)
		if grace == 0 {
			fmt.Fprintln(stdout, "The old secret no longer works.")
		} else {
			fmt.Fprintf(stdout, "The old secret keeps working for %s.\n", time.Duration(grace))
		}
	})
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
