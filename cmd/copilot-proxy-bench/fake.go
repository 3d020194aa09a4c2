//go:build linux

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot/copilotfake"
)

// fake is what the bench needs of the fake upstream, whether it runs in the
// bench's own process (-fake-in-process) or, by default, in a process of its
// own (this binary re-executed with -fake-upstream), as Copilot is another
// machine for every proxy and for the direct client alike.
type fake interface {
	URL() string
	CACertPEM() []byte // nil over plain HTTP/1.1
	SetStream(chunks int, spacing time.Duration)
	Connections() int
	InFlight() int
	Close()
}

// fakeHello is the one line a -fake-upstream process prints once it serves.
type fakeHello struct {
	URL     string `json:"url"`
	Control string `json:"control"` // base URL of the control routes
	CA      []byte `json:"ca,omitempty"`
}

// fakeCounters is the answer of the control route GET /counters.
type fakeCounters struct {
	Connections int `json:"connections"`
	InFlight    int `json:"in_flight"`
}

// runFakeUpstream is the -fake-upstream mode: the fake speaking proto (h1 or
// h2), and on another loopback port the control routes the bench drives it
// with. It prints a fakeHello line and serves until its stdin closes (the
// bench ended, however it ended).
func runFakeUpstream(proto string, stdin io.Reader, stdout io.Writer) error {
	if proto != "h1" && proto != "h2" {
		return fmt.Errorf("-fake-upstream: %q is neither h1 nor h2", proto)
	}
	raiseFileLimit() // the h1 memory phase holds a connection per stream
	opts := []copilotfake.Option{copilotfake.WithoutRecording()}
	if proto == "h2" {
		opts = append(opts, copilotfake.WithTLS(0))
	}
	f := copilotfake.NewServer(opts...)
	defer f.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: fakeControl(f), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	hello := fakeHello{URL: f.URL(), Control: "http://" + ln.Addr().String(), CA: f.CACertPEM()}
	if err := json.NewEncoder(stdout).Encode(hello); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, stdin)
	return nil
}

// fakeControl serves POST /stream?chunks=N&spacing=D and GET /counters.
func fakeControl(f *copilotfake.Server) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /stream", func(w http.ResponseWriter, r *http.Request) {
		chunks, err1 := strconv.Atoi(r.FormValue("chunks"))
		spacing, err2 := time.ParseDuration(r.FormValue("spacing"))
		if err := errors.Join(err1, err2); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.SetStream(chunks, spacing)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /counters", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(fakeCounters{Connections: f.Connections(), InFlight: f.InFlight()})
	})
	return mux
}

// remoteFake is a -fake-upstream child process. Its methods cannot fail the
// phase they are called in: the first error is kept, and the bench checks
// err after each upstream's phases so a broken control call cannot pass
// for a measurement.
type remoteFake struct {
	cmd   *exec.Cmd
	stdin io.Closer
	hello fakeHello
	c     *http.Client
	done  chan struct{}

	mu    sync.Mutex
	first error
}

// startRemoteFake starts cmd (this binary with -fake-upstream PROTO), its
// errors to logPath, and waits for its hello line.
func startRemoteFake(cmd *exec.Cmd, logPath string) (*remoteFake, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logf
	stdin, err1 := cmd.StdinPipe()
	stdout, err2 := cmd.StdoutPipe()
	if err := errors.Join(err1, err2); err != nil {
		if stdin != nil {
			stdin.Close()
		}
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	// A transport of its own: Close must not close the process's default pool.
	c := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	rf := &remoteFake{cmd: cmd, stdin: stdin, c: c, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(rf.done)
	}()
	// A child that never says hello is killed, which ends the read.
	timer := time.AfterFunc(10*time.Second, func() { _ = cmd.Process.Kill() })
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	timer.Stop()
	if err == nil {
		err = json.Unmarshal(line, &rf.hello)
	}
	if err != nil {
		rf.Close()
		b, _ := os.ReadFile(logPath) // the scratch folder goes with the bench
		return nil, fmt.Errorf("fake upstream: %w; it wrote: %s", err, lastLines(b, 5))
	}
	return rf, nil
}

func (rf *remoteFake) URL() string       { return rf.hello.URL }
func (rf *remoteFake) CACertPEM() []byte { return rf.hello.CA }

func (rf *remoteFake) SetStream(chunks int, spacing time.Duration) {
	q := url.Values{"chunks": {strconv.Itoa(chunks)}, "spacing": {spacing.String()}}
	resp, err := rf.c.PostForm(rf.hello.Control+"/stream", q)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			err = fmt.Errorf("fake upstream: POST /stream: %s", resp.Status)
		}
	}
	rf.fail(err)
}

func (rf *remoteFake) Connections() int { return rf.counters().Connections }
func (rf *remoteFake) InFlight() int    { return rf.counters().InFlight }

func (rf *remoteFake) counters() fakeCounters {
	var fc fakeCounters
	resp, err := rf.c.Get(rf.hello.Control + "/counters")
	if err == nil {
		if resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("fake upstream: GET /counters: %s", resp.Status)
		} else {
			err = json.NewDecoder(resp.Body).Decode(&fc)
		}
		resp.Body.Close()
	}
	rf.fail(err)
	return fc
}

func (rf *remoteFake) fail(err error) {
	if err == nil {
		return
	}
	rf.mu.Lock()
	defer rf.mu.Unlock()
	if rf.first == nil {
		rf.first = err
	}
}

// err is the first control call that failed, if any.
func (rf *remoteFake) err() error {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	return rf.first
}

// Close ends the child by closing its stdin, and kills it if it is still
// there 5 s later.
func (rf *remoteFake) Close() {
	_ = rf.stdin.Close()
	rf.c.CloseIdleConnections()
	select {
	case <-rf.done:
	case <-time.After(5 * time.Second):
		_ = rf.cmd.Process.Kill()
		<-rf.done
	}
}

// fakeErr is the first failed control call of f when it is a child
// process (an in-process fake cannot fail one).
func fakeErr(f fake) error {
	if rf, ok := f.(*remoteFake); ok {
		return rf.err()
	}
	return nil
}
