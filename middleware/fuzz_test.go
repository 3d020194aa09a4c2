package middleware

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzAuthHeader: API-key header parsing. Any Authorization / x-api-key pair
// gives 200 (the valid key only), 401 or 429, never a panic; the
// authenticator only ever sees a bounded, visible-ASCII candidate; the
// presented value is never echoed back.
func FuzzAuthHeader(f *testing.F) {
	const valid = "cpk_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
	for _, s := range [][2]string{
		{"Bearer " + valid, ""}, {"", valid}, {"bearer\t" + valid + " ", ""}, {"Bearer", ""}, {"Bearerx " + valid, valid},
		{"Basic dXNlcjpwYXNz", ""}, {"Bearer a b", ""}, {"Bearer " + strings.Repeat("k", 300), ""}, {"", " " + valid + "\t"},
		{"Bearer cpk_\x00\x7f", ""}, {"Bearer é", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, authz, apiKey string) {
		auth := Auth(AuthenticatorFunc(func(secret string) (Principal, bool) {
			if secret == "" || len(secret) > maxKeyLen {
				t.Fatalf("authenticator got a candidate of length %d", len(secret))
			}
			for i := 0; i < len(secret); i++ {
				if c := secret[i]; c <= ' ' || c > '~' {
					t.Fatalf("authenticator got %q", secret)
				}
			}
			return Principal{KeyID: "k1"}, secret == valid
		}), AuthConfig{FailLimit: -1})
		h := auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if p, ok := PrincipalFrom(r.Context()); !ok || p.KeyID != "k1" {
				t.Fatal("served without a principal")
			}
			w.WriteHeader(http.StatusOK)
		}))
		r := newRequest(http.MethodGet, "/v1/models", nil)
		if authz != "" {
			r.Header["Authorization"] = []string{authz}
		}
		if apiKey != "" {
			r.Header["X-Api-Key"] = []string{apiKey}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusOK, http.StatusUnauthorized, http.StatusTooManyRequests:
		default:
			t.Fatalf("status %d", w.Code)
		}
		if w.Code != http.StatusOK {
			body := w.Body.String()
			for _, v := range []string{authz, apiKey} {
				if len(v) > 8 && strings.Contains(body, v) {
					t.Fatalf("the presented credential is echoed: %s", body)
				}
			}
		}
	})
}
