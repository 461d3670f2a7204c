package kernels

import (
	"github.com/gannet-ml/gannet/accel/internal/parallel"
)

// Add computes dst = act(x + y) elementwise over len(dst) values (a
// residual connection; ReLU fused). dst may be x or y (in place).
func Add(dst, x, y []float32, act Act) {
	if !(len(x) >= len(dst) && len(y) >= len(dst)) {
		panicf("add: slices of %d and %d values for %d", len(x), len(y), len(dst))
	}
	t := eltTasks.Get()
	*t = eltTask{dst: dst, x: x, y: y, act: act}
	parallel.Run(parallel.Parts(len(dst), eltMin), t)
	*t = eltTask{}
	eltTasks.Put(t)
}

// Activate computes dst = act(x) elementwise; dst may be x.
func Activate(dst, x []float32, act Act) {
	if !(len(x) >= len(dst)) {
		panicf("activate: %d values for %d", len(x), len(dst))
	}
	t := eltTasks.Get()
	*t = eltTask{dst: dst, x: x, act: act}
	parallel.Run(parallel.Parts(len(dst), eltMin), t)
	*t = eltTask{}
	eltTasks.Put(t)
}

type eltTask struct {
	dst, x, y []float32
	act       Act
}

var eltTasks parallel.Free[eltTask]

func (t *eltTask) Run(part, parts int) {
	// Blocks of 16 values so that parts do not share cache lines.
	blocks := (len(t.dst) + 15) / 16
	lo, hi := parallel.Range(blocks, part, parts)
	lo, hi = lo*16, min(hi*16, len(t.dst))
	if lo >= hi {
		return
	}
	d := t.dst[lo:hi]
	if t.y == nil {
		x := t.x[lo:hi]
		if &d[0] != &x[0] {
			copy(d, x)
		}
		biasAct(d, 0, t.act)
		return
	}
	addAct(d, t.x[lo:hi], t.y[lo:hi], t.act)
}
