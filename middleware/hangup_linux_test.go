//go:build linux

package middleware

import (
	"io"
	"net/http"
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

// TestWrappedConnectionUsesTheEpollWatch: a connection wrapped when it went
// back to net/http after a stream is watched by the epoll set for its next
// stream, not by a reading goroutine, and no longer counts as waiting.
func TestWrappedConnectionUsesTheEpollWatch(t *testing.T) {
	t.Parallel()
	d := NewDetacher(nil)
	during := make(chan [3]int, 2)
	srv, c, _ := keepAliveServer(t, d, time.Minute, nil, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		Detach(r, func() {
			d.hangups.mu.Lock()
			watched := len(d.hangups.watched)
			d.hangups.mu.Unlock()
			reading := 0
			if cc := asClient(stateOf(r.Context()).conn); cc != nil && !cc.quiet() {
				reading = 1
			}
			d.mu.Lock()
			waiting := len(d.waiting)
			d.mu.Unlock()
			during <- [3]int{watched, reading, waiting}
			streamEvents(w, 1)
		})
	})
	for i := range 2 {
		stream(t, c, srv.URL)
		if got := <-during; got != [3]int{1, 0, 0} {
			t.Fatalf("stream %d: %d connections in the epoll set, %d read ahead, %d waiting; want 1, 0 and 0", i, got[0], got[1], got[2])
		}
	}
}
