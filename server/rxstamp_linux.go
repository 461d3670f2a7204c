package server

import (
	"io"
	"net"
	"os"
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

func (s *stamped) recvmsg(fd uintptr) bool {
	oob := unsafe.Slice((*byte)(unsafe.Pointer(&s.oob[0])), len(s.oob)*8)
	for {
		s.n, s.oobn, _, _, s.err = syscall.Recvmsg(int(fd), s.p, oob, 0)
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
	oob := unsafe.Slice((*byte)(unsafe.Pointer(&s.oob[0])), len(s.oob)*8)
	return s.n, rxStamp(oob[:s.oobn]), nil
}

const wordSize = int(unsafe.Sizeof(uintptr(0)))

// rxStamp finds the SCM_TIMESTAMPNS control message in oob and returns its
// time in Unix ns; 0 when there is none. oob must be 8-byte aligned.
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
		l = (l + wordSize - 1) &^ (wordSize - 1) // CMSG_ALIGN
		if l > len(oob) {
			return 0
		}
		oob = oob[l:]
	}
	return 0
}
