package onnx

import (
	"fmt"
	"slices"
	"sort"
)

// Run executes one batch of n rows, 1 <= n <= the largest bucket. inputs[i]
// is the raw little-endian, row-major data of graph input i (Inputs()
// order) for n rows, in that input's datatype (FP32: 4 bytes per element,
// INT64: 8, INT32: 4, BOOL: 1, ...). Run pads the batch with zeros to the
// smallest bucket >= n, runs that bucket, and returns for each graph output
// (Outputs() order) the first n rows' bytes in the output's datatype
// (freshly allocated, owned by the caller) and the output shape (with
// dimension 0 = n). Not safe for concurrent use.
func (p *Program) Run(n int, inputs [][]byte) (outputs [][]byte, shapes [][]int64, err error) {
	defer func() {
		if err != nil {
			outputs, shapes = nil, nil
		}
	}()
	defer recoverAs(&err, "Run")
	bp, err := p.bucketFor(n, inputs)
	if err != nil {
		return nil, nil, err
	}
	return p.runBucket(bp, n, inputs)
}

// RunInto is Run writing into the caller's buffers: outputs[i] must be
// exactly OutputBytes(i, n) long (the shape of output i is n followed by the
// tail of its Outputs() shape), and may be reused for the next call. With
// FP32 outputs (the served models') it allocates nothing. Not safe for
// concurrent use.
func (p *Program) RunInto(n int, inputs, outputs [][]byte) (err error) {
	defer recoverAs(&err, "RunInto")
	bp, err := p.bucketFor(n, inputs)
	if err != nil {
		return err
	}
	if len(outputs) != len(p.outputs) {
		return badInput("onnx: %d output buffers given, the model has %d outputs", len(outputs), len(p.outputs))
	}
	for i, out := range outputs {
		if want := p.OutputBytes(i, n); len(out) != want {
			return badInput("onnx: output %q: buffer of %d bytes, want %d", p.outputs[i].Name, len(out), want)
		}
	}
	return p.runInto(bp, n, inputs, outputs)
}

// OutputBytes is the size in bytes of output i (Outputs() order) for a
// batch of n rows: what RunInto needs.
func (p *Program) OutputBytes(i, n int) int { return p.outLen(i, n) * elemSize(p.outDT[i]) }

// bucketFor checks a batch of n rows of inputs and returns the bucket
// that runs it.
func (p *Program) bucketFor(n int, inputs [][]byte) (*bucketProg, error) {
	if p.static {
		return nil, badInput("onnx: Run on a program compiled for fixed shapes; use Exec")
	}
	largest := p.buckets[len(p.buckets)-1]
	if n < 1 || n > largest {
		return nil, badInput("onnx: batch of %d rows is out of range 1..%d", n, largest)
	}
	if len(inputs) != len(p.inputs) {
		return nil, badInput("onnx: %d inputs given, the model has %d", len(inputs), len(p.inputs))
	}
	for i, in := range inputs {
		if want := n * p.inRow[i] * elemSize(p.inDT[i]); len(in) != want {
			return nil, badInput("onnx: input %q: %d bytes, want %d (%d rows of %v %s)",
				p.inputs[i].Name, len(in), want, n, p.inTail[i], p.inputs[i].DataType)
		}
	}
	return p.progs[sort.SearchInts(p.buckets, n)], nil
}

// CompileStatic compiles m for the given input shapes only (one per graph
// input, in Inputs() order; a nil entry takes the declared shape, which must
// then be fully known). Dimension 0 is not treated as a batch: the graph
// runs as it is, which is what ONNX's conformance tests need. Run it with
// Exec.
func CompileStatic(m *Model, shapes [][]int64) (p *Program, err error) {
	return compileStatic(m, shapes, nil)
}

// CompileSpecialized is CompileStatic with the values of some inputs known:
// where fixed[i] is set, input i is a constant of that value, so that shape
// operands fed as graph inputs (a Reshape's target, a Slice's starts) fold
// as they would from an initializer. Exec then requires exactly that value
// for input i.
func CompileSpecialized(m *Model, shapes [][]int64, fixed []*Tensor) (p *Program, err error) {
	if len(fixed) != len(shapes) {
		return nil, badInput("onnx: %d fixed inputs given for %d shapes", len(fixed), len(shapes))
	}
	return compileStatic(m, shapes, fixed)
}

func compileStatic(m *Model, shapes [][]int64, fixed []*Tensor) (p *Program, err error) {
	defer func() {
		if err != nil {
			p = nil
		}
	}()
	defer recoverAs(&err, "CompileStatic")
	if m == nil || m.graph == nil {
		return nil, invalid("onnx: CompileStatic of a nil model")
	}
	if len(shapes) != len(m.inputs) {
		return nil, badInput("onnx: %d input shapes given, the model has %d inputs", len(shapes), len(m.inputs))
	}
	c, err := newCompiler(m)
	if err != nil {
		return nil, err
	}
	p = &Program{inputs: m.Inputs(), outputs: m.Outputs(), static: true}
	if err := p.checkTypes(m); err != nil {
		return nil, err
	}
	for i, v := range m.inVals {
		s := shapes[i]
		if s == nil {
			if !v.hasShape {
				return nil, unsupported("onnx: input %q has no declared shape", v.name)
			}
			s = p.inputs[i].Shape
		}
		size, err := checkedSize(s, maxConstElems)
		if err != nil {
			return nil, fmt.Errorf("onnx: input %q: %w", v.name, err)
		}
		if v.hasShape && len(v.dims) != len(s) {
			return nil, badInput("onnx: input %q: shape %v does not fit the declared rank %d", v.name, s, len(v.dims))
		}
		for k, d := range v.dims {
			if d.known && k < len(s) && d.value != s[k] {
				return nil, badInput("onnx: input %q: shape %v does not fit the declared %v", v.name, s, p.inputs[i].Shape)
			}
		}
		shape := make([]int, len(s))
		for k, d := range s {
			shape[k] = int(d)
		}
		p.inShape = append(p.inShape, shape)
		p.inRow = append(p.inRow, size)
		p.inputs[i].Shape = slices.Clone(s)
	}
	p.fixed = make([]*constT, len(p.inputs))
	for i, t := range fixed {
		if t == nil {
			continue
		}
		if t.DataType != p.inputs[i].DataType || !slices.Equal(t.Shape, p.inputs[i].Shape) ||
			len(t.Data) != p.inRow[i]*elemSize(p.inDT[i]) {
			return nil, badInput("onnx: fixed input %q does not fit %s %v", p.inputs[i].Name, p.inputs[i].DataType, p.inputs[i].Shape)
		}
		c := newConst(p.inDT[i], p.inShape[i])
		c.decodeInto(t.Data, p.inDT[i])
		c.static = true
		p.fixed[i] = c
	}
	if err := p.buildAll(c, []int{0}); err != nil {
		return nil, err
	}
	return p, nil
}

// Exec runs a program compiled by CompileStatic on inputs of exactly the
// compiled shapes and datatypes, and returns every graph output.
func (p *Program) Exec(inputs []Tensor) (outs []Tensor, err error) {
	defer func() {
		if err != nil {
			outs = nil
		}
	}()
	defer recoverAs(&err, "Exec")
	if !p.static {
		return nil, badInput("onnx: Exec needs a program compiled by CompileStatic; use Run")
	}
	if len(inputs) != len(p.inputs) {
		return nil, badInput("onnx: %d inputs given, the model has %d", len(inputs), len(p.inputs))
	}
	raw := make([][]byte, len(inputs))
	for i, t := range inputs {
		info := p.inputs[i]
		if t.DataType != info.DataType || !slices.Equal(t.Shape, info.Shape) {
			return nil, badInput("onnx: input %q is %s %v, the program wants %s %v", info.Name, t.DataType, t.Shape, info.DataType, info.Shape)
		}
		if want := p.inRow[i] * elemSize(p.inDT[i]); len(t.Data) != want {
			return nil, badInput("onnx: input %q: %d bytes, want %d", info.Name, len(t.Data), want)
		}
		if f := p.fixed[i]; f != nil && !slices.Equal(f.encode(f.size()), t.Data) {
			return nil, badInput("onnx: input %q differs from the value the program was specialised for", info.Name)
		}
		raw[i] = t.Data
	}
	data, shapes, err := p.runBucket(p.progs[0], 1, raw)
	if err != nil {
		return nil, err
	}
	outs = make([]Tensor, len(data))
	for i := range data {
		outs[i] = Tensor{Name: p.outputs[i].Name, DataType: p.outputs[i].DataType, Shape: shapes[i], Data: data[i]}
	}
	return outs, nil
}

// recoverAs turns a panic in the calling goroutine into an ErrInternal error.
// Ops run on the calling goroutine (accel's executor) or on accel's worker
// pool, which hands a part's panic back to the caller; both end here.
func recoverAs(err *error, what string) {
	if r := recover(); r != nil {
		*err = internal("onnx: %s: gorgonia panicked: %v", what, r)
	}
}
