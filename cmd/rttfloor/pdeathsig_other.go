//go:build !linux

package main

import "syscall"

// dieWithParent: only Linux has a parent-death signal; elsewhere a
// killed rttfloor leaves its child to be killed by hand.
func dieWithParent() *syscall.SysProcAttr { return nil }
