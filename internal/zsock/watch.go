package zsock

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// fdWatch tells a Loop's owner when its sockets may have something to do,
// through Go's netpoller.
//
// A socket's ZMQ_FD is an eventfd that libzmq signals when commands for the
// socket arrive and reads when the owner calls into libzmq (GetEvents, Recv,
// Send). The watcher puts those descriptors in an epoll set of its own,
// level-triggered and EPOLLIN only, and hands that epoll descriptor to the
// runtime with os.NewFile: the runtime's epoll then reports the set as
// readable whenever one of the eventfds is, and the watcher goroutine parks
// on it like any network read. (Registering the eventfds directly would
// also report every EPOLLOUT edge libzmq's reads cause.)
//
// Hand-shake, so that nothing is lost and nothing spins: the watcher waits
// until the set is readable, sends on ready and waits for rearm; the owner,
// once it has found the sockets idle (GetEvents, after which libzmq signals
// anew for anything that arrives), calls rearm before it parks. The
// readiness test is level (epoll_wait with no timeout, which consumes
// nothing) and runs after the runtime has cleared its own edge, so an event
// between the owner's check and the watcher's wait is seen either way.
type fdWatch struct {
	f      *os.File // the epoll descriptor, registered with the netpoller
	ep     int
	ready  chan struct{} // cap 1: the set was readable
	again  chan struct{} // cap 1: the owner has drained; look again
	quit   chan struct{}
	exited chan struct{}
	waits  bool // owner only: the watcher has fired and waits for rearm
}

func newWatcher(fds []int) (*fdWatch, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	for _, fd := range fds {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			unix.Close(ep)
			return nil, fmt.Errorf("epoll_ctl: %w", err)
		}
	}
	if err := unix.SetNonblock(ep, true); err != nil { // so that os.NewFile uses the netpoller
		unix.Close(ep)
		return nil, err
	}
	f := os.NewFile(uintptr(ep), "zsock-epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	w := &fdWatch{f: f, ep: ep, ready: make(chan struct{}, 1), again: make(chan struct{}, 1),
		quit: make(chan struct{}), exited: make(chan struct{})}
	go w.run(rc)
	return w, nil
}

func (w *fdWatch) run(rc syscall.RawConn) {
	defer close(w.exited)
	var evs [2]unix.EpollEvent
	readable := func(uintptr) bool {
		n, err := unix.EpollWait(w.ep, evs[:], 0)
		return n > 0 || err != nil && !errors.Is(err, unix.EINTR)
	}
	for {
		// RawConn.Read calls readable, and while it says no, parks until
		// the netpoller reports the epoll set readable.
		if err := rc.Read(readable); err != nil {
			return // closed by stop
		}
		w.ready <- struct{}{} // never blocks: the owner rearms only after taking it
		select {
		case <-w.again:
		case <-w.quit:
			return
		}
	}
}

// fired records that the owner took a signal from ready.
func (w *fdWatch) fired() { w.waits = true }

// rearm lets the watcher look again, if it fired; the owner calls it after
// it has found every socket idle and before it parks.
func (w *fdWatch) rearm() {
	if w.waits {
		w.waits = false
		w.again <- struct{}{}
	}
}

// stop ends the watcher goroutine, waits for it and closes the epoll set.
func (w *fdWatch) stop() {
	close(w.quit)
	w.f.Close() // ends a parked rc.Read
	<-w.exited
}
