package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gannet-ml/gannet/accel/kernels"
)

// AddOp is act(x + y) over two tensors of one shape: a residual
// connection with its ReLU fused. It may overwrite x (OverwritesInput 0):
// UnsafeDo does, and an executor may plan it in place.
type AddOp struct {
	base
	shape tensor.Shape
	act   kernels.Act
	name  string
}

// Add applies an AddOp to x and y, which must have the same shape.
func Add(x, y *G.Node, act kernels.Act) (*G.Node, error) {
	xs, ys := shapeOf(x), shapeOf(y)
	if !xs.Eq(ys) {
		return nil, fmt.Errorf("accel add: shapes %v and %v differ (no broadcasting)", xs, ys)
	}
	op := &AddOp{shape: xs.Clone(), act: act}
	op.name = fmt.Sprintf("accel.Add{%v,%v}", xs, act)
	return G.ApplyOp(op, x, y)
}

func (op *AddOp) Arity() int    { return 2 }
func (op *AddOp) Type() hm.Type { return fnType(len(op.shape), len(op.shape), len(op.shape)) }
func (op *AddOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.shape.Clone(), nil
}
func (op *AddOp) OverwritesInput() int  { return 0 }
func (op *AddOp) WriteHash(h hash.Hash) { writeHash(h, op.name) }
func (op *AddOp) Hashcode() uint32      { return hashString(op.name) }
func (op *AddOp) String() string        { return op.name }

func (op *AddOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }

// UnsafeDo writes the sum into x.
func (op *AddOp) UnsafeDo(in ...G.Value) (G.Value, error) {
	if err := arity(in, 2, 2, "accel add"); err != nil {
		return nil, err
	}
	return op.UsePreallocDo(in[0], in...)
}

func (op *AddOp) UsePreallocDo(prealloc G.Value, in ...G.Value) (G.Value, error) {
	const name = "accel add"
	if err := arity(in, 2, 2, name); err != nil {
		return nil, err
	}
	n := op.shape.TotalSize()
	x, err := f32(in[0], name, 0, n)
	if err != nil {
		return nil, err
	}
	y, err := f32(in[1], name, 1, n)
	if err != nil {
		return nil, err
	}
	out, dst, err := output(prealloc, op.shape, name)
	if err != nil {
		return nil, err
	}
	kernels.Add(dst, x, y, op.act)
	return out, nil
}

// ActivationOp is a standalone activation (ReLU, Clip) for the places it
// cannot be fused into the op before it. It may overwrite its input.
type ActivationOp struct {
	base
	shape tensor.Shape
	act   kernels.Act
	name  string
}

// Activation applies an ActivationOp to x.
func Activation(x *G.Node, act kernels.Act) (*G.Node, error) {
	xs := shapeOf(x)
	op := &ActivationOp{shape: xs.Clone(), act: act}
	op.name = fmt.Sprintf("accel.Activation{%v,%v}", xs, act)
	return G.ApplyOp(op, x)
}

func (op *ActivationOp) Arity() int    { return 1 }
func (op *ActivationOp) Type() hm.Type { return fnType(len(op.shape), len(op.shape)) }
func (op *ActivationOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.shape.Clone(), nil
}
func (op *ActivationOp) OverwritesInput() int  { return 0 }
func (op *ActivationOp) WriteHash(h hash.Hash) { writeHash(h, op.name) }
func (op *ActivationOp) Hashcode() uint32      { return hashString(op.name) }
func (op *ActivationOp) String() string        { return op.name }

func (op *ActivationOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }

// UnsafeDo applies the activation to x in place.
func (op *ActivationOp) UnsafeDo(in ...G.Value) (G.Value, error) {
	if err := arity(in, 1, 1, "accel activation"); err != nil {
		return nil, err
	}
	return op.UsePreallocDo(in[0], in...)
}

func (op *ActivationOp) UsePreallocDo(prealloc G.Value, in ...G.Value) (G.Value, error) {
	const name = "accel activation"
	if err := arity(in, 1, 1, name); err != nil {
		return nil, err
	}
	x, err := f32(in[0], name, 0, op.shape.TotalSize())
	if err != nil {
		return nil, err
	}
	out, dst, err := output(prealloc, op.shape, name)
	if err != nil {
		return nil, err
	}
	kernels.Activate(dst, x, op.act)
	return out, nil
}

// ReshapeOp gives its input a new shape of the same size (Reshape,
// Flatten, Squeeze, Unsqueeze at run time). It is a view: an executor
// aliases the input's buffer and runs nothing (IsView); Do and
// UsePreallocDo copy, which is what gorgonia's TapeMachine needs.
type ReshapeOp struct {
	base
	from, to tensor.Shape
	name     string
}

// Reshape applies a ReshapeOp to x.
func Reshape(x *G.Node, to ...int) (*G.Node, error) {
	xs := shapeOf(x)
	if tensor.Shape(to).TotalSize() != xs.TotalSize() {
		return nil, fmt.Errorf("accel reshape: %v to %v changes the size", xs, to)
	}
	op := &ReshapeOp{from: xs.Clone(), to: tensor.Shape(to).Clone()}
	op.name = fmt.Sprintf("accel.Reshape{%v->%v}", xs, op.to)
	return G.ApplyOp(op, x)
}

// IsView reports that the output is the input with another shape.
func (op *ReshapeOp) IsView() bool { return true }

func (op *ReshapeOp) Arity() int    { return 1 }
func (op *ReshapeOp) Type() hm.Type { return fnType(len(op.to), len(op.from)) }
func (op *ReshapeOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.to.Clone(), nil
}
func (op *ReshapeOp) OverwritesInput() int  { return -1 }
func (op *ReshapeOp) WriteHash(h hash.Hash) { writeHash(h, op.name) }
func (op *ReshapeOp) Hashcode() uint32      { return hashString(op.name) }
func (op *ReshapeOp) String() string        { return op.name }

func (op *ReshapeOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }

func (op *ReshapeOp) UsePreallocDo(prealloc G.Value, in ...G.Value) (G.Value, error) {
	const name = "accel reshape"
	if err := arity(in, 1, 1, name); err != nil {
		return nil, err
	}
	x, err := f32(in[0], name, 0, op.from.TotalSize())
	if err != nil {
		return nil, err
	}
	out, dst, err := output(prealloc, op.to, name)
	if err != nil {
		return nil, err
	}
	if &dst[0] != &x[0] {
		copy(dst, x)
	}
	return out, nil
}
