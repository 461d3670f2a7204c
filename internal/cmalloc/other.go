//go:build !linux || !cgo

package cmalloc

// LimitArenas does nothing without glibc.
func LimitArenas(n int) {}
