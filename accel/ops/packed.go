package ops

import (
	"sync"
	"sync/atomic"
	"unsafe"
	"weak"

	"github.com/gannet-ml/gannet/accel/blas"
)

// Packed weights. An op with constant weights packs them on its first run
// (blas.PackA/PackB). The buckets of one model are separate graphs whose
// ops read the same weight buffers, so the packed copies are shared: a
// process-wide table maps a weight buffer (and the packing's shape) to its
// packed copy, held weakly, so that a copy lives as long as an op uses it.

// packKey identifies a packing: the source buffer, its length and how it
// is packed.
type packKey struct {
	src     uintptr // the buffer's first element
	n       int
	kind    byte // 'c' convolution (B operand), 'g' Gemm (A operand)
	rows, k int
	trans   bool
}

// packedW is an op's packed weights with the buffer they came from.
type packedW struct {
	pw  *blas.Packed
	src *float32
	n   int
}

var shared struct {
	mu sync.Mutex
	m  map[packKey]weak.Pointer[blas.Packed]
}

// packedFor returns w packed (by pack, for key's shape), from the op's own
// cache, else from the shared table, else packing it; nil when pack
// returns nil. A packed copy keeps its source alive (blas.Packed holds
// it), so a table entry's address cannot be reused by other weights while
// the copy lives.
func packedFor(cache *atomic.Pointer[packedW], key packKey, w []float32, pack func([]float32) *blas.Packed) *blas.Packed {
	src := unsafe.SliceData(w)
	if c := cache.Load(); c != nil && c.src == src && c.n == len(w) {
		return c.pw
	}
	key.src, key.n = uintptr(unsafe.Pointer(src)), len(w)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	var pw *blas.Packed
	if wp, ok := shared.m[key]; ok {
		pw = wp.Value()
	}
	if pw == nil {
		if pw = pack(w); pw == nil {
			return nil
		}
		if shared.m == nil {
			shared.m = map[packKey]weak.Pointer[blas.Packed]{}
		}
		for k, wp := range shared.m { // forget copies no op uses any more
			if wp.Value() == nil {
				delete(shared.m, k)
			}
		}
		shared.m[key] = weak.Make(pw)
	}
	cache.Store(&packedW{pw: pw, src: src, n: len(w)})
	return pw
}
