package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/copilot"
	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
)

func TestQuotaEndpointReflectsUpstreamHeaders(t *testing.T) {
	fake := copilottest.New(t)
	fake.SetQuotaHeader("premium_interactions", "ent=300&ov=0.0&ovPerm=false&rem=5.0&rst=2026-12-01T00%3A00%3A00Z")
	g, db := startTeamGateway(t, fake, nil)
	k := createKey(t, db, "--name", "quota")

	getQuota := func(key string) (int, copilot.QuotaReport) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, g.URL+"/v1/usage/quota", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := g.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var r copilot.QuotaReport
		if resp.StatusCode == 200 {
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatalf("quota body %s: %v", b, err)
			}
		}
		return resp.StatusCode, r
	}
	if status, _ := getQuota(""); status != http.StatusUnauthorized {
		t.Fatalf("quota without a key: %d, want 401", status)
	}
	eventually(t, "key loaded and the account quota fetched", func() bool {
		status, r := getQuota(k.Key)
		return status == 200 && r.Account != nil
	})
	_, before := getQuota(k.Key)
	if before.Headers != nil {
		t.Fatalf("header snapshot before any inference: %+v", before.Headers)
	}
	if before.Account.Plan != "business" || before.Account.Quota.PremiumInteractions == nil || before.Account.Quota.PremiumInteractions.Entitlement != 300 {
		t.Fatalf("account quota: %+v", before.Account)
	}

	for i := 0; i < 3; i++ {
		if s := g.chat(t, "Authorization", "Bearer "+k.Key, "gpt-4o").StatusCode; s != 200 {
			t.Fatalf("chat: %d", s)
		}
	}
	_, after := getQuota(k.Key)
	snap, ok := after.Headers.Snapshots["premium_interactions"]
	if !ok || snap.PercentRemaining != 5 || snap.Entitlement != 300 || after.Headers.ObservedAt.IsZero() {
		t.Fatalf("header snapshot: %+v", after.Headers)
	}
	if n := strings.Count(g.Logs.String(), "premium requests are running out"); n != 1 {
		t.Fatalf("low-quota warning logged %d times, want once", n)
	}
}
