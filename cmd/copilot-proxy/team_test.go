package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sashabaranov/go-openai"

	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
)

// keyJSON is the shape of `keys create --json`.
type keyJSON struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Key         string   `json:"key"`
	Hint        string   `json:"hint"`
	CreatedAt   string   `json:"created_at"`
	ExpiresAt   *string  `json:"expires_at"`
	RPM         *int     `json:"rpm"`
	TPM         *int     `json:"tpm"`
	Concurrency *int     `json:"concurrency"`
	Models      []string `json:"models"`
}

// cli runs a subcommand in-process against db and returns its stdout.
func cli(t *testing.T, db string, args ...string) (string, error) {
	t.Helper()
	var out, errOut strings.Builder
	env := envMap(map[string]string{"COPILOT_PROXY_DB": db, "HOME": t.TempDir()})
	err := run(context.Background(), args, env, &out, &errOut)
	return out.String(), err
}

func mustCLI(t *testing.T, db string, args ...string) string {
	t.Helper()
	out, err := cli(t, db, args...)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return out
}

func createKey(t *testing.T, db string, args ...string) keyJSON {
	t.Helper()
	out := mustCLI(t, db, append([]string{"keys", "create", "--json"}, args...)...)
	var k keyJSON
	if err := json.Unmarshal([]byte(out), &k); err != nil {
		t.Fatalf("keys create --json printed %q: %v", out, err)
	}
	if !strings.HasPrefix(k.Key, "cpk_") || k.ID == "" || k.Hint == "" || k.CreatedAt == "" {
		t.Fatalf("unexpected created key %+v", k)
	}
	return k
}

// startTeamGateway runs serve with client keys on, over a fresh database.
func startTeamGateway(t *testing.T, fake *copilottest.Server, env map[string]string) (*testGateway, string) {
	t.Helper()
	db := t.TempDir() + "/team.db"
	// Create the database before serve opens it, as an admin would.
	mustCLI(t, db, "keys", "list")
	e := map[string]string{"COPILOT_PROXY_NO_AUTH": "", "COPILOT_PROXY_DB": db}
	for k, v := range env {
		e[k] = v
	}
	return startGateway(t, fake, e), db
}

func (g *testGateway) sdk(key string) *openai.Client {
	cfg := openai.DefaultConfig(key)
	cfg.BaseURL = g.URL + "/v1"
	cfg.HTTPClient = g.client
	return openai.NewClientWithConfig(cfg)
}

// chat posts a non-stream chat with the given auth header and returns the response.
func (g *testGateway) chat(t *testing.T, header, value, model string) *http.Response {
	t.Helper()
	body := `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`
	req, _ := http.NewRequest(http.MethodPost, g.URL+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if header != "" {
		req.Header.Set(header, value)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(strings.NewReader(string(b)))
	return resp
}

func wantAPIError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("want *openai.APIError %d %s, got %T %v", status, code, err, err)
	}
	if apiErr.HTTPStatusCode != status || apiErr.Code != code {
		t.Fatalf("got %d %v (%s), want %d %s", apiErr.HTTPStatusCode, apiErr.Code, apiErr.Message, status, code)
	}
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitFor(t, 5*time.Second, what, cond)
}

func TestTeamKeysEndToEnd(t *testing.T) {
	fake := copilottest.New(t)
	g, db := startTeamGateway(t, fake, nil)
	ctx := context.Background()

	alice := createKey(t, db, "--name", "alice")
	bob := createKey(t, db, "--name", "bob")

	t.Run("created key works with both header styles", func(t *testing.T) {
		// The key was created while serve runs: it must be picked up.
		eventually(t, "the new key works", func() bool {
			_, err := g.sdk(alice.Key).CreateChatCompletion(ctx, chatReq("hi"))
			return err == nil
		})
		if resp := g.chat(t, "x-api-key", bob.Key, "gpt-4o"); resp.StatusCode != 200 {
			t.Fatalf("x-api-key: status %d", resp.StatusCode)
		}
		// The client key never reaches the upstream.
		for _, r := range fake.RequestsTo("/chat/completions") {
			if strings.Contains(r.Header.Get("Authorization"), "cpk_") || r.Header.Get("X-Api-Key") != "" {
				t.Fatal("client key forwarded upstream")
			}
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		_, err := g.sdk("cpk_wrongwrongwrongwrongwrong").CreateChatCompletion(ctx, chatReq("hi"))
		wantAPIError(t, err, 401, "invalid_api_key")
		resp := g.chat(t, "", "", "gpt-4o")
		if resp.StatusCode != 401 || resp.Header.Get("x-should-retry") != "false" {
			t.Fatalf("no key: %d should-retry=%q", resp.StatusCode, resp.Header.Get("x-should-retry"))
		}
	})
	t.Run("revoked from a second process", func(t *testing.T) {
		carol := createKey(t, db, "--name", "carol")
		eventually(t, "carol works", func() bool { return g.chat(t, "Authorization", "Bearer "+carol.Key, "gpt-4o").StatusCode == 200 })
		mustCLI(t, db, "keys", "revoke", "carol")
		eventually(t, "carol is refused", func() bool { return g.chat(t, "Authorization", "Bearer "+carol.Key, "gpt-4o").StatusCode == 401 })
		_, err := g.sdk(carol.Key).CreateChatCompletion(ctx, chatReq("hi"))
		wantAPIError(t, err, 401, "invalid_api_key")
	})
	t.Run("expired", func(t *testing.T) {
		// A key that expires two seconds from now: first accepted, then
		// refused once its time has passed, with no change to the database.
		k := createKey(t, db, "--name", "dave", "--expires", "2s")
		eventually(t, "dave works", func() bool { return g.chat(t, "Authorization", "Bearer "+k.Key, "gpt-4o").StatusCode == 200 })
		eventually(t, "dave has expired", func() bool { return g.chat(t, "Authorization", "Bearer "+k.Key, "gpt-4o").StatusCode == 401 })
		_, err := g.sdk(k.Key).CreateChatCompletion(ctx, chatReq("hi"))
		wantAPIError(t, err, 401, "invalid_api_key")
	})
	t.Run("rotation with and without grace", func(t *testing.T) {
		erin := createKey(t, db, "--name", "erin")
		eventually(t, "erin works", func() bool { return g.chat(t, "Authorization", "Bearer "+erin.Key, "gpt-4o").StatusCode == 200 })
		var rotated keyJSON
		if err := json.Unmarshal([]byte(mustCLI(t, db, "keys", "rotate", "erin", "--grace", "1h", "--json")), &rotated); err != nil {
			t.Fatal(err)
		}
		if rotated.ID != erin.ID || rotated.Key == erin.Key || !strings.HasPrefix(rotated.Key, "cpk_") {
			t.Fatalf("rotate: %+v", rotated)
		}
		eventually(t, "new secret works", func() bool { return g.chat(t, "Authorization", "Bearer "+rotated.Key, "gpt-4o").StatusCode == 200 })
		if s := g.chat(t, "Authorization", "Bearer "+erin.Key, "gpt-4o").StatusCode; s != 200 {
			t.Fatalf("old secret within grace: %d", s)
		}
		var cut keyJSON
		if err := json.Unmarshal([]byte(mustCLI(t, db, "keys", "rotate", erin.ID, "--grace", "0s", "--json")), &cut); err != nil {
			t.Fatal(err)
		}
		eventually(t, "rotated-out secrets are refused", func() bool {
			return g.chat(t, "Authorization", "Bearer "+rotated.Key, "gpt-4o").StatusCode == 401 &&
				g.chat(t, "Authorization", "Bearer "+erin.Key, "gpt-4o").StatusCode == 401
		})
		_, err := g.sdk(rotated.Key).CreateChatCompletion(ctx, chatReq("hi"))
		wantAPIError(t, err, 401, "invalid_api_key")
		eventually(t, "the newest secret works", func() bool { return g.chat(t, "Authorization", "Bearer "+cut.Key, "gpt-4o").StatusCode == 200 })
	})
	t.Run("model allow-list", func(t *testing.T) {
		k := createKey(t, db, "--name", "frank", "--models", "gpt-4o")
		c := g.sdk(k.Key)
		eventually(t, "frank works", func() bool { _, err := c.CreateChatCompletion(ctx, chatReq("hi")); return err == nil })
		req := chatReq("hi")
		req.Model = "claude-sonnet-4"
		_, err := c.CreateChatCompletion(ctx, req)
		wantAPIError(t, err, 403, "model_not_allowed")
		list, err := c.ListModels(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Models) != 1 || list.Models[0].ID != "gpt-4o" {
			t.Fatalf("frank sees %+v", list.Models)
		}
		if _, err := c.GetModel(ctx, "claude-sonnet-4"); err == nil {
			t.Fatal("a model outside the allow-list is visible")
		}
		_, err = c.CreateEmbeddings(ctx, openai.EmbeddingRequestStrings{Input: []string{"x"}, Model: "text-embedding-3-small"})
		wantAPIError(t, err, 403, "model_not_allowed")
		// Another spelling of the field cannot smuggle a model past the list.
		body := `{"model":"claude-sonnet-4","Model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`
		for _, path := range []string{"/v1/chat/completions", "/v1/embeddings"} {
			b := body
			if path == "/v1/embeddings" {
				b = `{"model":"text-embedding-3-small","Model":"gpt-4o","input":"x"}`
			}
			r, _ := http.NewRequest(http.MethodPost, g.URL+path, strings.NewReader(b))
			r.Header.Set("Authorization", "Bearer "+k.Key)
			// JSON as the SDKs send it, so the 400 is for the model field.
			r.Header.Set("Content-Type", "application/json")
			resp, err := g.client.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 400 {
				t.Fatalf("%s with a case-variant model field: %d, want 400", path, resp.StatusCode)
			}
		}
		// Other keys still see everything.
		all, err := g.sdk(alice.Key).ListModels(ctx)
		if err != nil || len(all.Models) < 2 {
			t.Fatalf("alice sees %d models, %v", len(all.Models), err)
		}
	})

	// No key appears in the logs.
	logs := g.Logs.String()
	if strings.Contains(logs, "cpk_") {
		t.Fatal("a client key appears in the logs")
	}
	if !strings.Contains(logs, alice.ID) {
		t.Error("the access log does not carry the key id")
	}
	if st, err := os.Stat(db); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("db mode: %v %v", st.Mode(), err)
	}
}

func TestTeamRateLimits(t *testing.T) {
	fake := copilottest.New(t)
	g, db := startTeamGateway(t, fake, map[string]string{"COPILOT_PROXY_GLOBAL_CONCURRENCY": "0", "COPILOT_PROXY_GLOBAL_RPM": "0"})

	t.Run("rpm gives 429 with headers", func(t *testing.T) {
		k := createKey(t, db, "--name", "rpm2", "--rpm", "2")
		eventually(t, "key loaded", func() bool { return g.chat(t, "Authorization", "Bearer "+k.Key, "gpt-4o").StatusCode == 200 })
		ok := g.chat(t, "Authorization", "Bearer "+k.Key, "gpt-4o")
		if ok.StatusCode != 200 || ok.Header.Get("x-ratelimit-limit-requests") != "2" || ok.Header.Get("x-ratelimit-remaining-requests") != "0" || ok.Header.Get("x-ratelimit-reset-requests") == "" {
			t.Fatalf("second request: %d %v", ok.StatusCode, ok.Header)
		}
		resp := g.chat(t, "Authorization", "Bearer "+k.Key, "gpt-4o")
		if resp.StatusCode != 429 {
			t.Fatalf("third request: %d", resp.StatusCode)
		}
		ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > 60 || resp.Header.Get("retry-after-ms") == "" {
			t.Fatalf("Retry-After %q retry-after-ms %q", resp.Header.Get("Retry-After"), resp.Header.Get("retry-after-ms"))
		}
		var env struct {
			Error struct{ Code, Message string }
		}
		b, _ := io.ReadAll(resp.Body)
		if json.Unmarshal(b, &env) != nil || env.Error.Code != "rate_limit_exceeded" {
			t.Fatalf("429 body %s", b)
		}
		_, err = g.sdk(k.Key).CreateChatCompletion(context.Background(), chatReq("x"))
		wantAPIError(t, err, 429, "rate_limit_exceeded")
	})
	t.Run("100 concurrent against rpm 10 pass exactly 10", func(t *testing.T) {
		k := createKey(t, db, "--name", "burst", "--rpm", "10", "--concurrency", "0")
		eventually(t, "key loaded", func() bool {
			r := g.chat(t, "Authorization", "Bearer "+k.Key, "gpt-4o")
			return r.StatusCode != 401
		})
		// The probe that passed used one request of the window (a 401 uses
		// none: auth refuses before the limiter).
		var okCount, limited atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < 100; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				switch g.chat(t, "Authorization", "Bearer "+k.Key, "gpt-4o").StatusCode {
				case 200:
					okCount.Add(1)
				case 429:
					limited.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		if okCount.Load() != 9 || limited.Load() != 91 {
			t.Fatalf("passed %d, limited %d; want 9 + the probe = 10 passed", okCount.Load(), limited.Load())
		}
	})
	t.Run("concurrency cap", func(t *testing.T) {
		k := createKey(t, db, "--name", "conc2", "--concurrency", "2", "--rpm", "0")
		eventually(t, "key loaded", func() bool { return g.chat(t, "Authorization", "Bearer "+k.Key, "gpt-4o").StatusCode == 200 })
		fake.SetLatency(700 * time.Millisecond)
		defer fake.SetLatency(0)
		var okCount, limited atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 5; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch g.chat(t, "Authorization", "Bearer "+k.Key, "gpt-4o").StatusCode {
				case 200:
					okCount.Add(1)
				case 429:
					limited.Add(1)
				}
			}()
		}
		wg.Wait()
		if okCount.Load() != 2 || limited.Load() != 3 {
			t.Fatalf("passed %d, limited %d; want 2 and 3", okCount.Load(), limited.Load())
		}
	})
}

// usageRows reads `usage --json` for a key.
func usageRows(t *testing.T, db, key string) []keys.UsageRow {
	t.Helper()
	var rows []keys.UsageRow
	if err := json.Unmarshal([]byte(mustCLI(t, db, "usage", "--key", key, "--json")), &rows); err != nil {
		t.Fatal(err)
	}
	return rows
}

func sumUsage(rows []keys.UsageRow) (req, prompt, completion, errs int64) {
	for _, r := range rows {
		req, prompt, completion, errs = req+r.Requests, prompt+r.PromptTokens, completion+r.CompletionTokens, errs+r.Errors
	}
	return
}

func TestTeamUsageAccounting(t *testing.T) {
	fake := copilottest.New(t)
	g, db := startTeamGateway(t, fake, nil)
	ctx := context.Background()
	k := createKey(t, db, "--name", "usage", "--rpm", "0", "--concurrency", "0")
	c := g.sdk(k.Key)
	eventually(t, "key loaded", func() bool { _, err := c.ListModels(ctx); return err == nil })

	// Non-stream: 11 prompt + 7 completion tokens from the fake.
	if _, err := c.CreateChatCompletion(ctx, chatReq("a")); err != nil {
		t.Fatal(err)
	}
	// Stream, client asked for usage: it gets the usage chunk.
	req := chatReq("b")
	req.Stream = true
	req.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	s, err := c.CreateChatCompletionStream(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	sawUsage := false
	for {
		chunk, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if chunk.Usage != nil {
			sawUsage = true
		}
	}
	s.Close()
	if !sawUsage {
		t.Fatal("client asked for usage and did not get it")
	}
	// Stream, client did not ask: no usage chunk reaches it, but it is counted.
	req.StreamOptions = nil
	s, err = c.CreateChatCompletionStream(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for {
		chunk, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if chunk.Usage != nil || len(chunk.Choices) == 0 && chunk.ID != "" {
			t.Fatalf("client got a usage chunk it did not ask for: %+v", chunk)
		}
	}
	s.Close()
	// The upstream was asked for usage both times.
	for _, r := range fake.RequestsTo("/chat/completions")[1:] {
		if !strings.Contains(string(r.Body), `"include_usage":true`) {
			t.Fatalf("stream sent without include_usage: %s", r.Body)
		}
	}
	// A client that leaves mid-stream is still counted.
	fake.SetStream(20, 100*time.Millisecond)
	cctx, cancel := context.WithCancel(ctx)
	s, err = c.CreateChatCompletionStream(cctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	s.Close()
	fake.SetStream(3, 0)
	// An upstream error counts as an error.
	fake.SetChatFault(copilottest.Fault{Status: 500, Count: 1})
	_, err = c.CreateChatCompletion(ctx, chatReq("c"))
	wantAPIError(t, err, 502, "upstream_error")

	eventually(t, "the disconnected request is recorded", func() bool {
		req, _, _, _ := sumUsage(usageRows(t, db, "usage"))
		return req == 5
	})
	g.stop(t)
	rows := usageRows(t, db, k.ID)
	req5, prompt, completion, errs := sumUsage(rows)
	if req5 != 5 || errs != 1 {
		t.Fatalf("requests %d errors %d; want 5 and 1: %+v", req5, errs, rows)
	}
	// Three complete answers of 11 prompt tokens each (non-stream, two streams).
	if prompt < 33 || completion < 7+3+3 {
		t.Fatalf("tokens prompt %d completion %d: %+v", prompt, completion, rows)
	}
	for _, r := range rows {
		if r.Model != "gpt-4o" || r.KeyName != "usage" || r.Day == "" {
			t.Fatalf("row %+v", r)
		}
	}
}

func TestTeamShutdownFlushesUsage(t *testing.T) {
	fake := copilottest.New(t)
	g, db := startTeamGateway(t, fake, map[string]string{"COPILOT_PROXY_GLOBAL_CONCURRENCY": "0", "COPILOT_PROXY_GLOBAL_RPM": "0"})
	k := createKey(t, db, "--name", "burst", "--rpm", "0", "--concurrency", "0")
	eventually(t, "key loaded", func() bool { return g.chat(t, "x-api-key", k.Key, "gpt-4o").StatusCode == 200 })
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s := g.chat(t, "x-api-key", k.Key, "gpt-4o").StatusCode; s != 200 {
				t.Errorf("status %d", s)
			}
		}()
	}
	wg.Wait()
	g.stop(t) // right after the burst: the batch has not been flushed yet
	if req, prompt, _, _ := sumUsage(usageRows(t, db, "burst")); req != 41 || prompt != 41*11 {
		t.Fatalf("after shutdown: %d requests, %d prompt tokens; want 41 and %d", req, prompt, 41*11)
	}
}

func TestKeysCLIErrors(t *testing.T) {
	t.Parallel()
	db := t.TempDir() + "/cli.db"
	createKey(t, db, "--name", "dup")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"keys", "create", "--name", "dup"}, "dup"},
		{[]string{"keys", "create"}, "--name is required"},
		{[]string{"keys", "create", "--name", "x", "--expires", "soonish"}, "--expires"},
		{[]string{"keys", "create", "--name", "x", "--rpm", "-3"}, "rpm"},
		{[]string{"keys", "revoke", "nobody"}, "nobody"},
		{[]string{"keys", "revoke"}, "ID or NAME"},
		{[]string{"keys", "rotate", "nobody"}, "nobody"},
		{[]string{"keys", "rotate", "dup", "--grace", "a while"}, "grace"},
		{[]string{"keys", "frob"}, "unknown keys command"},
		{[]string{"usage", "--since", "lately"}, "--since"},
		{[]string{"usage", "--key", "nobody"}, "nobody"},
	} {
		out, err := cli(t, db, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err %v (out %q), want one mentioning %q", tt.args, err, out, tt.want)
		}
	}
	// The database path must be a usable file.
	_, err := cli(t, t.TempDir(), "keys", "list")
	if err == nil {
		t.Error("a directory as --db was accepted")
	}
}

func TestKeysCLIHumanOutput(t *testing.T) {
	t.Parallel()
	db := t.TempDir() + "/h.db"
	out := mustCLI(t, db, "keys", "create", "--name", "gina", "--rpm", "5", "--models", "gpt-4o,claude-sonnet-4", "--expires", "30d")
	if !strings.Contains(out, "cpk_") || !strings.Contains(out, "only time") || !strings.Contains(out, "5 requests/min") {
		t.Fatalf("create output: %q", out)
	}
	list := mustCLI(t, db, "keys", "list")
	if !strings.Contains(list, "gina") || strings.Contains(list, "cpk_") && !strings.Contains(list, "cpk_…") {
		t.Fatalf("list output: %q", list)
	}
	var arr []map[string]any
	if err := json.Unmarshal([]byte(mustCLI(t, db, "keys", "list", "--json")), &arr); err != nil || len(arr) != 1 {
		t.Fatalf("list --json: %v %v", arr, err)
	}
	for _, field := range []string{"id", "name", "hint", "created_at", "expires_at", "rpm", "tpm", "concurrency", "models", "revoked_at", "last_used", "requests", "prompt_tokens", "completion_tokens"} {
		if _, ok := arr[0][field]; !ok {
			t.Errorf("list --json lacks %q", field)
		}
	}
	if _, ok := arr[0]["key"]; ok {
		t.Error("list --json shows the key")
	}
	if out := mustCLI(t, db, "keys", "revoke", "gina"); !strings.Contains(out, "Revoked") {
		t.Fatalf("revoke output %q", out)
	}
}

// A stream still running when the drain times out is cut, and its usage is
// still recorded before the key store closes.
func TestTeamDrainTimeoutKeepsUsage(t *testing.T) {
	fake := copilottest.New(t)
	fake.SetStream(100, 100*time.Millisecond) // a 10 s stream
	g, db := startTeamGateway(t, fake, map[string]string{"COPILOT_PROXY_SHUTDOWN_TIMEOUT": "300ms"})
	k := createKey(t, db, "--name", "long")
	c := g.sdk(k.Key)
	ctx := context.Background()
	eventually(t, "key loaded", func() bool { _, err := c.ListModels(ctx); return err == nil })
	req := chatReq("long")
	req.Stream = true
	s, err := c.CreateChatCompletionStream(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	g.stop(t) // run must return nil even though the drain timed out
	if !strings.Contains(g.Logs.String(), "drain timeout reached") {
		t.Fatal("the drain did not time out; the test proves nothing")
	}
	if req, _, _, _ := sumUsage(usageRows(t, db, "long")); req != 1 {
		t.Fatalf("the cut stream was not recorded: %d requests", req)
	}
}

// An upstream stream that ends cleanly but without [DONE] was cut: the
// client gets a final error event and the request counts as an error.
func TestStreamEndingWithoutDoneIsAnError(t *testing.T) {
	fake := copilottest.New(t)
	fake.SetStreamEvents([]string{
		`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"half an"}}]}`,
		`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" answer"}}]}`,
	})
	g, db := startTeamGateway(t, fake, nil)
	k := createKey(t, db, "--name", "cut")
	eventually(t, "key loaded", func() bool { return g.chat(t, "x-api-key", k.Key, "gpt-4o").StatusCode != 401 })
	req, _ := http.NewRequest(http.MethodPost, g.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"x"}]}`))
	req.Header.Set("x-api-key", k.Key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), " answer") || !strings.HasSuffix(string(body), "\"code\":\"upstream_error\"}}\n\n") {
		t.Fatalf("stream without [DONE] relayed as %q", body)
	}
	g.stop(t)
	// The non-stream probe succeeded; the cut stream is the one error.
	if req, _, _, errs := sumUsage(usageRows(t, db, "cut")); req != 2 || errs != 1 {
		t.Fatalf("usage: %d requests, %d errors; want 2 and 1", req, errs)
	}
}
