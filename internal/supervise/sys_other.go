//go:build !linux

package supervise

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
