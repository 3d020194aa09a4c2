package gateway_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/gateway"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// tpmGateway serves a gateway whose one key has a tokens-per-minute limit
// of tpm; chat calls reach up. It returns the server and the key's secret.
func tpmGateway(t *testing.T, tpm int, up upstreamFunc) (string, string) {
	t.Helper()
	st := openStore(t)
	k, err := st.Create(context.Background(), keys.CreateParams{Name: "tpm", TPM: &tpm})
	if err != nil {
		t.Fatal(err)
	}
	lim := middleware.NewLimiter(middleware.LimitConfig{})
	t.Cleanup(lim.Close)
	ts := start(t, up, func(d *gateway.Deps) { d.Keys = st; d.Limiter = lim })
	return ts.URL, k.Secret
}

func keyCall(t *testing.T, url, secret, method, path, body string) *http.Response {
	req, _ := http.NewRequest(method, url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return nil
	}
	resp.Body.Close()
	return resp
}

const usage25 = `{"choices":[],"usage":{"prompt_tokens":15,"completion_tokens":10,"total_tokens":25}}`

// The case: 8 parallel requests on a key with tpm 50 no longer all
// pass. Each reserves its estimate at admission, so at most limit/estimate
// + 1 reach Copilot and the rest get 429 with Retry-After; once they end,
// the window holds their real usage, not the estimates.
func TestTPMReservedAtAdmission(t *testing.T) {
	t.Parallel()
	const limit, parallel = 50, 8
	release, arrived := make(chan struct{}), make(chan struct{}, parallel)
	var calls atomic.Int32
	url, secret := tpmGateway(t, limit, func(ctx context.Context, c *upCall) (*http.Response, error) {
		if !strings.HasSuffix(c.Path, "/chat/completions") {
			return response(404, jsonHeader(), `{}`), nil
		}
		calls.Add(1)
		arrived <- struct{}{}
		select {
		case <-release:
		case <-time.After(waitLimit):
		}
		return response(200, jsonHeader(), usage25), nil
	})
	body := `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"x"}]}`
	estimate := (len(body)+3)/4 + 10

	results := make(chan *http.Response, parallel)
	for range parallel {
		go func() { results <- keyCall(t, url, secret, http.MethodPost, "/v1/chat/completions", body) }()
	}
	var passed, refused int
	var got []*http.Response
	for done := false; !done; {
		select {
		case <-arrived:
			passed++
		case r := <-results:
			got = append(got, r)
			refused++
		case <-time.After(waitLimit):
			t.Fatal("requests neither reached Copilot nor were refused")
		}
		done = passed+refused == parallel
	}
	close(release)
	for len(got) < parallel {
		got = append(got, <-results)
	}
	if passed < 1 || passed > limit/estimate+1 {
		t.Fatalf("%d of %d requests passed with estimate %d on tpm %d", passed, parallel, estimate, limit)
	}
	for _, r := range got {
		if r != nil && r.StatusCode == http.StatusTooManyRequests && r.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	if n := countStatus(got, http.StatusTooManyRequests); n != parallel-passed || int(calls.Load()) != passed {
		t.Fatalf("%d refused, %d upstream calls; want %d, %d", n, calls.Load(), parallel-passed, passed)
	}
	// The window now holds the real usage, 25 a request.
	r := keyCall(t, url, secret, http.MethodGet, "/v1/models", "")
	if want := strconv.Itoa(max(0, limit-25*passed)); r == nil || r.Header.Get("X-Ratelimit-Remaining-Tokens") != want {
		t.Fatalf("remaining tokens after settling: %v, want %s", r.Header, want)
	}
}

func countStatus(rs []*http.Response, status int) int {
	n := 0
	for _, r := range rs {
		if r != nil && r.StatusCode == status {
			n++
		}
	}
	return n
}

// A request estimated above the whole limit still passes on an empty window
// (its reservation is capped at the limit), on every inference route.
func TestTPMRequestLargerThanLimitPasses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ path, body string }{
		{"/v1/chat/completions", `{"model":"m","max_completion_tokens":100000,"messages":[{"role":"user","content":"x"}]}`},
		{"/v1/responses", `{"model":"m","max_output_tokens":100000,"input":"x"}`},
		{"/v1/messages", `{"model":"m","max_tokens":100000,"messages":[{"role":"user","content":"x"}]}`},
	} {
		url, secret := tpmGateway(t, 50, func(ctx context.Context, c *upCall) (*http.Response, error) {
			if strings.HasSuffix(c.Path, "/models") {
				return response(404, jsonHeader(), `{}`), nil
			}
			return response(200, jsonHeader(), usage25), nil
		})
		r := keyCall(t, url, secret, http.MethodPost, tc.path, tc.body)
		if r == nil || r.StatusCode == http.StatusTooManyRequests {
			t.Fatalf("%s: a request larger than the limit was refused on an empty window", tc.path)
		}
		// It reserved the whole limit.
		if got := r.Header.Get("X-Ratelimit-Remaining-Tokens"); got != "0" {
			t.Errorf("%s: remaining tokens %q after the reservation, want 0", tc.path, got)
		}
	}
}
