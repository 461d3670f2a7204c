//go:build !linux || !cgo

// Package cmalloc caps glibc's malloc arenas; without glibc it does nothing.
package cmalloc
