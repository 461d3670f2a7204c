package server

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// TestReadsCarryTheKernelReceiveTime reads, through the listener the HTTP
// server uses, bytes that sat in the socket for a while: the connection
// reports when the kernel received them, not when they were read, and
// reads as a plain connection does (the bytes, then io.EOF).
func TestReadsCarryTheKernelReceiveTime(t *testing.T) {
	stampsOn(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted, written := make(chan struct{}), make(chan struct{})
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			close(written)
			return
		}
		<-accepted // bytes that came before the option was set carry no time
		c.Write([]byte("first"))
		close(written)
		time.Sleep(300 * time.Millisecond) // past the reads below that wait for nothing
		c.Write([]byte("second"))
		c.Close()
	}()
	nc, err := readListener{ln}.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	close(accepted)
	c := nc.(*readConn)
	if c.st == nil {
		t.Fatal("no receive timestamps on a TCP connection")
	}
	<-written
	time.Sleep(30 * time.Millisecond) // "first" waits in the socket
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	read := time.Now()
	if err != nil || string(buf[:n]) != "first" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if c.rxAt == 0 {
		t.Fatal("no receive time for the bytes read")
	}
	if waited := read.Sub(time.Unix(0, c.rxAt)); waited < 20*time.Millisecond || waited > 10*time.Second {
		t.Fatalf("received %v before it was read, want about 30ms or more", waited)
	}
	// Nothing more for a while: a read deadline ends the read as it
	// ends a plain one (fasthttp's read timeout relies on it).
	c.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
	if n, err := c.Read(buf); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past its deadline: %d, %v; want os.ErrDeadlineExceeded", n, err)
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("read past its deadline: %#v is not a net.Error that says Timeout", err)
	}
	c.SetReadDeadline(time.Time{})
	var got bytes.Buffer
	for {
		n, err := c.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		// Read as soon as they came: their own time, not the first
		// bytes' (300ms older).
		if waited := time.Since(time.Unix(0, c.rxAt)); waited > 150*time.Millisecond {
			t.Errorf("a read just after the bytes came reports them %v old", waited)
		}
	}
	if got.String() != "second" {
		t.Fatalf("then read %q, want second", got.String())
	}
}

// TestTheFirstBytesOfAConnectionCarryTheirTime: a client's first request
// can arrive before the server has accepted its connection and asked for
// timestamps. With the server's anchor socket keeping timestamps on for the
// host (stampAnchor), those bytes have their time too.
func TestTheFirstBytesOfAConnectionCarryTheirTime(t *testing.T) {
	stampsOn(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("early"))
	time.Sleep(30 * time.Millisecond)
	nc, err := readListener{ln}.Accept() // after the bytes came
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rc := nc.(*readConn)
	buf := make([]byte, 16)
	if n, err := rc.Read(buf); err != nil || string(buf[:n]) != "early" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if rc.rxAt == 0 {
		t.Fatal("bytes that came before the connection was accepted have no receive time")
	}
	if waited := time.Since(time.Unix(0, rc.rxAt)); waited < 20*time.Millisecond || waited > 10*time.Second {
		t.Fatalf("received %v before now, want about 30ms or more", waited)
	}
}

// stampsOn keeps receive timestamps on for the test, as a Server does.
func stampsOn(t *testing.T) {
	t.Cleanup(stampAnchor())
	time.Sleep(100 * time.Millisecond) // the kernel turns them on from a work queue
}

// cmsg builds a control message as the kernel lays it out.
func cmsg(level, typ int32, data []byte) []byte {
	b := make([]byte, syscall.SizeofCmsghdr, syscall.CmsgSpace(len(data)))
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(syscall.CmsgLen(len(data)))
	b = append(b, data...)
	return b[:cap(b)]
}

func timespec(sec, nsec int64) []byte {
	b := make([]byte, 16)
	binary.NativeEndian.PutUint64(b, uint64(sec))
	binary.NativeEndian.PutUint64(b[8:], uint64(nsec))
	return b
}

// aligned copies b into 8-byte aligned memory, as the kernel's buffer is.
func aligned(b []byte) []byte {
	w := make([]uint64, (len(b)+7)/8)
	a := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(w))), len(w)*8)[:len(b)]
	copy(a, b)
	return a
}

func TestRxStamp(t *testing.T) {
	stamp := cmsg(syscall.SOL_SOCKET, syscall.SCM_TIMESTAMPNS, timespec(1700000000, 123))
	other := cmsg(syscall.SOL_IP, 8, []byte{1, 2, 3, 4})
	for _, tc := range []struct {
		name string
		oob  []byte
		want int64
	}{
		{"none", nil, 0},
		{"the timestamp", stamp, 1700000000*1e9 + 123},
		{"after another message", append(append([]byte{}, other...), stamp...), 1700000000*1e9 + 123},
		{"another message only", other, 0},
		{"cut short", stamp[:20], 0},
		{"header only", stamp[:syscall.SizeofCmsghdr], 0},
	} {
		if got := rxStamp(aligned(tc.oob)); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// FuzzRxStamp: any control bytes parse without a panic or a read past
// their end.
func FuzzRxStamp(f *testing.F) {
	f.Add(cmsg(syscall.SOL_SOCKET, syscall.SCM_TIMESTAMPNS, timespec(1, 2)))
	f.Add(cmsg(syscall.SOL_IP, 8, []byte{1, 2, 3, 4}))
	f.Add([]byte{255, 255, 255, 255, 255, 255, 255, 255, 1, 0, 0, 0, 35, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		rxStamp(aligned(b))
	})
}
