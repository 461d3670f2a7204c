package server

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// The kernel's receive time of each read, on Linux: SO_TIMESTAMPNS makes
// recvmsg(2) on a TCP socket return, as a control message, the time the
// kernel received the last segment it read (tcp_recv_timestamp). A request
// that waited in the socket buffer and the run queue while the server was
// busy then counts that wait against its deadline: a wait the server
// cannot otherwise see, and that its clients do.

// stampConn turns on receive timestamps for an accepted TCP connection and
// returns its raw connection; nil (no timestamps, plain reads) for any
// other connection or when the option cannot be set.
func stampConn(c net.Conn) syscall.RawConn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return nil
	}
	return raw
}

// stamped is a connection's timestamped reads: the state of recvmsg calls
// made from raw.Read's callback, bound once (a closure per read would be
// an allocation per request).
type stamped struct {
	raw  syscall.RawConn
	p    []byte
	n    int
	oobn int
	err  error
	oob  [8]uint64 // a cmsghdr and a timespec, 8-byte aligned
	recv func(fd uintptr) bool
}

func newStamped(raw syscall.RawConn) *stamped {
	s := &stamped{raw: raw}
	s.recv = s.recvmsg
	return s
}

// oobBuf is s.oob as bytes, for recvmsg and rxStamp.
func (s *stamped) oobBuf() []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(&s.oob[0])), len(s.oob)*8)
}

func (s *stamped) recvmsg(fd uintptr) bool {
	for {
		s.n, s.oobn, _, _, s.err = syscall.Recvmsg(int(fd), s.p, s.oobBuf(), 0)
		if s.err != syscall.EINTR {
			return s.err != syscall.EAGAIN // EAGAIN: wait for the poller
		}
	}
}

// read reads into p as net.Conn.Read does and returns the kernel's
// receive time of what it read (Unix ns; 0 when none came).
func (s *stamped) read(c net.Conn, p []byte) (n int, at int64, err error) {
	if len(p) == 0 {
		return 0, 0, nil
	}
	s.p = p
	err = s.raw.Read(s.recv) // honours the connection's read deadline
	s.p = nil
	if err != nil { // a *net.OpError already: deadline, closed
		return 0, 0, err
	}
	if s.err != nil {
		return 0, 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("recvmsg", s.err)}
	}
	if s.n == 0 {
		return 0, 0, io.EOF
	}
	return s.n, rxStamp(s.oobBuf()[:s.oobn]), nil
}

// rxStamp finds the SCM_TIMESTAMPNS control message in oob and returns its
// time in Unix ns; 0 when there is none. oob must be 8-byte aligned.
// (syscall.ParseSocketControlMessage would allocate a slice per read.)
func rxStamp(oob []byte) int64 {
	const hdr = syscall.SizeofCmsghdr
	for len(oob) >= hdr {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < hdr || l > len(oob) {
			return 0
		}
		if h.Level == syscall.SOL_SOCKET && h.Type == syscall.SCM_TIMESTAMPNS &&
			l >= hdr+int(unsafe.Sizeof(syscall.Timespec{})) {
			return (*syscall.Timespec)(unsafe.Pointer(&oob[hdr])).Nano()
		}
		l = syscall.CmsgSpace(l - hdr) // CMSG_ALIGN(l): hdr is aligned
		if l > len(oob) {
			return 0
		}
		oob = oob[l:]
	}
	return 0
}

// stampAnchor keeps receive timestamps on for the host while the server
// runs, and returns what turns them off. Linux timestamps incoming packets
// (a static key) while any socket other than a Unix one asks for it, and
// patches kernel code each time the count of such sockets goes from 0 to 1
// or back. With connections opened and closed one at a time, each one did
// both: sequential HTTP/1.0 requests to gannet serve, one connection each,
// took 370-394 us per connection against 218-245 us without timestamps,
// and 218-242 us with this socket open (commit 642d2c4). A UDP socket
// that asks for timestamps, bound to nothing and never read, keeps the
// count above 0; it also gives the first request of a connection, which
// can come before the connection is accepted, its time.
func stampAnchor() (close func()) {
	for _, family := range []int{syscall.AF_INET, syscall.AF_INET6} {
		fd, err := syscall.Socket(family, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			continue
		}
		if syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1) != nil {
			syscall.Close(fd)
			continue
		}
		return sync.OnceFunc(func() { syscall.Close(fd) }) // Shutdown may run twice
	}
	return func() {}
}
