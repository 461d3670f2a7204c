package onnx

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Weights are gorgonia input nodes bound to *tensor.Dense values. Every
// bucket's graph gets its own Dense header, but the headers share the backing
// []float32 of one prepared copy, so the weights exist once per Program.
//
// Gorgonia's tape machine runs an op in place ("unsafe") only on an operand
// whose register is dead afterwards; the liveness analysis (analysis.go)
// keeps input nodes, weights included, live for the whole program, so the
// shared weights are never written. TestWeightsSurviveRuns checks this.

// weight returns the graph node of constant v, which must be FP32.
func (b *builder) weight(v *value, what string) (*G.Node, error) {
	c := v.c
	if !c.isFloat() {
		return nil, unsupported("%s is a %s constant; only FP32 tensors are computed at run time", what, dtypeName(c.dt))
	}
	return b.prepare("value:"+v.name, c.static, func() (*prepared, error) {
		return &prepared{shape: c.shape, data: c.f}, nil
	})
}

// prepare returns the node of a weight made by fn, keyed by key. Static
// weights are made once per Program and shared by the buckets.
func (b *builder) prepare(key string, static bool, fn func() (*prepared, error)) (*G.Node, error) {
	if n, ok := b.wnodes[key]; ok {
		return n, nil
	}
	var p *prepared
	if static {
		p = b.c.prepared[key]
	}
	if p == nil {
		var err error
		if p, err = fn(); err != nil {
			return nil, err
		}
		if shapeSize(p.shape) == 0 {
			return nil, unsupported("empty tensors (shape %v) are not supported at run time", p.shape)
		}
		if static {
			b.c.prepared[key] = p
		}
	}
	var n *G.Node
	name := b.uniq("w:" + key)
	if len(p.shape) == 0 {
		n = G.NewScalar(b.g, tensor.Float32, G.WithName(name), G.WithValue(p.data[0]))
	} else {
		dense := tensor.New(tensor.WithShape(p.shape...), tensor.WithBacking(p.data))
		n = G.NewTensor(b.g, tensor.Float32, len(p.shape), G.WithShape(p.shape...), G.WithName(name), G.WithValue(dense))
	}
	b.wnodes[key] = n
	return n, nil
}

// tensor returns the gorgonia node of v, materialising a constant as a
// weight.
func (b *builder) tensor(v *value, what string) (*G.Node, error) {
	if v == nil {
		return nil, invalid("%s is missing", what)
	}
	if v.n != nil {
		return v.n, nil
	}
	return b.weight(v, what)
}

// transposed2D returns the (cols, rows) transpose of a row-major matrix.
func transposed2D(data []float32, rows, cols int) []float32 {
	out := make([]float32, len(data))
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			out[c*rows+r] = data[r*cols+c]
		}
	}
	return out
}

// scaled returns data*s (data itself when s is 1).
func scaled(data []float32, s float32) []float32 {
	if s == 1 {
		return data
	}
	out := make([]float32, len(data))
	for i, v := range data {
		out[i] = v * s
	}
	return out
}

func fmtKey(parts ...any) string { return fmt.Sprint(parts...) }
