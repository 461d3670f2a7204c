// Package exec is accel's lean executor for gorgonia graphs: it sorts a
// graph once, plans every intermediate value into buffers that are reused
// between ops by liveness and allocated once, and runs the ops in order on
// the calling goroutine: no goroutine, channel or allocation per run for
// ops that implement gorgonia.UsePreallocDoer and honour the buffer given
// (all of accel/ops, and most of gorgonia's elementwise, matmul and reshape
// ops).
//
// Ops without UsePreallocDo (gorgonia's Conv2d internals, im2col,
// MaxPool2D, BatchNorm, ...) still run: their Do allocates a result, which
// the executor copies into the planned buffer, so they cost an allocation
// and a copy per run. Fallbacks lists them. Ops with a view (IsView() true:
// accel/ops.ReshapeOp, and gorgonia's Reshape) run nothing: the output is a
// header over the input's buffer. An op whose OverwritesInput is k runs in
// place on input k's buffer when that value is read by no later op.
//
// An Executor is not safe for concurrent use: one goroutine calls Run, and
// reads outputs before the next Run. Ops run on the calling goroutine (and
// accel's worker pool), so a panicking op becomes an error, not a crash. The graph must not be
// changed after New; weights are read, never written.
package exec

import (
	"fmt"
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Viewer is an op whose output is input 0's data with another shape.
type Viewer interface{ IsView() bool }

// Scratcher is an op that wants a scratch buffer of ScratchLen() values.
// The executor gives all of them one shared buffer (ops run one at a time).
type Scratcher interface {
	ScratchLen() int
	SetScratch([]float32)
}

// Executor runs one graph. See the package comment.
type Executor struct {
	steps    []step
	vals     []G.Value // current value of every node, by plan index
	inputs   []*tensor.Dense
	outIdx   []int
	arena    []float32
	scratch  []float32
	fallback []string
	planned  int // float32 values placed in the arena
	arenaSum int // what they would take without reuse
}

type step struct {
	node *G.Node
	op   G.Op
	pre  G.UsePreallocDoer // nil: Do
	out  int               // plan index of the result
	buf  *tensor.Dense     // planned result (nil: an unplanned scalar)
	args []int             // plan indices of the inputs
	argv []G.Value         // the inputs of the current run
}

// New plans g for running from the given input nodes to the given output
// nodes. Every leaf the outputs depend on must be one of inputs or carry a
// value (weights, constants). The executor owns one buffer per input
// (filled by the caller through Input) and the buffers of all
// intermediate values.
func New(g *G.ExprGraph, inputs, outputs []*G.Node) (*Executor, error) {
	if len(outputs) == 0 {
		return nil, fmt.Errorf("accel/exec: no outputs")
	}
	p := newPlanner(g)
	for _, n := range outputs {
		if n == nil || n.Graph() != g {
			return nil, fmt.Errorf("accel/exec: output %v is not in the graph", n)
		}
		p.visit(n)
	}
	e := &Executor{}
	inSet := map[*G.Node]int{}
	for i, n := range inputs {
		if n == nil || n.Graph() != g {
			return nil, fmt.Errorf("accel/exec: input %v is not in the graph", n)
		}
		if _, dup := inSet[n]; dup {
			return nil, fmt.Errorf("accel/exec: input %v given twice", n)
		}
		inSet[n] = i
		if n.Op() != nil && !isInputOp(n) {
			return nil, fmt.Errorf("accel/exec: input %v is computed by %v, not a leaf", n, n.Op())
		}
	}
	e.inputs = make([]*tensor.Dense, len(inputs))
	if err := p.plan(e, inSet, outputs); err != nil {
		return nil, err
	}
	for i, n := range inputs {
		if e.inputs[i] == nil { // an input nothing reads
			e.inputs[i] = tensor.New(tensor.Of(n.Dtype()), tensor.WithShape(n.Shape()...))
		}
	}
	for _, n := range outputs {
		e.outIdx = append(e.outIdx, p.index[n])
	}
	return e, nil
}

// isInputOp reports whether n is a leaf: no op or gorgonia's input marker.
func isInputOp(n *G.Node) bool {
	if n.Op() == nil {
		return true
	}
	_, isStmt := n.Op().(interface{ ReturnsNothing() bool })
	return !isStmt && n.Op().Arity() == 0
}

// Input returns the float32 buffer of input i, to be filled before Run.
// It panics if input i is not float32.
func (e *Executor) Input(i int) []float32 { return e.inputs[i].Float32s() }

// InputTensor returns the tensor of input i.
func (e *Executor) InputTensor(i int) *tensor.Dense { return e.inputs[i] }

// Output returns output i's value after Run: a tensor owned by the
// executor, valid until the next Run.
func (e *Executor) Output(i int) G.Value { return e.vals[e.outIdx[i]] }

// OutputF32 returns output i's data after Run (valid until the next Run),
// or nil if it is not a float32 tensor.
func (e *Executor) OutputF32(i int) []float32 {
	if d, ok := e.vals[e.outIdx[i]].(*tensor.Dense); ok && d.Dtype() == tensor.Float32 {
		return d.Float32s()
	}
	return nil
}

// Fallbacks names the ops that run through Do (allocating) for want of
// UsePreallocDo.
func (e *Executor) Fallbacks() []string { return slices.Clone(e.fallback) }

// Steps is the number of ops run per Run (views not counted).
func (e *Executor) Steps() int { return len(e.steps) }

// ArenaLen is the size, in float32 values, of the buffers planned for
// intermediate values; Unshared is what they would take without reuse.
func (e *Executor) ArenaLen() (planned, unshared int) { return len(e.arena), e.arenaSum }

// Run runs every op once, in order, on the current inputs.
func (e *Executor) Run() (err error) {
	var cur *step
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("accel/exec: %v panicked: %v", cur.op, r)
		}
	}()
	for i := range e.steps {
		s := &e.steps[i]
		cur = s
		for j, a := range s.args {
			s.argv[j] = e.vals[a]
		}
		var v G.Value
		if s.pre != nil {
			v, err = s.pre.UsePreallocDo(s.buf, s.argv...)
		} else {
			v, err = s.op.Do(s.argv...)
		}
		if err != nil {
			return fmt.Errorf("accel/exec: %v: %w", s.op, err)
		}
		if s.buf != nil && v != G.Value(s.buf) {
			if err := copyInto(s.buf, v); err != nil {
				return fmt.Errorf("accel/exec: %v: %w", s.op, err)
			}
			v = s.buf
		}
		e.vals[s.out] = v
	}
	return nil
}

// copyInto copies an op's result into its planned buffer.
func copyInto(dst *tensor.Dense, v G.Value) error {
	src, ok := v.(*tensor.Dense)
	if !ok || src.Dtype() != dst.Dtype() || src.Shape().TotalSize() != dst.Shape().TotalSize() {
		return fmt.Errorf("result %T %v, want %v %v", v, v.Shape(), dst.Dtype(), dst.Shape())
	}
	if src.RequiresIterator() {
		src = src.Materialize().(*tensor.Dense)
	}
	if dst.Dtype() == tensor.Float32 {
		copy(dst.Float32s(), src.Float32s())
		return nil
	}
	return tensor.Copy(dst, src)
}
