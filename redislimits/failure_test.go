package redislimits

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/credits"
	"github.com/copilot-proxy/copilot-proxy/internal/redistest"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// fallbacks records OnFallback calls.
type fallbacks struct {
	mu    sync.Mutex
	calls []bool
}

func (f *fallbacks) record(active bool) {
	f.mu.Lock()
	f.calls = append(f.calls, active)
	f.mu.Unlock()
}

func (f *fallbacks) get() []bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]bool(nil), f.calls...)
}

// eventually polls cond every 50 ms for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Closed: with Redis stopped, limited and budgeted requests get 503
// limits_unavailable in the route's error shape; a request in flight ends
// quietly; the outage is reported once, and everything recovers by itself
// when Redis is back.
func TestRedisStoppedClosed(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	var fb fallbacks
	in := newInstance(t, srv, middleware.LimitConfig{KeyRPM: 100}, middleware.BudgetConfig{},
		func(c *Config) { c.OnFallback = fb.record })
	p := keyP("key_x")
	h := newHolder(t)
	h.hold(in, p) // admitted before the outage, ends during it
	srv.Stop()
	for range 5 {
		rec := in.serve(p, api.ShapeOpenAI, ok)
		if rec.Code != http.StatusServiceUnavailable || errorCode(t, rec) != "limits_unavailable" {
			t.Fatalf("with Redis down: %d %s", rec.Code, rec.Body)
		}
	}
	rec := in.serve(p, api.ShapeAnthropic, ok)
	var anth struct {
		Type  string
		Error struct{ Type string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &anth); err != nil || rec.Code != 503 || anth.Type != "error" || anth.Error.Type != "overloaded_error" {
		t.Fatalf("Anthropic shape: %d %s", rec.Code, rec.Body)
	}
	budgeted := &middleware.Principal{KeyID: "key_y", HasBudget: true, Budget: credits.Nano}
	if rec := (&instance{c: in.c, lim: middleware.NewLimiter(middleware.LimitConfig{}), bud: in.bud}).serve(budgeted, api.ShapeOpenAI, ok); rec.Code != 503 {
		t.Fatalf("budget with Redis down: %d %s", rec.Code, rec.Body)
	}
	h.releaseAll()
	h.wg.Wait()
	if got := fb.get(); len(got) != 1 || !got[0] {
		t.Fatalf("OnFallback calls %v, want one true", got)
	}
	srv.Restart()
	eventually(t, 5*time.Second, "recovery", func() bool { return in.serve(p, api.ShapeOpenAI, ok).Code == 200 })
	if got := fb.get(); len(got) != 2 || got[1] {
		t.Fatalf("OnFallback calls %v, want true then false", got)
	}
}

// Open: with Redis stopped each instance counts on its own (a key with rpm
// 2 gets 2 per instance); when Redis is back the limits are shared again.
func TestRedisStoppedOpen(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	var fbA, fbB fallbacks
	lc := middleware.LimitConfig{KeyRPM: 2}
	a := newInstance(t, srv, lc, middleware.BudgetConfig{}, func(c *Config) { c.Failure, c.OnFallback = FailOpen, fbA.record })
	b := newInstance(t, srv, lc, middleware.BudgetConfig{}, func(c *Config) { c.Failure, c.OnFallback = FailOpen, fbB.record })
	srv.Stop()
	p := keyP("key_o")
	for _, in := range []*instance{a, b} {
		for i, want := range []int{200, 200, 429} {
			if rec := in.serve(p, api.ShapeOpenAI, ok); rec.Code != want {
				t.Fatalf("per-instance request %d: %d, want %d", i, rec.Code, want)
			}
		}
	}
	budgeted := &middleware.Principal{KeyID: "key_y", HasBudget: true, Budget: credits.Nano}
	if rec := a.serve(budgeted, api.ShapeOpenAI, ok); rec.Code != 200 {
		t.Fatalf("budget on the fallback: %d %s", rec.Code, rec.Body)
	}
	srv.Restart()
	for _, fb := range []*fallbacks{&fbA, &fbB} {
		eventually(t, 5*time.Second, "recovery reported", func() bool { return len(fb.get()) == 2 })
		if got := fb.get(); !got[0] || got[1] {
			t.Fatalf("OnFallback calls %v, want true then false", got)
		}
	}
	codes := spread(6, []*instance{a, b}, func(int) *middleware.Principal { return keyP("key_shared") }, ok)
	if codes[200] != 2 || codes[429] != 4 {
		t.Fatalf("after recovery: %v, want the shared 2", codes)
	}
}

// An instance killed mid-request (renewal stopped, connections closed,
// nothing released) frees its concurrency slots within the lease TTL.
func TestKilledInstanceFreesSlots(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	lc := middleware.LimitConfig{KeyConcurrency: 2, GlobalConcurrency: 5}
	a, b := newInstance(t, srv, lc, middleware.BudgetConfig{}), newInstance(t, srv, lc, middleware.BudgetConfig{})
	h := newHolder(t)
	h.hold(a, keyP("key_k"))
	h.hold(a, keyP("key_k"))
	if rec := b.serve(keyP("key_k"), api.ShapeOpenAI, ok); rec.Code != 429 {
		t.Fatalf("before the kill: %d, want 429", rec.Code)
	}
	killed := time.Now()
	if err := a.c.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, testLeaseTTL+time.Second, "slots freed", func() bool {
		return b.serve(keyP("key_k"), api.ShapeOpenAI, ok).Code == 200
	})
	t.Logf("slots freed %v after the kill (lease TTL %v)", time.Since(killed).Round(10*time.Millisecond), testLeaseTTL)
	// The two leases were taken a moment apart, so they expire a moment
	// apart: the first admission may come between the two. Each admission
	// prunes what has expired, so the second goes too, a TTL later at most.
	eventually(t, testLeaseTTL+time.Second, "every global lease freed", func() bool {
		b.serve(keyP("key_k"), api.ShapeOpenAI, ok)
		return b.c.rdb.ZCard(t.Context(), "cpx:{g}:conc").Val() == 0
	})
	h.releaseAll() // the dead instance's releases fail quietly
	h.wg.Wait()
}

// A running request's lease is renewed: it keeps its slot far beyond the
// TTL, and frees it when it ends.
func TestLeaseRenewedWhileRequestRuns(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	lc := middleware.LimitConfig{KeyConcurrency: 1}
	a, b := newInstance(t, srv, lc, middleware.BudgetConfig{}), newInstance(t, srv, lc, middleware.BudgetConfig{})
	h := newHolder(t)
	h.hold(a, keyP("key_l"))
	for end := time.Now().Add(3 * testLeaseTTL); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if rec := b.serve(keyP("key_l"), api.ShapeOpenAI, ok); rec.Code != 429 {
			t.Fatalf("the running request lost its slot: %d", rec.Code)
		}
	}
	h.releaseAll()
	h.wg.Wait()
	if rec := b.serve(keyP("key_l"), api.ShapeOpenAI, ok); rec.Code != 200 {
		t.Fatalf("after it ended: %d", rec.Code)
	}
}

// refused is what go-redis returns when nothing listens on Redis's port.
var refused = &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}

// newTestBreaker is a breaker recording its changes.
func newTestBreaker(changes *[]bool) *breaker {
	return &breaker{interval: 50 * time.Millisecond, onChange: func(down bool, _ error) { *changes = append(*changes, down) }}
}

// mustAllow is allow for a call the breaker must let through.
func mustAllow(t *testing.T, b *breaker, what string) uint64 {
	t.Helper()
	gen, ok := b.allow()
	if !ok {
		t.Fatalf("%s: refused", what)
	}
	return gen
}

// A refused connection opens the breaker at once; after the interval one
// probe goes through, and its success closes it.
func TestBreaker(t *testing.T) {
	t.Parallel()
	var changes []bool
	b := newTestBreaker(&changes)
	gen := mustAllow(t, b, "a closed breaker")
	b.done(gen, refused)
	b.done(gen, refused) // still the same outage
	if _, ok := b.allow(); ok || !b.isDown() {
		t.Fatal("allowed within the interval after a failure")
	}
	time.Sleep(60 * time.Millisecond)
	probe := mustAllow(t, b, "the probe after the interval")
	if _, ok := b.allow(); ok {
		t.Fatal("a second probe while one runs")
	}
	b.done(probe, nil)
	if _, ok := b.allow(); !ok || b.isDown() {
		t.Fatal("not closed after a successful probe")
	}
	if len(changes) != 2 || !changes[0] || changes[1] {
		t.Fatalf("changes %v, want [true false]", changes)
	}
}

// A call admitted before the breaker opened cannot close it: its success
// (or failure) says nothing about Redis now. Only the probe does, so the
// outage is reported once.
func TestBreakerIgnoresCallsFromBeforeTheOutage(t *testing.T) {
	t.Parallel()
	var changes []bool
	b := newTestBreaker(&changes)
	early, late := mustAllow(t, b, "call A"), mustAllow(t, b, "call B")
	b.done(early, refused)
	b.done(late, nil) // B started before A failed, succeeds after
	if !b.isDown() {
		t.Fatal("closed by the success of a call admitted before the outage")
	}
	time.Sleep(60 * time.Millisecond)
	probe := mustAllow(t, b, "the probe")
	b.done(late, errors.New("i/o timeout")) // an old call failing: not the probe's outcome
	if _, ok := b.allow(); ok {
		t.Fatal("an old call's failure ended the probe")
	}
	b.done(probe, nil)
	b.done(early, refused) // after the recovery, a leftover of the outage
	if b.isDown() {
		t.Fatal("reopened by a call admitted before the recovery")
	}
	if len(changes) != 2 || !changes[0] || changes[1] {
		t.Fatalf("changes %v, want one outage [true false]", changes)
	}
}

// A slow call (a timeout) does not open the breaker; openAfter of them in a
// row do. A success in between starts the count again, and a failed probe
// keeps it open for another interval.
func TestBreakerOpensAfterFailuresInARow(t *testing.T) {
	t.Parallel()
	var changes []bool
	b := newTestBreaker(&changes)
	slow := context.DeadlineExceeded
	for i, outcome := range []error{slow, slow, nil, slow, slow} {
		b.done(mustAllow(t, b, fmt.Sprint("call ", i)), outcome)
		if b.isDown() {
			t.Fatalf("open after call %d (%v): fewer than %d failures in a row", i, outcome, openAfter)
		}
	}
	b.done(mustAllow(t, b, "the third failure in a row"), slow)
	if !b.isDown() || len(changes) != 1 {
		t.Fatalf("not open after %d failures in a row (changes %v)", openAfter, changes)
	}
	time.Sleep(60 * time.Millisecond)
	b.done(mustAllow(t, b, "the probe"), slow)
	if _, ok := b.allow(); ok || !b.isDown() {
		t.Fatal("a failed probe did not keep the breaker open for another interval")
	}
	if len(changes) != 1 {
		t.Fatalf("changes %v, want [true]", changes)
	}
}

func TestConnFailure(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{refused, true},
		{fmt.Errorf("read: %w", os.NewSyscallError("read", syscall.ECONNRESET)), true},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("i/o timeout")}, true},
		{&net.OpError{Op: "read", Net: "tcp", Err: errors.New("i/o timeout")}, false},
		{context.DeadlineExceeded, false},
		{errors.New("NOSCRIPT No matching script"), false},
	} {
		if got := connFailure(tc.err); got != tc.want {
			t.Errorf("connFailure(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestParseFailure(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Failure{"": FailClosed, "closed": FailClosed, "open": FailOpen} {
		if got, err := ParseFailure(in); err != nil || got != want || (in != "" && got.String() != in) {
			t.Errorf("ParseFailure(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseFailure("maybe"); err == nil {
		t.Error("no error for an unknown mode")
	}
}

// A Redis URL that cannot be used is refused without quoting it: it may
// hold a password.
func TestNewURLErrorHidesPassword(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"redis://user:s3cretpw@host:notaport/0",
		"redis://:s3cret%zzpw@host/0",
		"redis://:s3cretpw@host:6379/abc",
		"rediss://:s3cretpw@host:6379/0?foo=bar",
	} {
		c, err := New(Config{URL: u})
		if err == nil {
			_ = c.Close()
			t.Fatalf("%s: accepted", u)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}
