package middleware

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"
)

const (
	testKey     = "cpk_live_0123456789abcdefghijklmnopqrstuv"
	revokedKey  = "cpk_revoked_0123456789abcdefghijklmnopqr"
	unknownKey  = "cpk_unknown_0123456789abcdefghijklmnopqr"
	wantMessage = "Invalid API key. Provide a valid copilot-proxy key as 'Authorization: Bearer <key>' or 'x-api-key: <key>'."
)

// longKey is exactly maxKeyLen bytes and valid.
var longKey = "cpk_" + strings.Repeat("x", maxKeyLen-4)

// testAuthenticator knows testKey and longKey; revokedKey exists but is
// refused, as the key store does for a revoked or expired key. It counts
// lookups so tests can check that junk is refused without one.
type testAuthenticator struct{ lookups atomic.Int64 }

func (a *testAuthenticator) Authenticate(secret string) (Principal, bool) {
	a.lookups.Add(1)
	switch secret {
	case testKey:
		return Principal{KeyID: "key_1", KeyName: "alice", RPM: intp(5), Models: []string{"gpt-4o"}}, true
	case longKey:
		return Principal{KeyID: "key_long", KeyName: "long"}, true
	}
	return Principal{}, false
}

func intp(n int) *int { return &n }

func TestAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		header     http.Header
		wantKeyID  string // "" = must fail with 401
		wantLookup bool
	}{
		{"bearer", http.Header{"Authorization": {"Bearer " + testKey}}, "key_1", true},
		{"lower-case bearer", http.Header{"Authorization": {"bearer " + testKey}}, "key_1", true},
		{"upper-case bearer, extra blanks", http.Header{"Authorization": {"  BEARER \t  " + testKey + "  "}}, "key_1", true},
		{"bearer with tab", http.Header{"Authorization": {"Bearer\t" + testKey}}, "key_1", true},
		{"x-api-key", http.Header{"X-Api-Key": {testKey}}, "key_1", true},
		{"x-api-key with blanks", http.Header{"X-Api-Key": {"  " + testKey + " "}}, "key_1", true},
		{"other scheme falls back to x-api-key", http.Header{"Authorization": {"Basic Zm9vOmJhcg=="}, "X-Api-Key": {testKey}}, "key_1", true},
		{"key of exactly the max length", http.Header{"Authorization": {"Bearer " + longKey}}, "key_long", true},

		{"missing", http.Header{}, "", false},
		{"empty authorization", http.Header{"Authorization": {""}}, "", false},
		{"bearer without token", http.Header{"Authorization": {"Bearer"}}, "", false},
		{"bearer with blank token", http.Header{"Authorization": {"Bearer    "}}, "", false},
		{"empty x-api-key", http.Header{"X-Api-Key": {""}}, "", false},
		{"wrong scheme", http.Header{"Authorization": {"Token " + testKey}}, "", false},
		{"basic scheme", http.Header{"Authorization": {"Basic " + testKey}}, "", false},
		{"scheme glued to key", http.Header{"Authorization": {"Bearer" + testKey}}, "", false},
		{"two tokens", http.Header{"Authorization": {"Bearer " + testKey + " extra"}}, "", false},
		{"control character", http.Header{"Authorization": {"Bearer cpk_\x01abc"}}, "", false},
		{"non-ascii", http.Header{"X-Api-Key": {"cpk_é"}}, "", false},
		{"too long", http.Header{"Authorization": {"Bearer " + longKey + "x"}}, "", false},
		{"far too long", http.Header{"X-Api-Key": {strings.Repeat("k", 64<<10)}}, "", false},
		{"two authorization headers", http.Header{"Authorization": {"Bearer " + testKey, "Bearer " + testKey}}, "", false},
		{"two x-api-key headers", http.Header{"X-Api-Key": {testKey, testKey}}, "", false},
		{"unknown", http.Header{"Authorization": {"Bearer " + unknownKey}}, "", true},
		{"revoked or expired", http.Header{"X-Api-Key": {revokedKey}}, "", true},
		{"bad bearer wins over good x-api-key", http.Header{"Authorization": {"Bearer " + unknownKey}, "X-Api-Key": {testKey}}, "", true},
	}

	var firstBody atomic.Value
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := &testAuthenticator{}
			var buf syncBuffer
			var got Principal
			var gotOK bool
			var leaked string
			r := newRouter(zerolog.New(&buf), func(r chi.Router) {
				r.With(Auth(a, AuthConfig{})).Get("/v1/models", func(w http.ResponseWriter, r *http.Request) {
					got, gotOK = PrincipalFrom(r.Context())
					leaked = r.Header.Get("Authorization") + r.Header.Get("X-Api-Key")
					_, _ = w.Write([]byte("ok"))
				})
			})
			req := newRequest(http.MethodGet, "/v1/models", nil)
			for k, v := range tt.header {
				req.Header[k] = v
			}
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, req)

			if n := a.lookups.Load(); (n > 0) != tt.wantLookup || n > 1 {
				t.Errorf("lookups = %d, want lookup %v (at most one)", n, tt.wantLookup)
			}
			line := accessLines(buf.lines(t))[0]
			if strings.Contains(buf.String(), testKey) || strings.Contains(buf.String(), unknownKey) ||
				strings.Contains(buf.String(), revokedKey) || strings.Contains(buf.String(), "cpk_x") {
				t.Errorf("a key leaked into the log: %s", buf.String())
			}

			if tt.wantKeyID != "" {
				if rec.Code != http.StatusOK {
					t.Fatalf("status = %d, want 200: %s", rec.Code, rec.Body)
				}
				if !gotOK || got.KeyID != tt.wantKeyID {
					t.Fatalf("principal = %+v, %v; want key id %s", got, gotOK, tt.wantKeyID)
				}
				if line["key_id"] != tt.wantKeyID {
					t.Errorf("access log key_id = %v, want %s", line["key_id"], tt.wantKeyID)
				}
				if leaked != "" {
					t.Errorf("credential headers still visible to the handler: %q", leaked)
				}
				return
			}

			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401", rec.Code)
			}
			if gotOK {
				t.Fatal("handler ran for a failed authentication")
			}
			body := rec.Body.String()
			code, typ, msg := decodeEnvelope(t, []byte(body))
			if code != "invalid_api_key" || typ != "authentication_error" || msg != wantMessage {
				t.Errorf("envelope = %s / %s / %q", code, typ, msg)
			}
			// Every failure kind must produce the very same body.
			if prev := firstBody.Swap(body); prev != nil && prev.(string) != body {
				t.Errorf("401 bodies differ:\n%s\n%s", prev, body)
			}
			h := rec.Header()
			if h.Get("X-Should-Retry") != "false" || h.Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("headers = %v", h)
			}
			if h.Get("X-Request-Id") == "" {
				t.Error("missing x-request-id")
			}
			if line["error_code"] != "invalid_api_key" || line["status"] != float64(401) {
				t.Errorf("access line = %v", line)
			}
			if _, ok := line["key_id"]; ok {
				t.Error("key_id logged for a failed authentication")
			}
		})
	}
}

// authReq sends one request from addr with the given key ("" = none).
func authReq(h http.Handler, addr, key string) *httptest.ResponseRecorder {
	req := newRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = addr
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func okAuthHandler(a Authenticator, cfg AuthConfig) http.Handler {
	return Auth(a, cfg)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
}

func TestAuthFailureLimit(t *testing.T) {
	t.Parallel()
	a := &testAuthenticator{}
	// Default limit (100); an hour-long window so no window boundary can
	// fall inside the test.
	h := okAuthHandler(a, AuthConfig{FailWindow: time.Hour})
	const guesser, other = "198.51.100.7:4000", "198.51.100.8:4000"

	for i := range 100 {
		key := unknownKey
		if i%2 == 1 {
			key = "" // missing keys count as failures too
		}
		if rec := authReq(h, guesser, key); rec.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: status = %d, want 401", i+1, rec.Code)
		}
	}
	for _, key := range []string{unknownKey, ""} {
		rec := authReq(h, "198.51.100.7:5555", key) // another port, same address
		if rec.Code != http.StatusTooManyRequests {
			t.Fatalf("101st failure (key %q): status = %d, want 429", key, rec.Code)
		}
		code, typ, msg := decodeEnvelope(t, rec.Body.Bytes())
		if code != "rate_limit_exceeded" || typ != "rate_limit_error" ||
			msg != "Too many failed API key attempts from this address. Retry after 3600s." {
			t.Errorf("envelope = %s / %s / %q", code, typ, msg)
		}
		hd := rec.Header()
		if hd.Get("Retry-After") != "3600" || hd.Get("Retry-After-Ms") != "3600000" || hd.Get("X-Should-Retry") != "false" {
			t.Errorf("headers = %v", hd)
		}
		if hd.Get("X-Ratelimit-Limit") != "" || hd.Get("X-Ratelimit-Remaining") != "" {
			t.Errorf("httprate's own headers leaked: %v", hd)
		}
	}
	if rec := authReq(h, other, unknownKey); rec.Code != http.StatusUnauthorized {
		t.Errorf("another address: status = %d, want 401", rec.Code)
	}
	if rec := authReq(h, guesser, testKey); rec.Code != http.StatusOK {
		t.Errorf("valid key from the blocked address: status = %d, want 200", rec.Code)
	}
}

func TestAuthFailureLimitOptions(t *testing.T) {
	t.Parallel()
	t.Run("IPv6 /64 is one address", func(t *testing.T) {
		t.Parallel()
		h := okAuthHandler(&testAuthenticator{}, AuthConfig{FailLimit: 2, FailWindow: time.Hour})
		authReq(h, "[2001:db8:1:2::1]:1", "")
		authReq(h, "[2001:db8:1:2::2]:1", "")
		if rec := authReq(h, "[2001:db8:1:2::3]:1", ""); rec.Code != http.StatusTooManyRequests {
			t.Errorf("status = %d, want 429", rec.Code)
		}
		if rec := authReq(h, "[2001:db8:1:3::1]:1", ""); rec.Code != http.StatusUnauthorized {
			t.Errorf("other /64: status = %d, want 401", rec.Code)
		}
	})
	t.Run("X-Forwarded-For is ignored by default", func(t *testing.T) {
		t.Parallel()
		h := okAuthHandler(&testAuthenticator{}, AuthConfig{FailLimit: 1, FailWindow: time.Hour})
		send := func(xff string) int {
			req := newRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = "192.0.2.1:1"
			req.Header.Set("X-Forwarded-For", xff)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec.Code
		}
		if c := send("10.0.0.1"); c != http.StatusUnauthorized {
			t.Fatalf("status = %d, want 401", c)
		}
		if c := send("10.0.0.2"); c != http.StatusTooManyRequests {
			t.Fatalf("rotating X-Forwarded-For dodged the limit: status = %d", c)
		}
	})
	t.Run("ClientIP resolver", func(t *testing.T) {
		t.Parallel()
		h := okAuthHandler(&testAuthenticator{}, AuthConfig{FailLimit: 1, FailWindow: time.Hour,
			ClientIP: func(r *http.Request) string { return r.Header.Get("X-Client") }})
		send := func(client string) int {
			req := newRequest(http.MethodGet, "/", nil)
			req.Header.Set("X-Client", client)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec.Code
		}
		if send("a") != 401 || send("a") != 429 || send("b") != 401 {
			t.Fatal("failures not counted by the resolved client address")
		}
	})
	t.Run("negative limit disables", func(t *testing.T) {
		t.Parallel()
		h := okAuthHandler(&testAuthenticator{}, AuthConfig{FailLimit: -1})
		for i := range 300 {
			if rec := authReq(h, "192.0.2.9:1", ""); rec.Code != http.StatusUnauthorized {
				t.Fatalf("failure %d: status = %d, want 401", i+1, rec.Code)
			}
		}
	})
}

func TestAuthFailureWindowExpires(t *testing.T) {
	t.Parallel()
	// httprate reads the real clock, so this one waits for a short window
	// to pass: "eventually", with a generous bound.
	h := okAuthHandler(&testAuthenticator{}, AuthConfig{FailLimit: 1, FailWindow: 50 * time.Millisecond})
	const addr = "192.0.2.50:1"
	if rec := authReq(h, addr, ""); rec.Code != http.StatusUnauthorized {
		t.Fatalf("first failure: status = %d", rec.Code)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		code := authReq(h, addr, "").Code
		if code == http.StatusUnauthorized {
			return // the window slid past the failure
		}
		if code != http.StatusTooManyRequests {
			t.Fatalf("status = %d", code)
		}
		if time.Now().After(deadline) {
			t.Fatal("the address was still blocked 5s after a 50ms window")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAuthOverRealServer(t *testing.T) {
	t.Parallel()
	// Over the wire net/http trims header values; make sure both styles
	// still work end to end and the 401 survives the trip.
	var buf syncBuffer
	r := newRouter(zerolog.New(&buf), func(r chi.Router) {
		r.With(Auth(&testAuthenticator{}, AuthConfig{})).Get("/v1/models", func(w http.ResponseWriter, r *http.Request) {
			p, _ := PrincipalFrom(r.Context())
			_, _ = w.Write([]byte(p.KeyName))
		})
	})
	srv := newServer(t, r)
	tests := []struct {
		header, value string
		status        int
		body          string
	}{
		{"Authorization", "Bearer " + testKey + "   ", 200, "alice"},
		{"X-Api-Key", testKey, 200, "alice"},
		{"Authorization", "Bearer " + unknownKey, 401, ""},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/models", nil)
		req.Header.Set(tt.header, tt.value)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || (tt.body != "" && string(body) != tt.body) {
			t.Errorf("%s: status %d body %q", tt.header, resp.StatusCode, body)
		}
	}
	buf.waitLines(t, len(tests))
	if strings.Contains(buf.String(), testKey) || strings.Contains(buf.String(), unknownKey) {
		t.Errorf("a key leaked into the log: %s", buf.String())
	}
}

func TestPrincipalContext(t *testing.T) {
	t.Parallel()
	if _, ok := PrincipalFrom(context.Background()); ok {
		t.Fatal("principal found in an empty context")
	}
	type other struct{}
	ctx := context.WithValue(context.Background(), other{}, "v")
	ctx = WithPrincipal(ctx, Principal{KeyID: "k", TPM: intp(0), Models: []string{"a"}})
	p, ok := PrincipalFrom(ctx)
	if !ok || p.KeyID != "k" || p.TPM == nil || *p.TPM != 0 || len(p.Models) != 1 {
		t.Fatalf("principal = %+v, %v", p, ok)
	}
	if ctx.Value(other{}) != "v" {
		t.Fatal("parent values lost")
	}
}

func TestAuthNilAuthenticatorPanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Fatal("Auth(nil) did not panic")
		}
	}()
	Auth(nil, AuthConfig{})
}

func TestAuthenticatorFunc(t *testing.T) {
	t.Parallel()
	var a Authenticator = AuthenticatorFunc(func(s string) (Principal, bool) { return Principal{KeyID: s}, s == "x" })
	if p, ok := a.Authenticate("x"); !ok || p.KeyID != "x" {
		t.Fatal("AuthenticatorFunc does not call the function")
	}
}

// BenchmarkAuth measures the hit path: a valid Bearer key found by a map
// lookup standing in for the key store's cache.
func BenchmarkAuth(b *testing.B) {
	keys := map[string]Principal{}
	for i := range 100 {
		keys["cpk_bench_"+strconv.Itoa(i)] = Principal{KeyID: "key_" + strconv.Itoa(i)}
	}
	a := AuthenticatorFunc(func(s string) (Principal, bool) { p, ok := keys[s]; return p, ok })
	h := okAuthHandler(a, AuthConfig{})
	req := newRequest(http.MethodGet, "/v1/models", nil)
	w := &benchWriter{h: http.Header{}}
	hv := []string{"Bearer cpk_bench_42"}
	b.ReportAllocs()
	for b.Loop() {
		// Auth strips the header on success, so set it again each time.
		req.Header["Authorization"] = hv
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

// TestAuthRecordsReason checks the Entry of a refused request: a 401 carries
// ReasonAuth (metrics count it as an auth rejection), a 429 from the failure
// limit ReasonAuthFailures, and an accepted key no reason.
func TestAuthRecordsReason(t *testing.T) {
	t.Parallel()
	a := &testAuthenticator{}
	var reason LimitReason
	auth := okAuthHandler(a, AuthConfig{FailLimit: 1, FailWindow: time.Hour})
	h := accessLog(zerolog.Nop())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.ServeHTTP(w, r)
		reason = EntryFrom(r.Context()).LimitReason()
	}))
	for _, tt := range []struct {
		key    string
		status int
		want   LimitReason
	}{
		{testKey, http.StatusOK, ""},
		{unknownKey, http.StatusUnauthorized, ReasonAuth},
		{unknownKey, http.StatusTooManyRequests, ReasonAuthFailures},
	} {
		if rec := authReq(h, "198.51.100.9:4000", tt.key); rec.Code != tt.status || reason != tt.want {
			t.Errorf("key %q: status %d reason %q, want %d %q", tt.key, rec.Code, reason, tt.status, tt.want)
		}
	}
}
