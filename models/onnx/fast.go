package onnx

import (
	"math"
	"slices"

	G "gorgonia.org/gorgonia"

	"github.com/gannet-ml/gannet/accel/kernels"
	aops "github.com/gannet-ml/gannet/accel/ops"
)

// The FP32 fast paths: run-time tensors of the common shapes go through
// accel's fused ops (accel/ops) instead of kernels or gorgonia's own ops.
// Conv, Gemm/MatMul and residual Add record how they were built (fusable),
// so that an op that follows one of them and is its only reader (Relu,
// Clip, BatchNormalization, the bias Add of a MatMul) is folded into it:
// the builder builds the producer again with the follower folded in, and
// the first node, which no output then depends on, is never planned or run
// by the executor.

type fuseKind uint8

const (
	fuseConv fuseKind = iota + 1
	fuseGemm
	fuseAdd
)

// fusable is how an accel node was built.
type fusable struct {
	kind fuseKind
	name string // the ONNX value it was built for (set by builder.node)
	x, w *G.Node
	bias *G.Node // conv or gemm bias, nil for none
	// Conv: the weights and bias as constants (nil if computed at run
	// time), for folding a BatchNormalization.
	wc, bc *constT
	conv   aops.ConvAttrs
	gemm   aops.GemmAttrs
	act    kernels.Act
}

// build makes f's node.
func (b *builder) buildFused(f *fusable) (*G.Node, error) {
	var n *G.Node
	var err error
	switch f.kind {
	case fuseConv:
		a := f.conv
		a.Act = f.act
		n, err = aops.Conv2D(f.x, f.w, f.bias, a)
	case fuseGemm:
		a := f.gemm
		a.Act = f.act
		n, err = aops.Gemm(f.x, f.w, f.bias, a)
	case fuseAdd:
		n, err = aops.Add(f.x, f.w, f.act)
	}
	if err != nil {
		return nil, err
	}
	b.fuse[n] = f
	return n, nil
}

// fusedInput returns how v was built if the op reading it as input input
// of ONNX node n may fold into its producer: v is an accel node built for
// exactly that name, which nothing else reads and which is not a graph
// output.
func (b *builder) fusedInput(n *nodeProto, input int, v *value) *fusable {
	if v == nil || v.isConst() || input >= len(n.inputs) {
		return nil
	}
	f := b.fuse[v.n]
	if f == nil || f.name == "" || f.name != n.inputs[input] || b.c.uses[f.name] != 1 {
		return nil
	}
	return f
}

// rebuild builds f again with change applied and returns the new value.
func (b *builder) rebuild(f *fusable, change func(g *fusable)) ([]*value, error) {
	g := *f
	g.name = ""
	change(&g)
	n, err := b.buildFused(&g)
	if err != nil {
		return nil, err
	}
	return nodeOut(n), nil
}

// countUses counts, per value name, the node inputs that read it plus one
// for a graph output.
func (c *compiler) countUses() {
	c.uses = map[string]int{}
	for _, n := range c.m.graph.nodes {
		for _, in := range n.inputs {
			if in != "" {
				c.uses[in]++
			}
		}
	}
	for _, o := range c.m.outputs {
		c.uses[o.Name]++
	}
}

// isRuntimeF32 reports whether v is a run-time FP32 tensor of the given
// rank (any rank >= 1 for rank < 0).
func isRuntimeF32(v *value, rank int) bool {
	if v == nil || v.isConst() || v.dtype() != dtFloat {
		return false
	}
	r := len(v.shape())
	return r > 0 && (rank < 0 || r == rank)
}

func isF32(v *value) bool { return v != nil && v.dtype() == dtFloat }

// convFast builds a 2-D FP32 Conv as accel's Conv2D; ok is false when the
// convolution is not one it runs.
func (b *builder) convFast(x, w, bias *value, g *geom, group int) ([]*value, bool, error) {
	if !isRuntimeF32(x, 4) || !isF32(w) || len(w.shape()) != 4 || (bias != nil && !isF32(bias)) {
		return nil, false, nil
	}
	f := &fusable{kind: fuseConv, conv: aops.ConvAttrs{
		Strides:   [2]int{g.stride[0], g.stride[1]},
		Pads:      [4]int{g.padB[0], g.padB[1], g.padE[0], g.padE[1]},
		Dilations: [2]int{g.dil[0], g.dil[1]},
		Group:     group,
	}}
	f.x = x.n
	var err error
	if f.w, err = b.tensor(w, "weights"); err != nil {
		return nil, false, err
	}
	if w.isConst() {
		f.wc = w.c
		f.conv.ConstWeights = true
	}
	if bias != nil {
		if f.bias, err = b.tensor(bias, "bias"); err != nil {
			return nil, false, err
		}
		if !bias.isConst() {
			f.wc = nil // a run-time bias: no BatchNormalization folding
		} else {
			f.bc = bias.c
		}
	}
	n, err := b.buildFused(f)
	if err != nil {
		return nil, false, nil // not a convolution accel runs: the kernel does
	}
	xs := x.shape()
	if want := append([]int{xs[0], w.shape()[0]}, g.out...); !slices.Equal(n.Shape(), want) {
		return nil, false, nil
	}
	return nodeOut(n), true, nil
}

// foldBatchNorm folds a BatchNormalization into the Conv that produces its
// input: w' = w*s, b' = (b-mean)*s + beta with s = scale/sqrt(var+eps).
func (b *builder) foldBatchNorm(n *nodeProto, in []*value, eps float32) ([]*value, bool, error) {
	f := b.fusedInput(n, 0, in[0])
	if f == nil || f.kind != fuseConv || f.wc == nil || f.act.Kind != kernels.ActNone {
		return nil, false, nil
	}
	static := f.wc.static && (f.bc == nil || f.bc.static)
	for _, p := range in[1:5] {
		if p == nil || !p.isConst() || !p.c.isFloat() {
			return nil, false, nil
		}
		static = static && p.c.static
	}
	M := f.wc.shape[0]
	per := shapeSize(f.wc.shape[1:])
	scale, beta, mean, vr := in[1].c.f, in[2].c.f, in[3].c.f, in[4].c.f
	if len(scale) != M || len(beta) != M || len(mean) != M || len(vr) != M {
		return nil, false, nil
	}
	s := make([]float64, M)
	for m := range M {
		s[m] = float64(scale[m]) / math.Sqrt(float64(vr[m])+float64(eps))
	}
	key := n.outputs[0]
	wn, err := b.prepare("bnW:"+key, static, func() (*prepared, error) {
		data := make([]float32, len(f.wc.f))
		for m := range M {
			for k := range per {
				data[m*per+k] = float32(float64(f.wc.f[m*per+k]) * s[m])
			}
		}
		return &prepared{shape: slices.Clone(f.wc.shape), data: data}, nil
	})
	if err != nil {
		return nil, false, err
	}
	bn, err := b.prepare("bnB:"+key, static, func() (*prepared, error) {
		data := make([]float32, M)
		for m := range M {
			bv := 0.0
			if f.bc != nil {
				bv = float64(f.bc.f[m])
			}
			data[m] = float32((bv-float64(mean[m]))*s[m] + float64(beta[m]))
		}
		return &prepared{shape: []int{M}, data: data}, nil
	})
	if err != nil {
		return nil, false, err
	}
	vs, err := b.rebuild(f, func(g *fusable) {
		g.w, g.bias, g.wc, g.bc = wn, bn, nil, nil
		g.conv.ConstWeights = true // the folded weights are a constant
	})
	return vs, err == nil, err
}

// activation builds Relu or Clip of a run-time FP32 tensor: folded into the
// accel op producing it where possible, else accel's Activation.
func (b *builder) activation(n *nodeProto, x *value, act kernels.Act) ([]*value, error) {
	if f := b.fusedInput(n, 0, x); f != nil && f.act.Kind == kernels.ActNone {
		return b.rebuild(f, func(g *fusable) { g.act = act })
	}
	y, err := aops.Activation(x.n, act)
	if err != nil {
		return nil, err
	}
	return []*value{{n: y, shp: nonNil(x.shape())}}, nil
}

// gemmFast builds Gemm as accel's GemmOp; ok is false when it does not
// apply (non-FP32 operands, alpha = beta = 0).
func (b *builder) gemmFast(A, B, C *value, at aops.GemmAttrs) ([]*value, bool, error) {
	if !isF32(A) || !isF32(B) || (A.isConst() && B.isConst()) || (C != nil && !isF32(C)) {
		return nil, false, nil
	}
	if C == nil {
		at.Beta = 1
	}
	if at.Alpha == 0 && at.Beta == 0 {
		return nil, false, nil
	}
	at.ConstB = B.isConst()
	f := &fusable{kind: fuseGemm, gemm: at}
	var err error
	if f.x, err = b.tensor(A, "A"); err != nil {
		return nil, false, err
	}
	if f.w, err = b.tensor(B, "B"); err != nil {
		return nil, false, err
	}
	if C != nil {
		if f.bias, err = b.tensor(C, "C"); err != nil {
			return nil, false, err
		}
	}
	n, err := b.buildFused(f)
	if err != nil {
		return nil, false, nil
	}
	return nodeOut(n), true, nil
}

// residualAdd builds an FP32 Add as accel's: the bias of a MatMul before it
// (folded into its GemmOp), or two run-time tensors of the output's shape.
func (b *builder) residualAdd(op string, x, y *value, out []int) (*value, bool, error) {
	if op != "Add" || b.cur == nil {
		return nil, false, nil
	}
	for i, pair := range [][2]*value{{x, y}, {y, x}} {
		f := b.fusedInput(b.cur, i, pair[0])
		c := pair[1]
		if f == nil || f.kind != fuseGemm || f.bias != nil || f.act.Kind != kernels.ActNone ||
			!c.isConst() || !c.c.isFloat() || !slices.Equal(pair[0].shape(), out) || len(out) != 2 {
			continue
		}
		cn, err := b.tensor(c, "bias")
		if err != nil {
			return nil, false, err
		}
		vs, err := b.rebuild(f, func(g *fusable) { g.bias, g.gemm.Beta = cn, 1 })
		if err != nil {
			continue // a bias shape GemmOp does not take
		}
		return vs[0], true, nil
	}
	if !isRuntimeF32(x, -1) || !isRuntimeF32(y, -1) || !slices.Equal(x.shape(), out) || !slices.Equal(y.shape(), out) ||
		!slices.Equal(x.n.Shape(), y.n.Shape()) {
		return nil, false, nil
	}
	n, err := b.buildFused(&fusable{kind: fuseAdd, x: x.n, w: y.n})
	if err != nil {
		return nil, false, err
	}
	return &value{n: n, shp: nonNil(out)}, true, nil
}

// reshapeNode gives a run-time node another shape: accel's Reshape (a view
// in the executor) for FP32, gorgonia's otherwise.
func reshapeNode(n *G.Node, dt int32, shape []int) (*G.Node, error) {
	gs := gShape(shape)
	if dt == dtFloat && n.Dtype() == G.Float32 {
		return aops.Reshape(n, gs...)
	}
	return G.Reshape(n, gs)
}
