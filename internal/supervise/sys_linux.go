package supervise

import "syscall"

// The child gets SIGTERM when the thread that started it dies; supervision
// goroutines are not locked to threads, so this is only a backstop for a
// crash of the whole supervising process.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
