package main

// End-to-end proof of "several instances" (issue 16): gateway instances
// sharing one real PostgreSQL (keys, usage) and one real Redis (limits),
// started by internal/pgtest and internal/redistest. Every test here has its
// own database and its own Redis, so none sees another's state.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
	"github.com/copilot-proxy/copilot-proxy/internal/pgtest"
	"github.com/copilot-proxy/copilot-proxy/internal/redistest"
)

// scaleAdminToken is the admin token of the instances of these tests.
const scaleAdminToken = "scale-out-admin-token-0123456789"

// scaleOut is what the instances of one test share: the fake Copilot, a
// PostgreSQL database and a Redis.
type scaleOut struct {
	fake  *copilottest.Server
	dbURL string
	redis *redistest.Server
}

func newScaleOut(t *testing.T) *scaleOut {
	t.Helper()
	return &scaleOut{fake: copilottest.New(t), dbURL: pgtest.New(t), redis: redistest.Start(t)}
}

// env is the environment of an instance: keys on, the shared database and
// Redis, and no default or global limit, so only what a test sets applies.
func (s *scaleOut) env(extra map[string]string) map[string]string {
	env := map[string]string{
		"COPILOT_PROXY_NO_AUTH":            "",
		"COPILOT_PROXY_DATABASE_URL":       s.dbURL,
		"COPILOT_PROXY_REDIS_URL":          s.redis.URL(),
		"COPILOT_PROXY_ADMIN_TOKEN":        scaleAdminToken,
		"COPILOT_PROXY_KEY_RPM":            "0",
		"COPILOT_PROXY_KEY_CONCURRENCY":    "0",
		"COPILOT_PROXY_GLOBAL_RPM":         "0",
		"COPILOT_PROXY_GLOBAL_CONCURRENCY": "0",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// start runs one more in-process instance (its own HOME) on the shared
// database and Redis.
func (s *scaleOut) start(t *testing.T, extra map[string]string, args ...string) *testGateway {
	t.Helper()
	return startGateway(t, s.fake, s.env(extra), args...)
}

// pgCLI runs a keys or usage command in-process with --database-url, as an
// admin would against the shared database, and returns its stdout.
func pgCLI(t *testing.T, dbURL string, args ...string) string {
	t.Helper()
	var out, errOut strings.Builder
	env := envMap(map[string]string{"HOME": t.TempDir()})
	if err := run(context.Background(), append(args, "--database-url", dbURL), env, &out, &errOut); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, errOut.String())
	}
	return out.String()
}

// pgKey creates a key with the CLI against the shared database.
func pgKey(t *testing.T, dbURL string, args ...string) keyJSON {
	t.Helper()
	out := pgCLI(t, dbURL, append([]string{"keys", "create", "--json"}, args...)...)
	var k keyJSON
	if err := json.Unmarshal([]byte(out), &k); err != nil || !strings.HasPrefix(k.Key, "cpk_") {
		t.Fatalf("keys create --json printed %q: %v", out, err)
	}
	return k
}

// pgUsage reads `usage --json` from the shared database.
func pgUsage(t *testing.T, dbURL string) []keys.UsageRow {
	t.Helper()
	var rows []keys.UsageRow
	if err := json.Unmarshal([]byte(pgCLI(t, dbURL, "usage", "--json")), &rows); err != nil {
		t.Fatal(err)
	}
	return rows
}

// answer is one response, read whole; safe to make from any goroutine
// (nothing here calls t.Fatal).
type answer struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// code is the error code of an error answer (either error shape).
func (a answer) code() string {
	var e struct {
		Error struct{ Code, Message string }
	}
	_ = json.Unmarshal(a.body, &e)
	return e.Error.Code
}

// concurrencyRefusal reports a 429 for the key's concurrency cap.
func (a answer) concurrencyRefusal() bool {
	return a.status == http.StatusTooManyRequests && a.code() == "rate_limit_exceeded" &&
		bytes.Contains(a.body, []byte("concurrent request"))
}

// rpmRefusal reports a 429 for the key's requests per minute.
func (a answer) rpmRefusal() bool {
	return a.status == http.StatusTooManyRequests && a.code() == "rate_limit_exceeded" &&
		bytes.Contains(a.body, []byte("per minute"))
}

func (a answer) String() string {
	if a.err != nil {
		return a.err.Error()
	}
	return fmt.Sprintf("%d %s", a.status, bytes.TrimSpace(a.body))
}

// do sends q with key to the gateway at base and reads the whole answer.
func do(ctx context.Context, c *http.Client, base, key string, q inference) answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+q.path, strings.NewReader(q.body()))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := c.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b, err: err}
}

// ask is do against an in-process instance.
func (g *testGateway) ask(key string, q inference) answer {
	return do(context.Background(), g.client, g.URL, key, q)
}

// quick is a non-stream chat: the fake answers it at once.
var quick = inference{path: "/v1/chat/completions", model: "gpt-5"}

// adminDo calls the admin API of g with the admin token.
func adminDo(t *testing.T, g *testGateway, method, path, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, g.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+scaleAdminToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// heldStream is a chat stream kept open through a gateway: admitted (200,
// first event read) or refused (its answer).
type heldStream struct {
	refused answer
	ok      bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// openStream starts a chat stream with key at base and returns once it is
// admitted (the first event arrived) or refused. The stream is read in the
// background until it ends or close is called.
func openStream(c *http.Client, base, key string) *heldStream {
	ctx, cancel := context.WithCancel(context.Background())
	h := &heldStream{cancel: cancel, done: make(chan struct{})}
	q := inference{path: "/v1/chat/completions", model: "gpt-5", stream: true}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+q.path, strings.NewReader(q.body()))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := c.Do(req)
	if err != nil {
		h.refused = answer{err: err}
		close(h.done)
		return h
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h.refused = answer{status: resp.StatusCode, header: resp.Header, body: b}
		close(h.done)
		return h
	}
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		resp.Body.Close()
		h.refused = answer{status: resp.StatusCode, err: fmt.Errorf("stream cut before its first event: %w", err)}
		close(h.done)
		return h
	}
	h.ok = true
	go func() {
		defer close(h.done)
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, br)
	}()
	return h
}

// close leaves the stream (as a client that hangs up) and waits for the
// reader to stop.
func (h *heldStream) close() {
	h.cancel()
	<-h.done
}

// TestScaleOutRPMExactAcrossInstances: 40 parallel requests, alternately
// on two instances sharing one PostgreSQL and one Redis, against a key with
// --rpm 10 and no concurrency cap, admit exactly 10 (the other 30 get 429
// rate_limit_exceeded), and exactly 10 reach Copilot. A global rpm far
// above the burst is set so the admission runs on the layout with global
// counters too (hash tag {g}).
func TestScaleOutRPMExactAcrossInstances(t *testing.T) {
	t.Parallel()
	s := newScaleOut(t)
	k := pgKey(t, s.dbURL, "--name", "burst", "--rpm", "10", "--concurrency", "0")
	extra := map[string]string{"COPILOT_PROXY_GLOBAL_RPM": "100000"}
	gws := []*testGateway{s.start(t, extra), s.start(t, extra)}
	s.fake.SetLatency(20 * time.Millisecond) // admitted requests overlap the refused ones

	answers := make([]answer, 40)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() {
			<-start
			answers[i] = gws[i%2].ask(k.Key, quick)
		})
	}
	close(start)
	wg.Wait()

	okBy := [2]int{}
	limited := 0
	for i, a := range answers {
		switch {
		case a.status == http.StatusOK:
			okBy[i%2]++
		case a.rpmRefusal():
			limited++
		default:
			t.Errorf("request %d on instance %d: %v", i, i%2, a)
		}
	}
	t.Logf("admitted %d on instance A and %d on instance B; %d refused", okBy[0], okBy[1], limited)
	if okBy[0]+okBy[1] != 10 || limited != 30 {
		t.Fatalf("admitted %d, refused %d with 429 rate_limit_exceeded; want exactly 10 and 30", okBy[0]+okBy[1], limited)
	}
	if n := len(s.fake.RequestsTo(copilottest.PathChat)); n != 10 {
		t.Fatalf("%d requests reached Copilot, want 10", n)
	}
	// The window is shared: both instances keep refusing.
	for i, g := range gws {
		if a := g.ask(k.Key, quick); !a.rpmRefusal() {
			t.Errorf("instance %d after the burst: %v, want 429 rate_limit_exceeded", i, a)
		}
	}
}

// TestScaleOutConcurrencyAcrossInstances: a key with --concurrency 2 has at
// most two requests in flight over both instances together. One stream
// held on each instance fills the cap: the next request is refused on
// either; a parallel burst of streams spread over both admits exactly two;
// once the held streams end, new requests pass on both.
func TestScaleOutConcurrencyAcrossInstances(t *testing.T) {
	t.Parallel()
	s := newScaleOut(t)
	k := pgKey(t, s.dbURL, "--name", "conc2", "--concurrency", "2", "--rpm", "0")
	a, b := s.start(t, nil), s.start(t, nil)
	gws := []*testGateway{a, b}
	s.fake.SetStream(100, 100*time.Millisecond) // streams of 10 s, ended by the test

	// One stream on each instance: per instance, each would have room for
	// one more; shared, the key is full.
	held := []*heldStream{openStream(a.client, a.URL, k.Key), openStream(b.client, b.URL, k.Key)}
	for i, h := range held {
		if !h.ok {
			t.Fatalf("stream %d: %v", i, h.refused)
		}
	}
	for i, g := range gws {
		if ans := g.ask(k.Key, quick); !ans.concurrencyRefusal() {
			t.Fatalf("third request, on instance %d: %v; want 429 for the concurrency cap", i, ans)
		}
	}
	// One slot freed on A is usable from B.
	held[0].close()
	eventually(t, "the slot freed on A admits a request on B", func() bool { return b.ask(k.Key, quick).status == http.StatusOK })
	held[1].close()
	eventually(t, "both slots are free", func() bool {
		return a.ask(k.Key, quick).status == http.StatusOK && b.ask(k.Key, quick).status == http.StatusOK
	})
	waitFor(t, 5*time.Second, "no upstream request is open", func() bool { return s.fake.InFlight() == 0 })

	// A parallel burst of eight streams, alternately on A and B.
	before := len(s.fake.RequestsTo(copilottest.PathChat))
	burst := make([]*heldStream, 8)
	var wg sync.WaitGroup
	for i := range burst {
		wg.Go(func() { g := gws[i%2]; burst[i] = openStream(g.client, g.URL, k.Key) })
	}
	wg.Wait()
	admitted := 0
	for i, h := range burst {
		switch {
		case h.ok:
			admitted++
		case !h.refused.concurrencyRefusal():
			t.Errorf("stream %d on instance %d: %v", i, i%2, h.refused)
		}
	}
	if n := len(s.fake.RequestsTo(copilottest.PathChat)) - before; admitted != 2 || n != 2 {
		t.Fatalf("%d of 8 parallel streams admitted, %d reached Copilot; want exactly 2", admitted, n)
	}
	for i, g := range gws {
		if ans := g.ask(k.Key, quick); !ans.concurrencyRefusal() {
			t.Errorf("during the burst, instance %d: %v; want 429 for the concurrency cap", i, ans)
		}
	}
	for _, h := range burst {
		h.close()
	}
	eventually(t, "new requests pass on both after the streams ended", func() bool {
		return a.ask(k.Key, quick).status == http.StatusOK && b.ask(k.Key, quick).status == http.StatusOK
	})
}

// TestScaleOutKeyChangesPropagate: a key revoked through the admin API of
// one instance is refused by the other within 1 s; a key created through
// the admin API of one works on the other within 1 s; `keys update
// --database-url … --rpm 1` from the CLI takes effect on both within 1 s
// (and the one request a minute is shared). Not parallel: it measures.
func TestScaleOutKeyChangesPropagate(t *testing.T) {
	s := newScaleOut(t)
	victim := pgKey(t, s.dbURL, "--name", "victim", "--rpm", "0", "--concurrency", "0")
	later := pgKey(t, s.dbURL, "--name", "later", "--rpm", "0", "--concurrency", "0")
	a, b := s.start(t, nil), s.start(t, nil)
	const bound = time.Second // the "within 1 s"

	t.Run("revoked on A is refused by B", func(t *testing.T) {
		for i, g := range []*testGateway{a, b} {
			if ans := g.ask(victim.Key, quick); ans.status != http.StatusOK {
				t.Fatalf("before revocation, instance %d: %v", i, ans)
			}
		}
		start := time.Now()
		if st, body := adminDo(t, a, http.MethodPost, "/admin/keys/"+victim.ID+"/revoke", ""); st != http.StatusOK {
			t.Fatalf("revoke on A: %d %s", st, body)
		}
		took := pollUntil(bound, func() bool {
			ans := b.ask(victim.Key, quick)
			return ans.status == http.StatusUnauthorized && ans.code() == "invalid_api_key"
		}, start)
		t.Logf("revocation through A refused by B after %v", took.Round(time.Millisecond))
		if took > bound {
			t.Fatalf("B still accepted the revoked key %v after the revocation; want within %v", took.Round(time.Millisecond), bound)
		}
		if ans := a.ask(victim.Key, quick); ans.status != http.StatusUnauthorized {
			t.Fatalf("A after its own revocation: %v", ans)
		}
	})
	t.Run("created on A works on B", func(t *testing.T) {
		start := time.Now()
		st, body := adminDo(t, a, http.MethodPost, "/admin/keys", `{"name":"newcomer","rpm":0,"concurrency":0}`)
		var created struct{ ID, Key string }
		if st != http.StatusCreated || json.Unmarshal(body, &created) != nil || !strings.HasPrefix(created.Key, "cpk_") {
			t.Fatalf("create on A: %d %s", st, body)
		}
		took := pollUntil(bound, func() bool { return b.ask(created.Key, quick).status == http.StatusOK }, start)
		t.Logf("key created through A works on B after %v", took.Round(time.Millisecond))
		if took > bound {
			t.Fatalf("B did not accept the new key within %v (%v)", bound, took.Round(time.Millisecond))
		}
		if ans := a.ask(created.Key, quick); ans.status != http.StatusOK {
			t.Fatalf("A with its own new key: %v", ans)
		}
	})
	t.Run("keys update --rpm 1 from the CLI holds on both", func(t *testing.T) {
		for i, g := range []*testGateway{a, b} {
			ans := g.ask(later.Key, quick)
			if ans.status != http.StatusOK || ans.header.Get("X-Ratelimit-Limit-Requests") != "" {
				t.Fatalf("before the update, instance %d: %v (limit header %q)", i, ans, ans.header.Get("X-Ratelimit-Limit-Requests"))
			}
		}
		start := time.Now()
		pgCLI(t, s.dbURL, "keys", "update", "later", "--rpm", "1")
		// Poll both instances until each applies the limit of 1; count the
		// requests admitted under it: the minute's one, over both.
		var tookA, tookB time.Duration
		admittedUnderLimit := 0
		for tookA == 0 || tookB == 0 {
			for i, g := range []*testGateway{a, b} {
				took := &tookA
				if i == 1 {
					took = &tookB
				}
				if *took != 0 {
					continue
				}
				ans := g.ask(later.Key, quick)
				if ans.header.Get("X-Ratelimit-Limit-Requests") == "1" {
					*took = time.Since(start)
					if ans.status == http.StatusOK {
						admittedUnderLimit++
					} else if !ans.rpmRefusal() {
						t.Fatalf("instance %d under rpm 1: %v", i, ans)
					}
				}
			}
			if time.Since(start) > bound && (tookA == 0 || tookB == 0) {
				t.Fatalf("after %v: update in effect on A after %v, on B after %v (0: not yet); want both within %v",
					time.Since(start).Round(time.Millisecond), tookA, tookB, bound)
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("keys update --rpm 1 (CLI) in effect on A after %v, on B after %v", tookA.Round(time.Millisecond), tookB.Round(time.Millisecond))
		if tookA > bound || tookB > bound {
			t.Fatalf("update in effect on A after %v, on B after %v; want within %v", tookA, tookB, bound)
		}
		if admittedUnderLimit > 1 {
			t.Fatalf("%d requests admitted under rpm 1 over both instances", admittedUnderLimit)
		}
		// The minute's one request is shared: spent now on whichever
		// instance, both refuse.
		_ = a.ask(later.Key, quick)
		for i, g := range []*testGateway{a, b} {
			if ans := g.ask(later.Key, quick); !ans.rpmRefusal() {
				t.Fatalf("instance %d after the shared minute's request: %v; want 429", i, ans)
			}
		}
	})
}

// pollUntil calls cond until it holds or d has passed since start, and
// returns how long after start it held (more than d: it never did). The
// time is taken when cond returns true, so it includes that last request.
func pollUntil(d time.Duration, cond func() bool, start time.Time) time.Duration {
	for {
		if cond() {
			return time.Since(start)
		}
		if time.Since(start) > d {
			return time.Since(start) + time.Nanosecond
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestScaleOutUsageAddsUp: a mixed burst on two instances (chat non-stream
// and stream with include_usage, /v1/responses and /v1/messages non-stream,
// three keys) is recorded in PostgreSQL exactly as the clients received it:
// requests per key and model, prompt and completion tokens summed from the
// answers, and the credits the fake reported.
func TestScaleOutUsageAddsUp(t *testing.T) {
	t.Parallel()
	s := newScaleOut(t)
	var ks []keyJSON
	for _, name := range []string{"ann", "ben", "cid"} {
		ks = append(ks, pgKey(t, s.dbURL, "--name", name, "--rpm", "0", "--concurrency", "0"))
	}
	gws := []*testGateway{s.start(t, nil), s.start(t, nil)}
	mix := []inference{
		{path: "/v1/chat/completions", model: "gpt-5"},
		{path: "/v1/chat/completions", model: "gpt-5", stream: true,
			raw: `{"model":"gpt-5","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`},
		{path: "/v1/responses", model: "gpt-5"},
		{path: "/v1/messages", model: "claude-sonnet-4.5"},
	}

	type sent struct {
		key, model string
		q          inference
		on         int // the instance
		ans        answer
	}
	var jobs []*sent
	for round := range 2 {
		for ki, k := range ks {
			for qi, q := range mix {
				// Each kind of request of each key goes to both instances
				// over the two rounds.
				jobs = append(jobs, &sent{key: k.Key, model: q.model, q: q, on: (round + ki + qi) % 2})
			}
		}
	}
	nameOf := map[string]string{}
	for _, k := range ks {
		nameOf[k.Key] = k.Name
	}
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() { j.ans = gws[j.on].ask(j.key, j.q) })
	}
	wg.Wait()

	type cell struct{ requests, prompt, completion int64 }
	want := map[[2]string]cell{}
	for _, j := range jobs {
		if j.ans.status != http.StatusOK {
			t.Fatalf("%s %s for %s on instance %d: %v", j.q.path, j.model, nameOf[j.key], j.on, j.ans)
		}
		p, c, err := clientTokens(j.q, j.ans.body)
		if err != nil {
			t.Fatalf("%s %s for %s: %v", j.q.path, j.model, nameOf[j.key], err)
		}
		id := [2]string{nameOf[j.key], j.model}
		w := want[id]
		want[id] = cell{w.requests + 1, w.prompt + p, w.completion + c}
	}
	// Stopping both instances flushes what they hold: the database then has
	// every request, whichever instance served it.
	for _, g := range gws {
		g.stop(t)
	}
	got := map[[2]string]cell{}
	var gotCredits, errs int64
	for _, r := range pgUsage(t, s.dbURL) {
		c := got[[2]string{r.KeyName, r.Model}]
		got[[2]string{r.KeyName, r.Model}] = cell{c.requests + r.Requests, c.prompt + r.PromptTokens, c.completion + r.CompletionTokens}
		gotCredits += r.CreditsNano
		errs += r.Errors
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("usage by key and model\n got %v\nwant %v (from the answers)", got, want)
	}
	if errs != 0 {
		t.Errorf("%d errors recorded, want none", errs)
	}
	if wantCredits := s.fake.ReportedCost(); gotCredits != wantCredits || wantCredits <= 0 {
		t.Errorf("credits recorded %d nano, the fake reported %d", gotCredits, wantCredits)
	}
	t.Logf("%d requests over 2 instances: %v; %d nano-credits", len(jobs), got, gotCredits)
}

// clientTokens reads the prompt and completion tokens a client received: the
// usage of a non-stream answer (either naming), or of a chat stream's usage
// chunk.
func clientTokens(q inference, body []byte) (prompt, completion int64, err error) {
	type usage struct {
		PromptTokens     *int64 `json:"prompt_tokens"`
		CompletionTokens *int64 `json:"completion_tokens"`
		InputTokens      *int64 `json:"input_tokens"`
		OutputTokens     *int64 `json:"output_tokens"`
	}
	var u *usage
	if q.stream {
		for _, line := range strings.Split(string(body), "\n") {
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok || data == "[DONE]" {
				continue
			}
			var ev struct{ Usage *usage }
			if json.Unmarshal([]byte(data), &ev) == nil && ev.Usage != nil {
				if u != nil {
					return 0, 0, fmt.Errorf("two usage chunks in %s", body)
				}
				u = ev.Usage
			}
		}
	} else {
		var w struct{ Usage *usage }
		if err := json.Unmarshal(body, &w); err != nil {
			return 0, 0, fmt.Errorf("answer %s: %v", body, err)
		}
		u = w.Usage
	}
	switch {
	case u == nil:
		return 0, 0, fmt.Errorf("no usage in %s", body)
	case u.PromptTokens != nil && u.CompletionTokens != nil:
		return *u.PromptTokens, *u.CompletionTokens, nil
	case u.InputTokens != nil && u.OutputTokens != nil:
		return *u.InputTokens, *u.OutputTokens, nil
	}
	return 0, 0, fmt.Errorf("usage without token counts in %s", body)
}

// TestScaleOutKilledInstanceFreesSlots: instance A, the real binary with
// --redis-lease-ttl 2s, holds both concurrency slots of a key (two long
// streams) and is SIGKILLed: instance B still refuses the key right after
// (the slots' leases outlive the process), then admits it within the lease
// TTL (plus slack for a busy machine). Not parallel: it measures.
func TestScaleOutKilledInstanceFreesSlots(t *testing.T) {
	const ttl, bound = 2 * time.Second, 4 * time.Second
	bin := filepath.Join(t.TempDir(), "copilot-proxy")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	s := newScaleOut(t)
	s.fake.SetStream(100, 100*time.Millisecond) // streams of 10 s: open at the kill
	k := pgKey(t, s.dbURL, "--name", "conc2", "--concurrency", "2", "--rpm", "0")
	b := s.start(t, nil)
	aURL, aCmd := startServeBinary(t, bin, s.env(map[string]string{
		"COPILOT_PROXY_GITHUB_TOKEN":   copilottest.GitHubToken,
		"COPILOT_PROXY_GITHUB_API_URL": s.fake.URL(), "COPILOT_PROXY_COPILOT_API_URL": s.fake.URL(),
	}), "--redis-lease-ttl", ttl.String())
	aClient := &http.Client{Transport: &http.Transport{}}
	defer aClient.CloseIdleConnections()

	var held []*heldStream
	for i := range 2 {
		h := openStream(aClient, aURL, k.Key)
		if !h.ok {
			t.Fatalf("stream %d through A: %v", i, h.refused)
		}
		held = append(held, h)
	}
	if ans := b.ask(k.Key, quick); !ans.concurrencyRefusal() {
		t.Fatalf("B while A holds both slots: %v; want 429 for the concurrency cap", ans)
	}
	if err := aCmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = aCmd.Wait()
	killed := time.Now()
	for _, h := range held {
		<-h.done // the connections died with A
	}
	if ans := b.ask(k.Key, quick); !ans.concurrencyRefusal() {
		t.Fatalf("B %v after the kill: %v; want 429 (the dead instance's leases still hold the slots)",
			time.Since(killed).Round(time.Millisecond), ans)
	}
	var freed time.Duration
	for {
		ans := b.ask(k.Key, quick)
		if ans.status == http.StatusOK {
			freed = time.Since(killed)
			break
		}
		if !ans.concurrencyRefusal() {
			t.Fatalf("B after the kill: %v", ans)
		}
		if time.Since(killed) > bound {
			t.Fatalf("B still refuses the key %v after the kill; lease TTL %v", time.Since(killed).Round(time.Millisecond), ttl)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("slots of the killed instance freed %v after SIGKILL (lease TTL %v, bound %v)", freed.Round(time.Millisecond), ttl, bound)
	if freed > bound {
		t.Fatalf("slots freed after %v, want within %v", freed, bound)
	}
	// Both slots are free: two requests held at once on B pass.
	s.fake.SetStream(3, 0)
	s.fake.SetLatency(300 * time.Millisecond)
	var wg sync.WaitGroup
	var both [2]answer
	for i := range both {
		wg.Go(func() { both[i] = b.ask(k.Key, quick) })
	}
	wg.Wait()
	for i, ans := range both {
		if ans.status != http.StatusOK {
			t.Errorf("request %d of two at once on B: %v", i, ans)
		}
	}
}

// readyRedis reads /readyz: its status and whether the redis condition
// holds (false when absent).
func readyRedis(t *testing.T, g *testGateway) (status int, redisOK bool, body string) {
	t.Helper()
	resp, b := g.do(t, http.MethodGet, "/readyz", "")
	var p struct {
		Conditions []struct {
			Name string
			OK   bool
		}
	}
	_ = json.Unmarshal(b, &p)
	for _, c := range p.Conditions {
		if c.Name == "redis" {
			redisOK = c.OK
		}
	}
	return resp.StatusCode, redisOK, string(b)
}

// TestScaleOutRedisDownFailClosed: with --redis-failure closed, while Redis
// is stopped a limited key gets 503 limits_unavailable and /readyz is 503
// with the redis condition failing; once Redis is back (empty) the key gets
// 200 again and /readyz is 200.
func TestScaleOutRedisDownFailClosed(t *testing.T) {
	t.Parallel()
	s := newScaleOut(t)
	limited := pgKey(t, s.dbURL, "--name", "limited", "--rpm", "100")
	free := pgKey(t, s.dbURL, "--name", "free", "--rpm", "0", "--concurrency", "0")
	gws := []*testGateway{s.start(t, nil, "--redis-failure", "closed"), s.start(t, nil, "--redis-failure", "closed")}
	for i, g := range gws {
		if ans := g.ask(limited.Key, quick); ans.status != http.StatusOK {
			t.Fatalf("instance %d before the outage: %v", i, ans)
		}
		if st, ok, body := readyRedis(t, g); st != http.StatusOK || !ok {
			t.Fatalf("instance %d /readyz before the outage: %d %s", i, st, body)
		}
	}

	s.redis.Stop()
	for i, g := range gws {
		ans := g.ask(limited.Key, quick)
		if ans.status != http.StatusServiceUnavailable || ans.code() != "limits_unavailable" {
			t.Fatalf("instance %d, limited key, Redis down: %v; want 503 limits_unavailable", i, ans)
		}
		// Messages answer in their own error shape, with the same code.
		msg := g.ask(limited.Key, inference{path: "/v1/messages", model: "claude-sonnet-4.5"})
		if msg.status != http.StatusServiceUnavailable || msg.code() != "limits_unavailable" {
			t.Fatalf("instance %d, /v1/messages, Redis down: %v", i, msg)
		}
		// A key under no limit (and no global limit set) needs no counter.
		if ans := g.ask(free.Key, quick); ans.status != http.StatusOK {
			t.Errorf("instance %d, key without limits, Redis down: %v", i, ans)
		}
		waitFor(t, 5*time.Second, "/readyz reports Redis down", func() bool {
			st, ok, _ := readyRedis(t, g)
			return st == http.StatusServiceUnavailable && !ok
		})
	}
	if calls := len(s.fake.RequestsTo(copilottest.PathChat)); calls != 2+2 {
		t.Errorf("%d chat requests reached Copilot; want the 2 before the outage and the 2 of the unlimited key", calls)
	}

	s.redis.Restart()
	for i, g := range gws {
		eventually(t, fmt.Sprintf("instance %d admits the limited key again", i), func() bool {
			return g.ask(limited.Key, quick).status == http.StatusOK
		})
		eventually(t, fmt.Sprintf("instance %d is ready again", i), func() bool {
			st, ok, _ := readyRedis(t, g)
			return st == http.StatusOK && ok
		})
	}
}

// TestScaleOutRedisDownFailOpen: with --redis-failure open, a key with
// --rpm 2 is limited to 2 over both instances while Redis is up; while it is
// stopped each instance admits 2 on its own (per-instance limits); once it
// is back the limit is shared again.
func TestScaleOutRedisDownFailOpen(t *testing.T) {
	t.Parallel()
	s := newScaleOut(t)
	before := pgKey(t, s.dbURL, "--name", "before", "--rpm", "2", "--concurrency", "0")
	after := pgKey(t, s.dbURL, "--name", "after", "--rpm", "2", "--concurrency", "0")
	a, b := s.start(t, nil, "--redis-failure", "open"), s.start(t, nil, "--redis-failure", "open")
	gws := []*testGateway{a, b}

	// Shared: A, B, A, B admit the first two only.
	var got []int
	for i := range 4 {
		got = append(got, gws[i%2].ask(before.Key, quick).status)
	}
	if fmt.Sprint(got) != "[200 200 429 429]" {
		t.Fatalf("Redis up, A B A B: %v; want [200 200 429 429]", got)
	}

	s.redis.Stop()
	// Per instance: each admits 2 of its own, then refuses.
	for i, g := range gws {
		var got []string
		for range 3 {
			ans := g.ask(before.Key, quick)
			if ans.rpmRefusal() {
				got = append(got, "429")
			} else {
				got = append(got, fmt.Sprint(ans.status))
			}
		}
		if fmt.Sprint(got) != "[200 200 429]" {
			t.Fatalf("instance %d, Redis down: %v; want [200 200 429] (per-instance rpm 2)", i, got)
		}
	}
	// Still serving, under per-instance limits: ready, the reason said.
	if st, redisOK, body := readyRedis(t, a); st != http.StatusOK || !redisOK || !strings.Contains(body, "per instance") {
		t.Fatalf("/readyz while Redis is down in open mode: %d, redis ok=%v: %s", st, redisOK, body)
	}

	s.redis.Restart()
	// Each instance's own window is full, so only Redis (restarted empty)
	// can admit "before" again: a 200 shows the instance is back on it.
	for i, g := range gws {
		eventually(t, fmt.Sprintf("instance %d counts in Redis again", i), func() bool {
			return g.ask(before.Key, quick).status == http.StatusOK
		})
	}
	// That was the shared window's two: both refuse now.
	for i, g := range gws {
		if ans := g.ask(before.Key, quick); !ans.rpmRefusal() {
			t.Fatalf("instance %d after the shared two: %v; want 429", i, ans)
		}
	}
	// A fresh key: six requests in parallel over both admit exactly 2.
	answers := make([]answer, 6)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() { answers[i] = gws[i%2].ask(after.Key, quick) })
	}
	wg.Wait()
	ok := 0
	for i, ans := range answers {
		switch {
		case ans.status == http.StatusOK:
			ok++
		case !ans.rpmRefusal():
			t.Errorf("request %d: %v", i, ans)
		}
	}
	if ok != 2 {
		t.Fatalf("after Redis returned, %d of 6 requests over both instances admitted; want the shared 2", ok)
	}
}
