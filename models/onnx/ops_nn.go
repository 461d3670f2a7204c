package onnx

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Convolution and pooling, 2-D over NCHW tensors.

// window is the geometry of a 2-D convolution or pooling window.
type window struct {
	kh, kw int // kernel
	sh, sw int // strides
	ph, pw int // symmetric pads
	dh, dw int // dilations
}

// out returns the output height and width for an h x w input.
func (w window) out(h, wd int) (int, int) {
	return (h+2*w.ph-w.dh*(w.kh-1)-1)/w.sh + 1, (wd+2*w.pw-w.dw*(w.kw-1)-1)/w.sw + 1
}

// spatial2D checks that v is a run-time NCHW tensor and returns its node and
// shape.
func (b *builder) spatial2D(v *value) (*G.Node, []int, error) {
	s := v.shape()
	if len(s) != 4 {
		return nil, nil, unsupported("input has shape %v; only 2-D (NCHW) inputs are supported", s)
	}
	n, err := b.tensor(v, "input")
	return n, s, err
}

// windowAttrs reads kernel_shape, strides, pads, dilations and auto_pad.
// kernel is the kernel size implied by the weights (nil for pooling, where
// kernel_shape is required).
func windowAttrs(a *attrs, kernel []int64, shape []int) (window, error) {
	var w window
	ks, err := a.ints("kernel_shape", kernel)
	if err != nil {
		return w, err
	}
	if ks == nil {
		return w, invalid("attribute kernel_shape is missing")
	}
	if len(ks) != 2 {
		return w, unsupported("kernel_shape=%v: only 2-D windows are supported", ks)
	}
	if kernel != nil && (ks[0] != kernel[0] || ks[1] != kernel[1]) {
		return w, invalid("kernel_shape=%v does not match the weights' %v", ks, kernel)
	}
	for _, k := range ks {
		if k < 1 || k > int64(maxConstElems) {
			return w, invalid("kernel_shape=%v: values must be positive", ks)
		}
	}
	strides, err := a.intsN("strides", 2, 1, []int64{1, 1})
	if err != nil {
		return w, err
	}
	dil, err := a.intsN("dilations", 2, 1, []int64{1, 1})
	if err != nil {
		return w, err
	}
	autoPad, err := a.str("auto_pad", "NOTSET")
	if err != nil {
		return w, err
	}
	pads := []int64{0, 0, 0, 0}
	switch autoPad {
	case "NOTSET":
		if pads, err = a.intsN("pads", 4, 0, pads); err != nil {
			return w, err
		}
	case "VALID":
		if a.has("pads") {
			return w, invalid("auto_pad=VALID with explicit pads")
		}
	case "SAME_UPPER", "SAME_LOWER":
		return w, unsupported("auto_pad=%s is not supported", autoPad)
	default:
		return w, invalid("auto_pad=%q is not a valid value", autoPad)
	}
	if pads[0] != pads[2] || pads[1] != pads[3] {
		return w, unsupported("asymmetric pads=%v are not supported", pads)
	}
	for _, v := range append(append(strides, dil...), pads...) {
		if v > int64(maxConstElems) {
			return w, invalid("window attribute %d is out of range", v)
		}
	}
	w = window{kh: int(ks[0]), kw: int(ks[1]), sh: int(strides[0]), sw: int(strides[1]),
		ph: int(pads[0]), pw: int(pads[1]), dh: int(dil[0]), dw: int(dil[1])}
	oh, ow := w.out(shape[2], shape[3])
	if oh < 1 || ow < 1 {
		return w, invalid("window %dx%d (pads %v, dilations %v) does not fit input %v", w.kh, w.kw, pads, dil, shape)
	}
	return w, nil
}

func opConvFast(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	xn, xs, err := b.spatial2D(in[0])
	if err != nil {
		return nil, err
	}
	W := in[1]
	if !W.isConst() {
		return nil, unsupported("weights computed at run time are not supported")
	}
	ws := W.c.shape
	if len(ws) != 4 || !W.c.isFloat() {
		return nil, invalid("weights are %s %v, want FP32 (M, C, kH, kW)", dtypeName(W.c.dt), ws)
	}
	group, err := a.int("group", 1)
	if err != nil {
		return nil, err
	}
	if group != 1 {
		return nil, unsupported("group=%d is not supported", group)
	}
	F, C := ws[0], xs[1]
	if ws[1] != C {
		return nil, invalid("weights %v do not fit %d input channels", ws, C)
	}
	w, err := windowAttrs(a, []int64{int64(ws[2]), int64(ws[3])}, xs)
	if err != nil {
		return nil, err
	}
	B := xs[0]
	oh, ow := w.out(xs[2], xs[3])
	ckk := C * w.kh * w.kw

	// im2col: (B, OH, OW, C*kH*kW), rows ordered (c, kh, kw) like the
	// weights; then one matrix product with the weights transposed at load.
	col, err := G.Im2Col(xn, tensor.Shape{w.kh, w.kw}, tensor.Shape{w.ph, w.pw},
		tensor.Shape{w.sh, w.sw}, tensor.Shape{w.dh, w.dw})
	if err != nil {
		return nil, err
	}
	patches, err := G.Reshape(col, tensor.Shape{B * oh * ow, ckk})
	if err != nil {
		return nil, err
	}
	wt, err := b.prepare("convW:"+W.name, W.c.static, func() (*prepared, error) {
		return &prepared{shape: []int{ckk, F}, data: transposed2D(W.c.f, F, ckk)}, nil
	})
	if err != nil {
		return nil, err
	}
	y, err := matMul(patches, wt)
	if err != nil {
		return nil, err
	}
	if len(in) > 2 && in[2] != nil {
		bias := in[2]
		if s := bias.shape(); len(s) != 1 || s[0] != F {
			return nil, invalid("bias has shape %v, want [%d]", s, F)
		}
		bn, err := b.tensor(bias, "bias")
		if err != nil {
			return nil, err
		}
		if y, err = G.ApplyOp(biasAddOp{axis: 1, dims: 2}, y, bn); err != nil {
			return nil, err
		}
	}
	if y, err = G.Reshape(y, tensor.Shape{B, oh, ow, F}); err != nil {
		return nil, err
	}
	if y, err = G.Transpose(y, 0, 3, 1, 2); err != nil {
		return nil, err
	}
	return nodeOut(y), nil
}

func opMaxPoolFast(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	if len(n.outputs) > 1 && n.outputs[1] != "" {
		return nil, unsupported("the Indices output is not supported")
	}
	xn, w, err := b.poolInput(in[0], a)
	if err != nil {
		return nil, err
	}
	if order, err := a.int("storage_order", 0); err != nil || order != 0 {
		if err != nil {
			return nil, err
		}
		return nil, unsupported("storage_order=%d is not supported", order)
	}
	// Pads are passed as two values: gorgonia's 4-value form reads them in
	// a different order than ONNX and uses the wrong one for the offset.
	y, err := G.MaxPool2D(xn, tensor.Shape{w.kh, w.kw}, []int{w.ph, w.pw}, []int{w.sh, w.sw})
	if err != nil {
		return nil, err
	}
	return nodeOut(y), nil
}

// poolInput checks a pooling op's input and reads its window (no
// dilations).
func (b *builder) poolInput(v *value, a *attrs) (*G.Node, window, error) {
	xn, xs, err := b.spatial2D(v)
	if err != nil {
		return nil, window{}, err
	}
	w, err := poolWindow(a, xs)
	if err != nil {
		return nil, w, err
	}
	if w.dh != 1 || w.dw != 1 {
		return nil, w, unsupported("dilations other than 1 are not supported")
	}
	return xn, w, nil
}

// poolWindow reads the attributes common to the pooling ops.
func poolWindow(a *attrs, shape []int) (window, error) {
	ceil, err := a.int("ceil_mode", 0)
	if err != nil {
		return window{}, err
	}
	if ceil != 0 {
		return window{}, unsupported("ceil_mode=%d is not supported", ceil)
	}
	w, err := windowAttrs(a, nil, shape)
	if err != nil {
		return w, err
	}
	if w.ph >= w.kh || w.pw >= w.kw {
		return w, invalid("pads (%d, %d) must be smaller than the kernel %dx%d", w.ph, w.pw, w.kh, w.kw)
	}
	return w, nil
}

func opAveragePoolFast(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	xn, w, err := b.poolInput(in[0], a)
	if err != nil {
		return nil, err
	}
	countPad, err := a.int("count_include_pad", 0)
	if err != nil {
		return nil, err
	}
	if countPad != 0 {
		return nil, unsupported("count_include_pad=%d is not supported", countPad)
	}
	op := avgPoolOp{kh: w.kh, kw: w.kw, sh: w.sh, sw: w.sw, ph: w.ph, pw: w.pw}
	y, err := G.ApplyOp(op, xn)
	if err != nil {
		return nil, err
	}
	return nodeOut(y), nil
}

func opGlobalAveragePool(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	xn, xs, err := b.spatial2D(in[0])
	if err != nil {
		return nil, err
	}
	op := avgPoolOp{kh: xs[2], kw: xs[3], sh: 1, sw: 1}
	y, err := G.ApplyOp(op, xn)
	if err != nil {
		return nil, err
	}
	return nodeOut(y), nil
}
