package redislimits

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/credits"
	"github.com/copilot-proxy/copilot-proxy/internal/redistest"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// keySlot is Redis Cluster's slot of key: CRC16 (XMODEM) of its hash tag
// (the first non-empty {…}), or of the whole key, mod 16384.
func keySlot(key string) uint16 {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for k := 0; k < len(key); k++ {
		crc ^= uint16(key[k]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % 16384
}

// sameSlot fails t unless every key is in one cluster slot.
func sameSlot(t *testing.T, what string, keys []string) {
	t.Helper()
	for _, k := range keys {
		if keySlot(k) != keySlot(keys[0]) {
			t.Errorf("%s: %q (slot %d) and %q (slot %d) differ", what, keys[0], keySlot(keys[0]), k, keySlot(k))
		}
	}
}

// Every key one script touches is in one slot, so the scripts run on Redis
// Cluster; without global limits keys spread over slots.
func TestKeysShareOneSlotPerScript(t *testing.T) {
	t.Parallel()
	if keySlot("123456789") != 0x31C3 { // the CRC16/XMODEM check value
		t.Fatalf("keySlot is wrong: %x", keySlot("123456789"))
	}
	c := &Client{cfg: withDefaults(Config{})}
	for _, global := range []bool{true, false} {
		for _, id := range []string{"key_a", "key_b", "we{ird}:id"} {
			n := c.limitNames(id, global, true)
			sameSlot(t, "admission", n.all[:])
			sameSlot(t, "reservation", n.tok[:])
		}
	}
	a, b := c.limitNames("key_a", false, true), c.limitNames("key_b", false, true)
	if keySlot(a.all[3]) == keySlot(b.all[3]) {
		t.Error("without global limits two keys share a slot")
	}
	start, end := credits.Month.Bounds(time.Now(), time.Time{})
	key := middleware.BudgetSpec{KeyID: "key_a", Limit: 1, Period: credits.Month, Start: start, End: end}
	glob := key
	glob.KeyID = ""
	sameSlot(t, "key and global budget", c.budgetKeys([]middleware.BudgetSpec{key, glob}))
	sameSlot(t, "key budget", c.budgetKeys([]middleware.BudgetSpec{key}))
}

func TestEscapeID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"key_AbC-1.2": "key_AbC-1.2",
		"a}b":         "~617d62",
		"x:y":         "~783a79",
		"":            "",
	} {
		if got := escapeID(in); got != want {
			t.Errorf("escapeID(%q) = %q, want %q", in, got, want)
		}
	}
}

// Counters expire when idle, so Redis's memory follows the active keys; a
// budget's keys live until its period ends (plus a margin).
func TestIdleKeysExpire(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	in := newInstance(t, srv, middleware.LimitConfig{KeyRPM: 10, KeyTPM: 1000, KeyConcurrency: 2, GlobalRPM: 100, GlobalConcurrency: 10},
		middleware.BudgetConfig{})
	p := &middleware.Principal{KeyID: "key_i", HasBudget: true, Budget: 10 * credits.Nano}
	for range 3 {
		rec := in.serve(p, api.ShapeOpenAI, func(w http.ResponseWriter, r *http.Request) {
			middleware.ReserveTokens(w, r, 400, nil)
			middleware.ReserveCredits(w, r, credits.Nano)
			middleware.EntryFrom(r.Context()).SetUsage(api.Usage{PromptTokens: 50})
			middleware.EntryFrom(r.Context()).SetCost(credits.Nano/2, string(credits.Reported))
		})
		if rec.Code != 200 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	ctx := context.Background()
	rdb := in.c.rdb
	keys := rdb.Keys(ctx, "*").Val()
	if len(keys) < 5 {
		t.Fatalf("keys %v", keys)
	}
	for _, k := range keys {
		ttl := rdb.PTTL(ctx, k).Val()
		if ttl <= 0 {
			t.Errorf("%s has no expiry (%v)", k, ttl)
		}
		if strings.Contains(k, ":b:") && ttl < budgetMargin {
			t.Errorf("budget key %s expires in %v, before its period ends", k, ttl)
		}
		if !strings.Contains(k, ":b:") && ttl > testWindow+time.Second {
			t.Errorf("counter %s expires in %v, later than the window + 1s", k, ttl)
		}
	}
	eventually(t, testWindow+3*time.Second, "counters gone", func() bool {
		for _, k := range rdb.Keys(ctx, "*").Val() {
			if !strings.Contains(k, ":b:") {
				return false
			}
		}
		return true
	})
	if left := rdb.Keys(ctx, "*").Val(); len(left) != 1 { // the budget's hash (its reservations ended)
		t.Errorf("left after idling: %v", left)
	}
}
