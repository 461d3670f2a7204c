package ops

import (
	"sync/atomic"
	"testing"

	"github.com/gannet-ml/gannet/accel/blas"
)

// TestPackedShared checks that two ops packing the same weights the same
// way share one copy, and that other weights or shapes get their own.
func TestPackedShared(t *testing.T) {
	if !blas.PackAvailable() {
		t.Skip("packed products are not available here")
	}
	w := make([]float32, 64*72)
	packs := 0
	pack := func(w []float32) *blas.Packed { packs++; return blas.PackB(w, 72, 64, 72, true) }
	var c1, c2, c3 atomic.Pointer[packedW]
	key := packKey{kind: 'c', rows: 64, k: 72}
	p1 := packedFor(&c1, key, w, pack)
	p2 := packedFor(&c2, key, w, pack)
	if p1 == nil || p1 != p2 || packs != 1 {
		t.Fatalf("same weights: copies %p %p after %d packings, want one", p1, p2, packs)
	}
	if packedFor(&c1, key, w, pack) != p1 || packs != 1 {
		t.Fatal("an op's second run packed again")
	}
	other := make([]float32, len(w))
	if p3 := packedFor(&c3, key, other, pack); p3 == p1 || packs != 2 {
		t.Fatal("other weights shared a copy")
	}
	if a := testing.AllocsPerRun(100, func() { packedFor(&c1, key, w, pack) }); a != 0 {
		t.Fatalf("%v allocations per lookup", a)
	}
}
