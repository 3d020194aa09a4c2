package middleware

import (
	"net/http"
	"testing"
	"time"
)

// TestRefusedInputDoesNotConsumeRPM: requests refused for their own input
// before reaching Copilot (400, 404, 405, 413, 415 without an upstream
// answer) give their request slot back, per key and globally; a request
// that reached Copilot keeps it, whatever its status.
func TestRefusedInputDoesNotConsumeRPM(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		upstream bool
		refunded bool
	}{
		{"bad JSON", http.StatusBadRequest, false, true},
		{"unknown model", http.StatusNotFound, false, true},
		{"wrong method", http.StatusMethodNotAllowed, false, true},
		{"too large", http.StatusRequestEntityTooLarge, false, true},
		{"wrong content type", http.StatusUnsupportedMediaType, false, true},
		{"forbidden model", http.StatusForbidden, false, false},
		{"upstream 400", http.StatusBadRequest, true, false},
		{"served", http.StatusOK, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, _ := newTestLimiter(t, LimitConfig{KeyRPM: 2, GlobalRPM: 2})
			refused := limitChain(l, keyP("k"), func(w http.ResponseWriter, r *http.Request) {
				if tt.upstream {
					EntryFrom(r.Context()).SetUpstream(tt.status, time.Millisecond)
				}
				w.WriteHeader(tt.status)
			})
			ok := limitChain(l, keyP("k"), func(w http.ResponseWriter, r *http.Request) {})
			for range 2 {
				if got := refused().rec.Code; got != tt.status {
					t.Fatalf("status %d, want %d", got, tt.status)
				}
			}
			got := ok().rec.Code
			if tt.refunded && got != http.StatusOK {
				t.Fatalf("after 2 refused requests a third got %d; the refused ones consumed the rpm", got)
			}
			if !tt.refunded && got != http.StatusTooManyRequests {
				t.Fatalf("after 2 counted requests a third got %d, want 429", got)
			}
		})
	}
}
