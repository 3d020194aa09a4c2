package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
)

// crashWindow is what a SIGKILL may lose: usage of requests that ended (and
// starts of streams that began) within this long before the kill. The
// guarantee is 250 ms; the rest is slack for a busy machine.
const crashWindow = 250*time.Millisecond + 250*time.Millisecond

// burstLog collects when each request's response ended (non-streams) or
// its headers arrived (streams), on the client's clock.
type burstLog struct {
	mu       sync.Mutex
	sent     int
	served   []time.Time
	streamed []time.Time
}

func (b *burstLog) add(list *[]time.Time, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	*list = append(*list, at)
}

func countBefore(ts []time.Time, limit time.Time) int64 {
	var n int64
	for _, t := range ts {
		if t.Before(limit) {
			n++
		}
	}
	return n
}

// TestCrashLosesAtMostTheFlushWindow SIGKILLs the real binary during a
// burst of non-streams with long streams open, then compares what the
// clients were served with what the store holds: everything that ended
// more than the crash window before the kill is counted, and every stream
// that had started is counted, as an error without tokens.
func TestCrashLosesAtMostTheFlushWindow(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "copilot-proxy")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Skipf("cannot build the binary (go build: %v): %s", err, out)
	}
	fake := copilottest.New(t)
	fake.SetLatency(5 * time.Millisecond)     // bounds the burst: ~4 × 200 requests a second
	fake.SetStream(100, 100*time.Millisecond) // streams of 10 s: open at the kill
	db := filepath.Join(t.TempDir(), "team.db")
	key := createKey(t, db, "--name", "crash").Key

	url, cmd := startServeBinary(t, bin, map[string]string{
		"COPILOT_PROXY_GITHUB_TOKEN":   copilottest.GitHubToken,
		"COPILOT_PROXY_GITHUB_API_URL": fake.URL(), "COPILOT_PROXY_COPILOT_API_URL": fake.URL(),
		"COPILOT_PROXY_DB": db,
	}, "--key-rpm", "0", "--key-concurrency", "0", "--global-rpm", "0", "--global-concurrency", "0")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var b burstLog
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(2)
		go func() { defer wg.Done(); streamOnce(ctx, url, key, &b) }()
		go func() { defer wg.Done(); burstLoop(ctx, url, key, &b) }()
	}
	time.Sleep(1200 * time.Millisecond)
	killAt := time.Now()
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = cmd.Wait()
	cancel()
	wg.Wait()
	crashClient.CloseIdleConnections()

	rows := usageByModel(t, db)
	plain, streams := rows["gpt-4o"], rows["claude-sonnet-4"]
	limit := killAt.Add(-crashWindow)
	b.mu.Lock()
	defer b.mu.Unlock()
	t.Logf("sent %d non-streams, %d served (%d before kill-%v), %d recorded; %d streams started, %d recorded (%d errors)",
		b.sent, len(b.served), countBefore(b.served, limit), crashWindow, plain.Requests,
		len(b.streamed), streams.Requests, streams.Errors)
	t.Logf("served before kill-250ms: %d; served but not recorded: %d",
		countBefore(b.served, killAt.Add(-250*time.Millisecond)), max(0, int64(len(b.served))-plain.Requests))
	if want := countBefore(b.served, limit); plain.Requests < want || plain.Requests > int64(b.sent) {
		t.Errorf("non-streams recorded %d; want between %d (served before kill-%v) and %d (sent)", plain.Requests, want, crashWindow, b.sent)
	}
	if want := countBefore(b.streamed, limit); len(b.streamed) != 4 || want != 4 {
		t.Fatalf("%d streams started, %d before the window; want 4", len(b.streamed), want)
	}
	if streams.Requests != 4 || streams.Errors != 4 || streams.PromptTokens != 0 || streams.CompletionTokens != 0 {
		t.Errorf("streams recorded %+v; want 4 requests, 4 errors (cut by the crash), no tokens", streams)
	}
	if plain.Errors != 0 {
		t.Errorf("non-stream errors = %d; want 0", plain.Errors)
	}
}

// crashClient is the burst's client; its connections die with the binary.
var crashClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}

func chatRequest(ctx context.Context, url, key, model string, stream bool) (*http.Response, error) {
	body := `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]`
	if stream {
		body += `,"stream":true`
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body+"}"))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	return crashClient.Do(req)
}

// burstLoop sends non-streams one after another until ctx ends or the
// gateway dies, noting when each complete 200 ended.
func burstLoop(ctx context.Context, url, key string, b *burstLog) {
	for ctx.Err() == nil {
		b.mu.Lock()
		b.sent++
		b.mu.Unlock()
		resp, err := chatRequest(ctx, url, key, "gpt-4o", false)
		if err != nil {
			return
		}
		_, err = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return
		}
		b.add(&b.served, time.Now())
	}
}

// streamOnce opens one long stream and reads it until the gateway dies.
func streamOnce(ctx context.Context, url, key string, b *burstLog) {
	resp, err := chatRequest(ctx, url, key, "claude-sonnet-4", true)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return
	}
	b.add(&b.streamed, time.Now())
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
	}
}

// usageByModel reopens the store after the crash and sums usage by model.
func usageByModel(t *testing.T, db string) map[string]keys.UsageRow {
	t.Helper()
	ctx := context.Background()
	s, err := keys.Open(ctx, db, keys.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.Usage(ctx, keys.UsageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]keys.UsageRow{}
	for _, r := range rows {
		sum := out[r.Model]
		sum.Requests += r.Requests
		sum.Errors += r.Errors
		sum.PromptTokens += r.PromptTokens
		sum.CompletionTokens += r.CompletionTokens
		out[r.Model] = sum
	}
	return out
}
