package middleware

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/credits"
)

// failingStore is a LimitStore and BudgetStore that cannot be reached
// (admitErr), or whose tickets cannot reserve (reserveErr).
type failingStore struct{ admitErr, reserveErr error }

func (f failingStore) Admit(context.Context, AdmitRequest) (LimitTicket, LimitSnapshot, *LimitRejection, error) {
	if f.admitErr != nil {
		return nil, LimitSnapshot{}, nil, f.admitErr
	}
	return failingTicket(f), LimitSnapshot{}, nil, nil
}

func (f failingStore) Check(context.Context, []BudgetSpec, int64, SpendFunc) (BudgetCheck, error) {
	return BudgetCheck{}, f.admitErr
}

type failingTicket failingStore

func (f failingTicket) ReserveTokens(context.Context, int64) (LimitSnapshot, *LimitRejection, error) {
	return LimitSnapshot{}, nil, f.reserveErr
}

func (failingTicket) Release(int64, bool) {}

// A store that cannot be reached gives 503 limits_unavailable in the
// route's shape, from the admission, the token reservation and the budgets.
func TestLimitStoreUnavailable(t *testing.T) {
	t.Parallel()
	down := errors.New("dial tcp 127.0.0.1:6379: connection refused")
	p := Principal{KeyID: "k", HasBudget: true, Budget: credits.Nano}
	cases := []struct {
		name  string
		h     http.Handler
		shape api.Shape
		want  string
	}{
		{"admission", NewLimiter(LimitConfig{KeyRPM: 1, Store: failingStore{admitErr: down}}).Middleware(http.HandlerFunc(okLimited)),
			api.ShapeOpenAI, `"code":"limits_unavailable"`},
		{"admission, Anthropic shape", NewLimiter(LimitConfig{GlobalConcurrency: 1, Store: failingStore{admitErr: down}}).Middleware(http.HandlerFunc(okLimited)),
			api.ShapeAnthropic, `"type":"overloaded_error"`},
		{"token reservation", NewLimiter(LimitConfig{KeyTPM: 10, Store: failingStore{reserveErr: down}}).Middleware(
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if ReserveTokens(w, r, 100, nil) {
					t.Error("reserved on a store that failed")
				}
			})), api.ShapeOpenAI, `"code":"limits_unavailable"`},
		{"budget", NewBudgets(BudgetConfig{Store: failingStore{admitErr: down}}).Middleware(http.HandlerFunc(okLimited)),
			api.ShapeOpenAI, `"code":"limits_unavailable"`},
	}
	for _, tc := range cases {
		rec := httptest.NewRecorder()
		r := newRequest(http.MethodPost, "/", nil)
		r = r.WithContext(WithPrincipal(r.Context(), p))
		ErrorShape(tc.shape)(tc.h).ServeHTTP(rec, r)
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), tc.want) ||
			strings.Contains(rec.Body.String(), "6379") {
			t.Errorf("%s: %d %s", tc.name, rec.Code, rec.Body)
		}
	}
}

// The Limiter passes the resolved limits to its store, and answers a
// concurrency refusal with 1 s whatever wait the store reports.
func TestLimiterUsesItsStore(t *testing.T) {
	t.Parallel()
	var got AdmitRequest
	store := storeFunc(func(req AdmitRequest) *LimitRejection {
		got = req
		return &LimitRejection{Reason: ReasonConcurrency, Limit: 3}
	})
	l := NewLimiter(LimitConfig{KeyRPM: 5, KeyTPM: 7, GlobalRPM: 11, GlobalConcurrency: 13, Store: store})
	res := limitChain(l, &Principal{KeyID: "k", KeyName: "kay", Concurrency: intp(3)}, okLimited)()
	want := AdmitRequest{KeyID: "k", Key: KeyLimits{RPM: 5, TPM: 7, Concurrency: 3}, GlobalRPM: 11, GlobalConcurrency: 13}
	if got != want {
		t.Errorf("store got %+v, want %+v", got, want)
	}
	expect429(t, res, ReasonConcurrency, "Rate limit reached for key 'kay': 3 concurrent requests. Retry after 1s.", 1, int64(concurrencyRetry/time.Millisecond))
}

// storeFunc is a LimitStore deciding by a function; admitted requests get
// a ticket that does nothing.
type storeFunc func(AdmitRequest) *LimitRejection

func (f storeFunc) Admit(_ context.Context, req AdmitRequest) (LimitTicket, LimitSnapshot, *LimitRejection, error) {
	if rej := f(req); rej != nil {
		return nil, LimitSnapshot{}, rej, nil
	}
	return failingTicket{}, LimitSnapshot{}, nil, nil
}
