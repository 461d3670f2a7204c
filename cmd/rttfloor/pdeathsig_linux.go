package main

import "syscall"

// dieWithParent makes a server child exit when this process does, even
// when it is killed (a test binary on its timeout).
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
