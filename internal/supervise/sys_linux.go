package supervise

import "syscall"

// The child runs in a process group of its own, so that a Ctrl-C at the
// terminal reaches only the supervisor, which stops its children in order.
// It gets SIGTERM when the thread that started it dies; supervision
// goroutines are not locked to threads, so this is only a backstop for a
// crash of the whole supervising process.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
