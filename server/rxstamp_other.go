//go:build !linux

package server

import (
	"net"
	"syscall"
)

// Receive timestamps are Linux only (rxstamp_linux.go): elsewhere a
// request arrives when its handler starts.

type stamped struct{}

func stampConn(net.Conn) syscall.RawConn { return nil }

func newStamped(syscall.RawConn) *stamped { return nil }

func (*stamped) read(net.Conn, []byte) (int, int64, error) {
	panic("server: no receive timestamps here")
}

func stampAnchor() (close func()) { return func() {} }
