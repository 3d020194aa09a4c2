package api_test

import (
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api"
)

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"plain message":                               "plain message",
		"the token expired":                           "the token expired",
		"bad token ghu_abcdefghijklmnopqrst":          "bad token [redacted]",
		"key gho_ABCDEFGH12345678, retry":             "key [redacted], retry",
		"pat github_pat_11ABCDEFG0123456789_abcdefgh": "pat [redacted]",
		"Authorization: Bearer tid=1;exp=2;sku=free_limited_copilot;proxy-ep=proxy.individual.githubcopilot.com:abcdef0123": "Authorization: Bearer [redacted]",
		"Authorization: token 0123456789abcdef0123": "Authorization: token [redacted]",
		"short ghp_abc":                    "short ghp_abc",
		"inside xghp_abcdefghijklmnop":     "inside xghp_abcdefghijklmnop",
		"tid=abcdefgh;exp=123:mac in text": "[redacted] in text",
	}
	for in, want := range tests {
		if got := api.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
