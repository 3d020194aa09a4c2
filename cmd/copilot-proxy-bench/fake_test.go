//go:build linux

package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot/copilotfake"
)

// TestMain lets the test binary play the -fake-upstream child: the bench
// re-executes itself with that flag, which the test binary would refuse.
func TestMain(m *testing.M) {
	if proto := os.Getenv("BENCH_TEST_FAKE_UPSTREAM"); proto != "" {
		if err := runFakeUpstream(proto, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func startTestFake(t *testing.T, proto string) *remoteFake {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "BENCH_TEST_FAKE_UPSTREAM="+proto)
	rf, err := startRemoteFake(cmd, filepath.Join(t.TempDir(), "fake.log"))
	if err != nil {
		t.Fatal(err)
	}
	return rf
}

// The fake in its own process serves the Copilot API, follows SetStream and
// reports its connections and requests in flight, over both protocols; it
// ends when the bench closes its stdin, without being killed.
func TestRemoteFake(t *testing.T) {
	t.Parallel()
	for _, proto := range []string{"h1", "h2"} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			rf := startTestFake(t, proto)
			defer rf.Close() // after a failure; Close is safe twice
			var tlsConf *tls.Config
			if proto == "h2" {
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(rf.CACertPEM()) {
					t.Fatal("no CA certificate in the hello")
				}
				tlsConf = &tls.Config{RootCAs: pool}
			} else if rf.CACertPEM() != nil {
				t.Fatal("a CA certificate over plain HTTP/1.1")
			}
			c := newClient(2, tlsConf)
			defer c.CloseIdleConnections()
			tok, err := exchange(c, rf.URL(), copilotfake.GitHubToken)
			if err != nil {
				t.Fatal(err)
			}
			rf.SetStream(7, time.Millisecond)
			body := streamBody(t, c, rf.URL(), tok, proto)
			if n := strings.Count(body, `"content":"`); n != 7 {
				t.Errorf("%d content chunks, want the 7 SetStream asked for:\n%s", n, body)
			}
			if n := rf.Connections(); n < 1 {
				t.Errorf("Connections() = %d after two requests", n)
			}
			if n := rf.InFlight(); n != 0 {
				t.Errorf("InFlight() = %d with nothing in flight", n)
			}
			if err := rf.err(); err != nil {
				t.Fatal(err)
			}
			rf.Close()
			if code := rf.cmd.ProcessState.ExitCode(); code != 0 {
				t.Errorf("the fake exited with %d, want 0 (it ends when its stdin closes)", code)
			}
		})
	}
}

// streamBody makes one streamed chat request to the fake and returns the
// whole answer.
func streamBody(t *testing.T, c *http.Client, base, tok, proto string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", base+copilotfake.PathChat,
		strings.NewReader(`{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %v: %s", resp.Status, err, b)
	}
	if want := map[string]int{"h1": 1, "h2": 2}[proto]; resp.ProtoMajor != want {
		t.Errorf("answered over %s, want HTTP/%d", resp.Proto, want)
	}
	return string(b)
}

// A control call that fails is kept, so the bench stops rather than publish
// figures measured with the wrong settings.
func TestRemoteFakeKeepsAFailedControlCall(t *testing.T) {
	t.Parallel()
	rf := startTestFake(t, "h1")
	defer rf.Close()
	rf.SetStream(1, 0)
	if err := fakeErr(rf); err != nil {
		t.Fatal(err)
	}
	rf.hello.Control += "/nowhere" // 404 from here on
	rf.SetStream(1, 0)
	if fakeErr(rf) == nil {
		t.Fatal("a refused control call left no error")
	}
}

// The control route refuses what does not parse rather than set zero.
func TestFakeControlRefusesBadSettings(t *testing.T) {
	t.Parallel()
	f := copilotfake.NewServer(copilotfake.WithoutRecording())
	defer f.Close()
	h := fakeControl(f)
	for _, q := range []string{"chunks=x&spacing=1ms", "chunks=3&spacing=5", "spacing=1ms", ""} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/stream?"+q, nil))
		if w.Code != http.StatusBadRequest {
			t.Errorf("POST /stream?%s: %d, want 400", q, w.Code)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/stream?chunks=3&spacing=1ms", nil))
	if w.Code != http.StatusNoContent {
		t.Errorf("POST /stream with good settings: %d, want 204", w.Code)
	}
}
