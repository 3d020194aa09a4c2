//go:build linux

package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"
)

// runProfile captures a CPU profile and a heap profile of copilot-proxy
// (through its --pprof-addr listener) while it serves non-stream chat at
// concurrency 64 and streams at concurrency 8, and writes them to dir. The
// upstream is the HTTP/2 fake when -protocols lists h2 (as Copilot is
// served), else the HTTP/1.1 one.
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
	self, err := os.Executable()
	if err != nil {
		return err
	}
	e := &env{o: o, dir: tmp, self: self, bin: bin, log: stderr, eps: endpoints(o.bodyKiB, false)}
	proto := "h1"
	if slices.Contains(o.protocols, "h2") {
		proto = "h2"
	}
	up, err := e.newUpstream(proto)
	if err != nil {
		return err
	}
	defer up.fake.Close()
	e.ups = []*upstream{up}
	if e.key, err = e.createKey(filepath.Join(tmp, "bench.db")); err != nil {
		return err
	}
	e.metrics = hasMetricsFlag(bin)
	t, _, err := e.start(procSpec{name: "copilot-proxy", up: up, pprof: true})
	if err != nil {
		return err
	}
	defer t.proc.stop()
	fmt.Fprintf(stderr, "profiling copilot-proxy against the %s upstream (%s)\n", up.name, up.label)
	return e.profileUnderLoad(up, t, dir, stdout)
}

// profileUnderLoad loads t as runProfile says and saves its profiles to dir.
func (e *env) profileUnderLoad(up *upstream, t *target, dir string, stdout io.Writer) error {
	o, bin, pprofAddr, fake := e.o, e.bin, t.pprof, up.fake
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	secs := int(o.roundDur.Seconds())
	if secs < 1 {
		secs = 1
	}
	fake.SetStream(streamEvents, streamSpacing)
	conc := max(o.profConc, 1)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		c := newClient(2*conc, nil)
		defer c.CloseIdleConnections()
		e.load(c, cell{e.chat(), t}, conc, time.Duration(secs+1)*time.Second)
	}()
	go func() {
		defer wg.Done()
		if conc == 1 {
			return // the c=1 path alone
		}
		c := newClient(16, nil)
		defer c.CloseIdleConnections()
		e.streamLoad(c, cell{e.chat(), t}, 8, time.Duration(secs+1)*time.Second)
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
	if err := fakeErr(fake); err != nil {
		return err
	}
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

// saveMemProfiles saves, as files named PREFIX-*, the heap (inuse), goroutine (with stacks) and
// runtime/metrics-style memory summary of the process serving pprof at addr.
func saveMemProfiles(addr, dir, prefix string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// In order: the memory statistics as they are, the profiles, then the
	// statistics again after the garbage collections the heap profiles ran
	// (a collection may shrink goroutine stacks).
	for _, f := range [][2]string{
		{prefix + "-memstats.txt", "/debug/pprof/heap?debug=1"},
		{prefix + "-goroutine.pprof", "/debug/pprof/goroutine"},
		{prefix + "-goroutines.txt", "/debug/pprof/goroutine?debug=1"},
		{prefix + "-heap.pprof", "/debug/pprof/heap?gc=1"},
		{prefix + "-heap2.pprof", "/debug/pprof/heap?gc=1"},
		{prefix + "-memstats-after-gc.txt", "/debug/pprof/heap?debug=1"},
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
