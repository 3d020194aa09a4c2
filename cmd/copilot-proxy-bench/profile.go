package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
)

// runProfile captures a CPU profile and a heap profile of copilot-proxy
// (through its --pprof-addr listener) while it serves non-stream chat at
// concurrency 64 and streams at concurrency 8, and writes them to dir.
func runProfile(o options, dir string, stdout, stderr io.Writer) error {
	raiseFileLimit()
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "copilot-proxy-profile-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fake := copilottest.NewServer(copilottest.WithoutRecording())
	defer fake.Close()
	e := &env{o: o, fake: fake, dir: tmp, bin: bin, log: stderr}
	e.body, e.sbody = chatBodies(o.bodyKiB)
	if e.key, err = e.createKey(); err != nil {
		return err
	}
	e.metrics = hasMetricsFlag(bin)
	pprofAddr, err := freeAddr()
	if err != nil {
		return err
	}
	e.extra = []string{"--pprof-addr", pprofAddr}
	t, _, err := e.start("copilot-proxy")
	if err != nil {
		return err
	}
	defer t.proc.stop()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	secs := int(o.roundDur.Seconds())
	if secs < 1 {
		secs = 1
	}
	fake.SetStream(streamEvents, 5*time.Millisecond)
	conc := max(o.profConc, 1)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		c := newClient(2 * conc)
		defer c.CloseIdleConnections()
		e.load(c, t, conc, time.Duration(secs+1)*time.Second)
	}()
	go func() {
		defer wg.Done()
		if conc == 1 {
			return // the c=1 path alone
		}
		c := newClient(16)
		defer c.CloseIdleConnections()
		e.streamLoad(c, t, 8, time.Duration(secs+1)*time.Second)
	}()
	time.Sleep(300 * time.Millisecond)
	base := "http://" + pprofAddr + "/debug/pprof/"
	if err := fetch(base+"profile?seconds="+strconv.Itoa(secs), filepath.Join(dir, "cpu.pprof")); err != nil {
		return err
	}
	if err := fetch(base+"heap", filepath.Join(dir, "heap.pprof")); err != nil {
		return err
	}
	if err := fetch(base+"allocs", filepath.Join(dir, "allocs.pprof")); err != nil {
		return err
	}
	wg.Wait()
	fmt.Fprintf(stdout, "wrote %s/{cpu,heap,allocs}.pprof; read them with: go tool pprof -top %s %s/cpu.pprof\n", dir, bin, dir)
	return nil
}

func fetch(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// saveMemProfiles saves the heap (inuse), goroutine (with stacks) and
// runtime/metrics-style memory summary of the process serving pprof at addr.
func saveMemProfiles(addr, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// In order: the memory statistics as they are, the profiles, then the
	// statistics again after the garbage collections the heap profiles ran
	// (a collection may shrink goroutine stacks).
	for _, f := range [][2]string{
		{"held-memstats.txt", "/debug/pprof/heap?debug=1"},
		{"held-goroutine.pprof", "/debug/pprof/goroutine"},
		{"held-goroutines.txt", "/debug/pprof/goroutine?debug=1"},
		{"held-heap.pprof", "/debug/pprof/heap?gc=1"},
		{"held-heap2.pprof", "/debug/pprof/heap?gc=1"},
		{"held-memstats-after-gc.txt", "/debug/pprof/heap?debug=1"},
	} {
		name, path := f[0], f[1]
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
