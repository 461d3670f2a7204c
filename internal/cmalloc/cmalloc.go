//go:build linux && cgo

// Package cmalloc tunes the C allocator (glibc malloc) that libzmq and
// OpenBLAS allocate from.
//
// glibc gives each thread that calls malloc an arena of its own, up to
// eight per core, and an arena keeps the memory freed inside it. In a Go
// process every thread (M) that calls into libzmq allocates messages, so
// the soak test's frontend gathered 13 arenas holding about 10 MiB, its
// resident memory rising 55 -> 64 MiB in seven minutes with the Go heap
// flat. Two arenas bound what malloc keeps; contention stays low, as
// libzmq allocates a few messages per request.
//
// LimitArenas is safe for concurrent use.
package cmalloc

/*
#include <malloc.h>
*/
import "C"

// LimitArenas caps the number of malloc arenas; call it first thing in
// main, before threads allocate. n < 1 is ignored.
func LimitArenas(n int) {
	if n >= 1 {
		C.mallopt(C.M_ARENA_MAX, C.int(n))
	}
}
