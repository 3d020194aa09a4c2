//go:build linux

package middleware

import (
	"net"
	"os"
	"sync"
	"syscall"
)

// hangups watches the connections of detached responses for the client's
// hang-up (its FIN or RST: EPOLLRDHUP, EPOLLHUP, EPOLLERR) with one epoll
// set, which is itself read through the runtime's poller: no goroutine and
// no buffer per connection, where a reading goroutine would cost a stack
// per stream. The set and its loop start with the first watch and last
// until close (a set made and dropped around each stream would cost every
// stream of a quiet server an epoll descriptor, a goroutine and their
// system calls). A connection it cannot watch (no file descriptor, bytes
// already read ahead, or epoll failed) gets a reading goroutine instead
// (watchByReading).
type hangups struct {
	mu      sync.Mutex
	set     *epollSet // nil before the first watch, after close, or after its loop failed
	next    int32
	watched map[int32]func() // by id: told of the hang-up
	closed  bool
}

// epollSet is an epoll descriptor and the file that reads it.
type epollSet struct {
	fd   int
	file *os.File
	rc   syscall.RawConn
}

// watch calls onHangup once when conn's peer hangs up, until stop is
// called; stop must be called before conn is closed. It returns the
// connection to use from then on, whose next reads return prefix first. A
// connection with such bytes (given now, or read ahead before), or which
// cannot be polled (no file descriptor, or epoll failed), is watched by
// reading (watchByReading).
func (h *hangups) watch(conn net.Conn, prefix []byte, onHangup func()) (net.Conn, func()) {
	if c := asClient(conn); len(prefix) == 0 && (c == nil || c.quiet()) {
		if stop, ok := h.poll(conn, onHangup); ok {
			return conn, stop
		}
	}
	return watchByReading(conn, prefix, onHangup)
}

// poll puts conn's descriptor in the set, for one hang-up: f is told.
func (h *hangups) poll(conn net.Conn, f func()) (stop func(), ok bool) {
	sc, ok := unwrapConn(conn).(syscall.Conn)
	if !ok {
		return nil, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, false
	}
	id, ok := h.add(raw, f)
	if !ok {
		return nil, false
	}
	return func() { h.remove(raw, id) }, true
}

// unwrapConn returns the network connection under conn (a TLS
// connection's).
func unwrapConn(conn net.Conn) net.Conn {
	for {
		u, ok := conn.(interface{ NetConn() net.Conn })
		if !ok {
			return conn
		}
		conn = u.NetConn()
	}
}

// add puts raw's descriptor in the set, starting a set if none runs.
func (h *hangups) add(raw syscall.RawConn, f func()) (int32, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return 0, false
	}
	if h.set == nil {
		set, err := newEpollSet()
		if err != nil {
			return 0, false
		}
		h.set = set
		if h.watched == nil {
			h.watched = make(map[int32]func())
		}
		go h.loop(set)
	}
	h.next++
	id := h.next
	ev := syscall.EpollEvent{Events: syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: id}
	var cerr error
	err := raw.Control(func(fd uintptr) {
		cerr = syscall.EpollCtl(h.set.fd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err != nil || cerr != nil {
		return 0, false
	}
	h.watched[id] = f
	return id, true
}

// newEpollSet creates an epoll set read through the runtime's poller.
func newEpollSet() (*epollSet, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		_ = syscall.Close(fd)
		return nil, err
	}
	// A non-blocking descriptor given to os.NewFile joins the runtime's
	// poller, so the loop waits for it like for a socket.
	f := os.NewFile(uintptr(fd), "hangups")
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return &epollSet{fd: fd, file: f, rc: rc}, nil
}

// loop reads set's events until the set is closed.
func (h *hangups) loop(set *epollSet) {
	evs := make([]syscall.EpollEvent, 64)
	for {
		var n int
		var werr error
		err := set.rc.Read(func(fd uintptr) bool {
			for {
				n, werr = syscall.EpollWait(int(fd), evs, 0)
				if werr != syscall.EINTR {
					break
				}
			}
			return n != 0 || werr != nil // none ready: wait for the set
		})
		if err != nil || werr != nil {
			h.dropSet(set)
			return
		}
		h.fire(evs[:n])
	}
}

// dropSet forgets set after its loop ended (closed, or epoll failed), so
// the next watch starts a new one; the connections it watched are no
// longer watched.
func (h *hangups) dropSet(set *epollSet) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.set == set {
		_ = set.file.Close()
		h.set = nil
	}
}

// fire calls the hang-up function of each connection in evs.
func (h *hangups) fire(evs []syscall.EpollEvent) {
	for _, ev := range evs {
		h.mu.Lock()
		f := h.watched[ev.Fd]
		delete(h.watched, ev.Fd)
		h.mu.Unlock()
		if f != nil {
			f()
		}
	}
}

// remove takes raw's descriptor out of the set.
func (h *hangups) remove(raw syscall.RawConn, id int32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.watched, id)
	if h.set == nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = syscall.EpollCtl(h.set.fd, syscall.EPOLL_CTL_DEL, int(fd), nil)
	})
}

// close stops watching: the set closes (its loop returns), later watches
// read instead.
func (h *hangups) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	clear(h.watched)
	if h.set != nil {
		_ = h.set.file.Close()
		h.set = nil
	}
}
