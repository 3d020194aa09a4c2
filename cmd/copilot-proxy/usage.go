package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/copilot-proxy/copilot-proxy/credits"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
)

// usageFlags declares the usage command's flags.
func usageFlags(getenv func(string) string) (fs storeCmd, key, since *string) {
	fs = newStoreCmd("usage", "Usage: copilot-proxy usage [--key ID|NAME] [--since 7d] [--json]\n\nRequests, tokens, credits and errors by key, model and day (UTC). CREDITS is\nthe AI credits the requests cost (1 credit = $0.01).", getenv)
	key = fs.String("key", "", "only this key (ID or NAME)")
	since = fs.String("since", "", "only days since: a duration such as 7d, 24h, or a date 2026-11-01 (default: all)")
	return fs, key, since
}

func runUsage(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs, key, since := usageFlags(getenv)
	if done, err := fs.parse(args, getenv, stdout); done || err != nil {
		return err
	}
	q := keys.UsageQuery{Key: *key}
	if *since != "" {
		t, err := keys.ParseSince(*since, time.Now())
		if err != nil {
			return fmt.Errorf("%w: invalid --since %q: %v", errUsage, *since, err)
		}
		q.Since = t
	}
	st, err := fs.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if q.Key != "" {
		if _, err := st.Get(ctx, q.Key); err != nil {
			return err
		}
	}
	rows, err := st.Usage(ctx, q)
	if err != nil {
		return err
	}
	if *fs.asJSON {
		return writeJSON(stdout, append([]keys.UsageRow{}, rows...))
	}
	if len(rows) == 0 {
		fmt.Fprintln(stdout, "No usage recorded for that selection.")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "DAY\tKEY\tMODEL\tREQUESTS\tPROMPT TOK\tCOMPL TOK\tCREDITS\tERRORS\t")
	var tr, tp, tc, tn, te int64
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%d\t\n", r.Day, r.KeyName, r.Model,
			r.Requests, r.PromptTokens, r.CompletionTokens, credits.Format(r.CreditsNano), r.Errors)
		tr, tp, tc, te = tr+r.Requests, tp+r.PromptTokens, tc+r.CompletionTokens, te+r.Errors
		tn += r.CreditsNano // exact: summed in nano-credits, formatted once
	}
	fmt.Fprintf(tw, "total\t\t\t%d\t%d\t%d\t%s\t%d\t\n", tr, tp, tc, credits.Format(tn), te)
	return tw.Flush()
}
