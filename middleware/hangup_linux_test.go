//go:build linux

package middleware

import (
	"testing"
	"time"
)

// TestEpollSetOutlivesItsWatches: the hang-up set stays between streams (a
// quiet server would otherwise make and drop a set, a goroutine and their
// system calls for every stream), until the Detacher closes.
func TestEpollSetOutlivesItsWatches(t *testing.T) {
	t.Parallel()
	d := NewDetacher(nil)
	srv, c, _ := keepAliveServer(t, d, time.Minute, nil, nil)
	set := func() *epollSet {
		d.hangups.mu.Lock()
		defer d.hangups.mu.Unlock()
		return d.hangups.set
	}
	stream(t, c, srv.URL)
	first := set()
	stream(t, c, srv.URL)
	if first == nil || set() != first {
		t.Fatalf("the set after the first stream %p, after the second %p; want one set kept", first, set())
	}
	d.Close()
	if set() != nil {
		t.Error("the set outlived Close")
	}
}
