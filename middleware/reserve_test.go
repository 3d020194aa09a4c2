package middleware

import (
	"net/http"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// keyTokens is the sum in keyID's tokens window, pruned at the limiter's now.
func keyTokens(l *Limiter, keyID string) int64 {
	m := memOf(l)
	c := m.state(keyID)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prune(m.elapsed())
	return c.toks.sum
}

func TestTokWindowRemove(t *testing.T) {
	t.Parallel()
	var w tokWindow
	at := w.add(0, 10)
	w.add(int64(tokenBucket)/2, 5) // merged into the same slot
	w.remove(at, 10)
	if w.sum != 5 || w.q.len() != 1 {
		t.Fatalf("after removing from a merged slot: sum %d, %d entries; want 5, 1", w.sum, w.q.len())
	}
	at2 := w.add(3*int64(tokenBucket), 7)
	w.remove(at2, 7)
	if w.sum != 5 || w.q.len() != 1 {
		t.Fatalf("an emptied entry stays: sum %d, %d entries", w.sum, w.q.len())
	}
	w.prune(int64(rateWindow) + int64(tokenBucket))
	w.remove(at, 5) // already left the window: nothing to take back
	if w.sum != 0 || w.q.len() != 0 {
		t.Fatalf("remove after prune: sum %d, %d entries", w.sum, w.q.len())
	}
}

func TestTokWindowWaitAtMost(t *testing.T) {
	t.Parallel()
	var w tokWindow
	w.add(0, 30)
	w.add(int64(10*time.Second), 20)
	now := int64(20 * time.Second)
	if d := w.waitAtMost(50, now); d != 0 {
		t.Errorf("waitAtMost(50) = %v, want 0", d)
	}
	if d := w.waitAtMost(20, now); d != 40*time.Second {
		t.Errorf("waitAtMost(20) = %v, want 40s", d)
	}
	if d := w.waitAtMost(10, now); d != 50*time.Second {
		t.Errorf("waitAtMost(10) = %v, want 50s", d)
	}
}

// The estimate is reserved while the request runs, then replaced by the
// real usage; a request that records none leaves nothing.
func TestReserveTokensSettlesToUsage(t *testing.T) {
	t.Parallel()
	l, _ := newTestLimiter(t, LimitConfig{KeyTPM: 100})
	p := &Principal{KeyID: "k"}
	for _, tc := range []struct {
		name  string
		usage [2]int
		want  int64
	}{{"real usage", [2]int{4, 3}, 7}, {"no usage", [2]int{}, 7}} {
		var during int64
		before := keyTokens(l, "k")
		res := limitChain(l, p, func(w http.ResponseWriter, r *http.Request) {
			// 40 bytes = 10 tokens of prompt, plus 30 of output.
			if !ReserveTokens(w, r, 40, func() int64 { return 30 }) {
				t.Errorf("%s: refused", tc.name)
			}
			during = keyTokens(l, "k")
			EntryFrom(r.Context()).SetUsage(api.Usage{PromptTokens: int64(tc.usage[0]), CompletionTokens: int64(tc.usage[1])})
		})()
		if during != before+40 {
			t.Errorf("%s: window during the request %d, want %d", tc.name, during, before+40)
		}
		if got := keyTokens(l, "k"); got != tc.want {
			t.Errorf("%s: window after the request %d, want %d", tc.name, got, tc.want)
		}
		if res.rec.Code != http.StatusOK {
			t.Errorf("%s: status %d", tc.name, res.rec.Code)
		}
	}
}

// A reservation is capped at the limit: a request estimated above the whole
// limit passes on an empty window, and the next one waits for it.
func TestReserveTokensLargerThanLimit(t *testing.T) {
	t.Parallel()
	l, _ := newTestLimiter(t, LimitConfig{KeyTPM: 100})
	p := &Principal{KeyID: "k"}
	hc := newHoldChain(t, l)
	reserve := func(w http.ResponseWriter, r *http.Request) bool {
		return ReserveTokens(w, r, 4000, nil) // 1,000 tokens
	}
	hc.wg.Add(1)
	go func() {
		defer hc.wg.Done()
		limitChain(l, p, func(w http.ResponseWriter, r *http.Request) {
			if !reserve(w, r) {
				t.Error("a request larger than the limit was refused on an empty window")
			}
			hc.entered <- struct{}{}
			<-hc.release
		})()
	}()
	<-hc.entered
	if got := keyTokens(l, "k"); got != 100 {
		t.Fatalf("reserved %d, want the limit, 100", got)
	}
	res := limitChain(l, p, func(w http.ResponseWriter, r *http.Request) {
		if reserve(w, r) {
			t.Error("second request admitted over a full reservation")
		}
	})()
	// Refused by the admission check (the window is full) or by the reservation.
	if res.rec.Code != http.StatusTooManyRequests || res.reason != ReasonTPM || res.rec.Header().Get("Retry-After") == "" {
		t.Fatalf("second request: %d %q Retry-After %q", res.rec.Code, res.reason, res.rec.Header().Get("Retry-After"))
	}
}

// Without a token limit ReserveTokens does nothing.
func TestReserveTokensUnlimited(t *testing.T) {
	t.Parallel()
	l, _ := newTestLimiter(t, LimitConfig{KeyRPM: 10})
	res := limitChain(l, &Principal{KeyID: "k"}, func(w http.ResponseWriter, r *http.Request) {
		if !ReserveTokens(w, r, 1<<20, func() int64 { return 1 << 20 }) {
			t.Error("refused without a token limit")
		}
	})()
	if res.rec.Code != http.StatusOK || keyTokens(l, "k") != 0 {
		t.Fatalf("status %d, window %d", res.rec.Code, keyTokens(l, "k"))
	}
}

// A reservation the window cannot take is refused with the token headers
// and a Retry-After for when it fits.
func TestReserveTokensRefused(t *testing.T) {
	t.Parallel()
	l, _ := newTestLimiter(t, LimitConfig{KeyTPM: 50})
	addTestTokens(l, "k", 30)
	res := limitChain(l, &Principal{KeyID: "k"}, func(w http.ResponseWriter, r *http.Request) {
		if ReserveTokens(w, r, 0, func() int64 { return 25 }) {
			t.Error("reservation of 25 admitted with 30 of 50 used")
		}
	})()
	h := res.rec.Header()
	if res.rec.Code != http.StatusTooManyRequests || res.reason != ReasonTPM || h.Get("Retry-After") != "60" ||
		h.Get(headerRemainingTokens) != "20" || h.Get(headerLimitTokens) != "50" {
		t.Fatalf("got %d %q, headers %v", res.rec.Code, res.reason, h)
	}
}
