//go:build linux && cgo

// Package cmalloc caps the number of arenas of the C allocator (glibc
// malloc) that libzmq and OpenBLAS allocate from. Importing it is enough:
// a C constructor calls mallopt(M_ARENA_MAX, 2) when the process starts,
// before the runtime or any library starts a thread.
//
// glibc gives each thread that calls malloc an arena of its own, up to
// eight per core, and an arena keeps the memory freed inside it. In a Go
// process every thread (M) that calls into libzmq allocates messages, so
// the soak test's frontend gathered 13 arenas holding about 10 MiB, its
// resident memory rising 55 -> 64 MiB in seven minutes with the Go heap
// flat. Capped from main, 4 arenas were already there (made while the
// runtime and the libraries started up); from a constructor there are 2.
// Contention stays low: libzmq allocates a few messages per request.
//
// The package has no API and no state.
package cmalloc

/*
#include <malloc.h>

__attribute__((constructor)) static void gannet_cap_malloc_arenas(void) {
	mallopt(M_ARENA_MAX, 2);
}
*/
import "C"
