package onnx

import (
	"fmt"
	"math"
	"unsafe"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gannet-ml/gannet/accel/exec"
)

// Execution. Each bucket's graph runs on accel's executor (accel/exec):
// sorted and memory-planned once at compile time, then run op by op on the
// calling goroutine with no allocation. The executor owns the input
// buffers: runInto decodes the request bytes straight into them, and
// encodes the outputs straight from the planned result buffers.

// bucketProg is the graph and executor of one bucket.
type bucketProg struct {
	size int
	g    *G.ExprGraph
	ex   *exec.Executor // nil when every output is an input or a constant
	in   []*G.Node      // nil for an input folded as a constant
	inT  []*constT      // views of the executor's input buffers
	out  []*value
	outK []int // executor output index of each output, -1 for a constant
}

// plan makes bp's executor: every non-constant output is an executor
// output, every input node an executor input.
func (bp *bucketProg) plan() error {
	var ins, outs []*G.Node
	for _, n := range bp.in {
		if n != nil {
			ins = append(ins, n)
		}
	}
	bp.outK = make([]int, len(bp.out))
	for i, v := range bp.out {
		bp.outK[i] = -1
		if !v.isConst() {
			bp.outK[i] = len(outs)
			outs = append(outs, v.n)
		}
	}
	bp.inT = make([]*constT, len(bp.in))
	if len(outs) == 0 {
		// Nothing to run; inputs still need a buffer to decode into.
		for i, n := range bp.in {
			if n != nil {
				bp.inT[i] = inputConst(n.Value().(*tensor.Dense))
			}
		}
		return nil
	}
	ex, err := exec.New(bp.g, ins, outs)
	if err != nil {
		return internal("onnx: planning bucket %d: %v", bp.size, err)
	}
	bp.ex = ex
	k := 0
	for i, n := range bp.in {
		if n == nil {
			continue
		}
		bp.inT[i] = inputConst(ex.InputTensor(k))
		k++
	}
	return nil
}

// inputConst views a Dense input buffer as a constT (for decodeInto).
func inputConst(d *tensor.Dense) *constT {
	c := &constT{shape: []int(d.Shape())}
	switch x := d.Data().(type) {
	case []float32:
		c.dt, c.f = dtFloat, x
	case []float64:
		c.dt, c.d = dtDouble, x
	case []int64:
		c.dt, c.i = dtInt64, x
	}
	return c
}

// Fallbacks names, per bucket, the ops that the executor runs through Do
// (allocating) for want of UsePreallocDo: what is left to move onto accel.
func (p *Program) Fallbacks() map[int][]string {
	out := map[int][]string{}
	for _, bp := range p.progs {
		if bp.ex != nil {
			out[bp.size] = bp.ex.Fallbacks()
		}
	}
	return out
}

// runBucket runs bp on the first n rows of inputs (all zeros when inputs is
// nil) and returns the first n rows of each output (every element, for a
// static program). Besides the returned bytes and shapes it allocates
// nothing.
func (p *Program) runBucket(bp *bucketProg, n int, inputs [][]byte) ([][]byte, [][]int64, error) {
	// One block for all output bytes and one for all shapes.
	total, dims := 0, 0
	for i := range bp.out {
		total += p.OutputBytes(i, n)
		dims += p.outRank(i)
	}
	block := make([]byte, total)
	shapeBlock := make([]int64, dims)
	outputs := make([][]byte, len(bp.out))
	shapes := make([][]int64, len(bp.out))
	for i := range bp.out {
		size, r := p.OutputBytes(i, n), p.outRank(i)
		outputs[i], block = block[:size:size], block[size:]
		shapes[i], shapeBlock = shapeBlock[:r:r], shapeBlock[r:]
		p.outShapeInto(i, n, shapes[i])
	}
	if err := p.runInto(bp, n, inputs, outputs); err != nil {
		return nil, nil, err
	}
	return outputs, shapes, nil
}

// runInto runs bp on the first n rows of inputs (all zeros when inputs is
// nil) and writes the first n rows of output i into outputs[i] (exactly
// OutputBytes(i, n) long). It allocates nothing when every output is an FP32
// executor output or constant (others are converted through a temporary).
func (p *Program) runInto(bp *bucketProg, n int, inputs, outputs [][]byte) error {
	for i, t := range bp.inT {
		if t == nil {
			continue // a fixed input, folded as a constant
		}
		filled := 0
		if inputs != nil {
			filled = t.size()
			if !p.static {
				filled = n * p.inRow[i]
			}
			decodeRaw(t, inputs[i], p.inDT[i])
		}
		switch t.dt {
		case dtFloat:
			clear(t.f[filled:])
		case dtDouble:
			clear(t.d[filled:])
		default:
			clear(t.i[filled:])
		}
	}
	if bp.ex != nil {
		if err := bp.ex.Run(); err != nil {
			return fmt.Errorf("%w: bucket %d: %v", ErrInternal, bp.size, err)
		}
	}
	for i, v := range bp.out {
		if err := p.encodeOut(bp, i, v, p.outLen(i, n), outputs[i]); err != nil {
			return err
		}
	}
	return nil
}

// outShapeInto writes the shape of output i for n rows into s (len
// outRank(i)).
func (p *Program) outShapeInto(i, n int, s []int64) {
	if p.static {
		for k, d := range p.outShape[i] {
			s[k] = int64(d)
		}
		return
	}
	s[0] = int64(n)
	copy(s[1:], p.outTail[i])
}

// outLen is the number of elements Run returns for output i.
func (p *Program) outLen(i, n int) int {
	if p.static {
		return shapeSize(p.outShape[i])
	}
	return n * p.outRow[i]
}

func (p *Program) outRank(i int) int {
	if p.static {
		return len(p.outShape[i])
	}
	return 1 + len(p.outTail[i])
}

// encodeOut writes the first need elements of output i into dst.
func (p *Program) encodeOut(bp *bucketProg, i int, v *value, need int, dst []byte) error {
	if k := bp.outK[i]; k >= 0 {
		val := bp.ex.Output(k)
		if d, ok := val.(*tensor.Dense); ok && v.dtype() == dtFloat && d.Dtype() == tensor.Float32 && !d.RequiresIterator() {
			data := d.Float32s()
			if len(data) < need {
				return internal("onnx: output %q holds %d values, want %d", p.outputs[i].Name, len(data), need)
			}
			putF32s(dst, data[:need])
			return nil
		}
		t, err := fromGValue(val, v.dtype(), v.shape())
		if err != nil {
			return fmt.Errorf("%w: output %q: %v", ErrInternal, p.outputs[i].Name, err)
		}
		return encodeInto(dst, t, need, p.outputs[i].Name)
	}
	return encodeInto(dst, v.c, need, p.outputs[i].Name)
}

func encodeInto(dst []byte, t *constT, need int, name string) error {
	if t.size() < need {
		return internal("onnx: output %q holds %d values, want %d", name, t.size(), need)
	}
	if t.dt == dtFloat {
		putF32s(dst, t.f[:need])
		return nil
	}
	copy(dst, t.encode(need))
	return nil
}

var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// putF32s writes src as little-endian FP32 into dst (len 4*len(src)).
func putF32s(dst []byte, src []float32) {
	if littleEndian && len(src) > 0 {
		copy(dst, unsafe.Slice((*byte)(unsafe.Pointer(&src[0])), 4*len(src)))
		return
	}
	for k, v := range src {
		bits := math.Float32bits(v)
		dst[4*k], dst[4*k+1], dst[4*k+2], dst[4*k+3] = byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24)
	}
}

// decodeRaw decodes raw into t (FP32 without conversion on little-endian
// hosts).
func decodeRaw(t *constT, raw []byte, dt int32) {
	if dt == dtFloat && littleEndian && len(raw) >= 4 {
		n := min(len(raw)/4, len(t.f))
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&t.f[0])), 4*n), raw)
		return
	}
	t.decodeInto(raw, dt)
}
