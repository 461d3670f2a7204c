package kernels

import (
	"fmt"
	"sync"

	gblas "gonum.org/v1/gonum/blas"

	"github.com/gannet-ml/gannet/accel/blas"
	"github.com/gannet-ml/gannet/accel/internal/parallel"
)

// Conv2DParams describes a 2-D convolution of an NCHW input with ONNX
// weights [M, C/Group, KH, KW] into an NCHW output [N, M, OH, OW]. Zero
// strides, dilations and group mean 1.
type Conv2DParams struct {
	N, C, H, W     int // input
	M              int // output channels
	KH, KW         int // kernel
	SH, SW         int // strides
	PT, PL, PB, PR int // pads: top, left, bottom, right
	DH, DW         int // dilations
	Group          int
	Act            Act // applied after the bias
}

func one(v int) int {
	if v == 0 {
		return 1
	}
	return v
}

// Norm returns p with zero strides, dilations and group set to 1.
func (p Conv2DParams) Norm() Conv2DParams {
	p.SH, p.SW, p.DH, p.DW, p.Group = one(p.SH), one(p.SW), one(p.DH), one(p.DW), one(p.Group)
	return p
}

// OutHW returns the output's spatial size.
func (p Conv2DParams) OutHW() (oh, ow int) {
	p = p.Norm()
	oh = (p.H+p.PT+p.PB-(p.KH-1)*p.DH-1)/p.SH + 1
	ow = (p.W+p.PL+p.PR-(p.KW-1)*p.DW-1)/p.SW + 1
	return oh, ow
}

// InLen, WeightLen and OutLen are the element counts of x, w and dst.
func (p Conv2DParams) InLen() int     { return p.N * p.C * p.H * p.W }
func (p Conv2DParams) WeightLen() int { return p.M * (p.C / one(p.Group)) * p.KH * p.KW }
func (p Conv2DParams) OutLen() int {
	oh, ow := p.OutHW()
	return p.N * p.M * oh * ow
}

// Check reports whether p describes a convolution the kernel can run.
func (p Conv2DParams) Check() error {
	p = p.Norm()
	switch {
	case p.N < 1 || p.C < 1 || p.H < 1 || p.W < 1 || p.M < 1 || p.KH < 1 || p.KW < 1:
		return fmt.Errorf("conv2d: empty or negative size in %+v", p)
	case p.SH < 1 || p.SW < 1 || p.DH < 1 || p.DW < 1 || p.Group < 1:
		return fmt.Errorf("conv2d: strides, dilations and group must be positive")
	case p.PT < 0 || p.PL < 0 || p.PB < 0 || p.PR < 0:
		return fmt.Errorf("conv2d: negative pads")
	case p.C%p.Group != 0 || p.M%p.Group != 0:
		return fmt.Errorf("conv2d: group %d does not divide %d input and %d output channels", p.Group, p.C, p.M)
	}
	if oh, ow := p.OutHW(); oh < 1 || ow < 1 {
		return fmt.Errorf("conv2d: kernel larger than padded input")
	}
	return nil
}

// convPlan is how a convolution is cut into work items: each item is one
// block of output columns (spatial positions) of one group of one image.
type convPlan struct {
	kind      convKind
	oh, ow    int
	ohw       int // oh*ow
	cg, mg    int // channels per group, in and out
	k         int // cg*KH*KW: the GEMM's inner dimension
	blk, nblk int // columns per block, blocks per (image, group)
	items     int
	parts     int
}

type convKind uint8

const (
	convIm2col    convKind = iota
	convPointwise          // 1x1, stride 1, no pad: x is the GEMM's B as is
	convDepthwise          // one input and one output channel per group
)

// colFloats bounds one part's im2col block (4 MiB). Blocks that fit L2
// (256 KiB) made deep layers' products thin (16 columns for K = 4608), so
// that OpenBLAS packed the weights again for every 16 columns: whole
// images' columns run 1.5-2x faster there (BenchmarkConv2D/resnet-*).
const colFloats = 1 << 20

// convMinMACs is the work below which a convolution runs on one thread.
const convMinMACs = 1 << 16

func (p Conv2DParams) plan(threads int) convPlan {
	var c convPlan
	c.oh, c.ow = p.OutHW()
	c.ohw = c.oh * c.ow
	c.cg, c.mg = p.C/p.Group, p.M/p.Group
	c.k = c.cg * p.KH * p.KW
	switch {
	case c.cg == 1 && c.mg == 1:
		c.kind = convDepthwise
	case p.KH == 1 && p.KW == 1 && p.SH == 1 && p.SW == 1 && p.PT+p.PL+p.PB+p.PR == 0:
		c.kind = convPointwise
	}
	if c.kind == convDepthwise {
		c.blk, c.nblk = c.ohw, 1
		c.items = p.N * p.C
	} else {
		c.blk = c.ohw
		if c.kind == convIm2col && c.k*c.blk > colFloats {
			c.blk = max(16, colFloats/c.k/16*16)
		}
		c.nblk = (c.ohw + c.blk - 1) / c.blk
		// Too few items to keep every thread busy (batch 1): cut each
		// image's columns finer.
		if per := p.N * p.Group; per*c.nblk < threads && c.ohw >= 32*threads {
			want := (threads + per - 1) / per
			c.blk = (c.ohw + want - 1) / want
			if c.blk > c.ow {
				c.blk = (c.blk + c.ow - 1) / c.ow * c.ow // whole output rows
			}
			c.nblk = (c.ohw + c.blk - 1) / c.blk
		}
		c.items = p.N * p.Group * c.nblk
	}
	macs := p.N * p.M * c.ohw * c.k
	c.parts = min(threads, c.items, max(1, macs/convMinMACs))
	return c
}

// Conv2DScratchLen is the scratch Conv2D needs with n threads (the
// im2col blocks of the parts; 0 for pointwise and depthwise convolutions).
func Conv2DScratchLen(p Conv2DParams, threads int) int {
	p = p.Norm()
	c := p.plan(max(1, threads))
	if c.kind != convIm2col {
		return 0
	}
	return c.parts * c.k * c.blk
}

// Conv2D computes dst = act(conv(x, w) + bias). x is [N, C, H, W], w is
// [M, C/Group, KH, KW], bias is [M] or nil, dst is [N, M, OH, OW]. scratch
// must hold Conv2DScratchLen(p, parallel.Threads()) values (fewer limits
// the parallelism; fewer than one part's block panics).
func Conv2D(p Conv2DParams, dst, x, w, bias, scratch []float32) {
	p = p.Norm()
	if err := p.Check(); err != nil {
		panic("accel/kernels: " + err.Error())
	}
	c := p.plan(parallel.Threads())
	if !(len(x) >= p.InLen()) {
		panicf("conv2d: input has %d values, want %d", len(x), p.InLen())
	}
	if !(len(w) >= p.WeightLen()) {
		panicf("conv2d: weights have %d values, want %d", len(w), p.WeightLen())
	}
	if !(len(dst) >= p.OutLen()) {
		panicf("conv2d: output has %d values, want %d", len(dst), p.OutLen())
	}
	if !(bias == nil || len(bias) >= p.M) {
		panicf("conv2d: bias has %d values, want %d", len(bias), p.M)
	}
	if c.kind == convIm2col {
		per := c.k * c.blk
		c.parts = min(c.parts, len(scratch)/per)
		if !(c.parts >= 1) {
			panicf("conv2d: scratch of %d values, want at least %d", len(scratch), per)
		}
	}
	t := convTasks.Get().(*convTask)
	*t = convTask{p: p, c: c, dst: dst, x: x, w: w, bias: bias, scratch: scratch}
	parallel.Run(c.parts, t)
	*t = convTask{}
	convTasks.Put(t)
}

type convTask struct {
	p                        Conv2DParams
	c                        convPlan
	dst, x, w, bias, scratch []float32
}

var convTasks = sync.Pool{New: func() any { return new(convTask) }}

func (t *convTask) Run(part, parts int) {
	p, c := &t.p, &t.c
	lo, hi := parallel.Range(c.items, part, parts)
	if c.kind == convDepthwise {
		for it := lo; it < hi; it++ {
			t.depthwisePlane(it)
		}
		return
	}
	var col []float32
	if c.kind == convIm2col {
		col = t.scratch[part*c.k*c.blk : (part+1)*c.k*c.blk]
	}
	hw := p.H * p.W
	for it := lo; it < hi; it++ {
		n, r := it/(p.Group*c.nblk), it%(p.Group*c.nblk)
		g, b := r/c.nblk, r%c.nblk
		c0 := b * c.blk
		cols := min(c.blk, c.ohw-c0)
		img := t.x[(n*p.C+g*c.cg)*hw:]
		out := t.dst[(n*p.M+g*c.mg)*c.ohw+c0:]
		wg := t.w[g*c.mg*c.k:]
		if c.kind == convPointwise {
			blas.Sgemm(gblas.NoTrans, gblas.NoTrans, c.mg, cols, c.k, 1, wg, c.k, img[c0:], hw, 0, out, c.ohw)
		} else {
			t.im2col(col[:c.k*cols], img, c0, cols)
			blas.Sgemm(gblas.NoTrans, gblas.NoTrans, c.mg, cols, c.k, 1, wg, c.k, col, cols, 0, out, c.ohw)
		}
		for m := 0; m < c.mg; m++ {
			var bv float32
			if t.bias != nil {
				bv = t.bias[g*c.mg+m]
			}
			biasAct(out[m*c.ohw:m*c.ohw+cols], bv, p.Act)
		}
	}
}

// im2col writes the [K, cols] patch matrix of output columns [c0, c0+cols)
// of one group of one image (img starts at the group's first channel).
func (t *convTask) im2col(col, img []float32, c0, cols int) {
	p, c := &t.p, &t.c
	if p.SH == 1 && p.SW == 1 && c.ow == p.W && c0%c.ow == 0 && cols%c.ow == 0 {
		t.im2colSame(col, img, c0/c.ow, (c0+cols)/c.ow)
		return
	}
	hw := p.H * p.W
	for k := 0; k < c.k; k++ {
		ci, kk := k/(p.KH*p.KW), k%(p.KH*p.KW)
		ki, kj := kk/p.KW, kk%p.KW
		plane := img[ci*hw : (ci+1)*hw]
		row := col[k*cols : (k+1)*cols]
		oy, ox := c0/c.ow, c0%c.ow
		for j := 0; j < cols; {
			seg := min(c.ow-ox, cols-j)
			dst := row[j : j+seg]
			iy := oy*p.SH - p.PT + ki*p.DH
			if iy < 0 || iy >= p.H {
				clear(dst)
			} else {
				src := plane[iy*p.W : (iy+1)*p.W]
				ix0 := ox*p.SW - p.PL + kj*p.DW
				if p.SW == 1 {
					tlo := min(seg, max(0, -ix0))
					thi := max(tlo, min(seg, p.W-ix0))
					if seg >= 32 {
						clear(dst[:tlo])
						copy(dst[tlo:thi], src[ix0+tlo:ix0+thi])
						clear(dst[thi:])
					} else {
						// Short rows (small feature maps): plain loops
						// beat a memmove call per segment.
						for s := 0; s < tlo; s++ {
							dst[s] = 0
						}
						in := src[ix0+tlo : ix0+thi]
						out := dst[tlo:thi]
						for s := range out {
							out[s] = in[s]
						}
						for s := thi; s < seg; s++ {
							dst[s] = 0
						}
					}
				} else {
					for s := range dst {
						ix := ix0 + s*p.SW
						if ix >= 0 && ix < p.W {
							dst[s] = src[ix]
						} else {
							dst[s] = 0
						}
					}
				}
			}
			j += seg
			oy, ox = oy+1, 0
		}
	}
}

// depthwisePlane computes output plane it (image it/M, channel it%M) of a
// convolution with one input channel per output channel.
func (t *convTask) depthwisePlane(it int) {
	p, c := &t.p, &t.c
	n, m := it/p.M, it%p.M
	in := t.x[(n*p.C+m)*p.H*p.W:][:p.H*p.W]
	out := t.dst[it*c.ohw:][:c.ohw]
	w := t.w[m*p.KH*p.KW:][:p.KH*p.KW]
	var bv float32
	if t.bias != nil {
		bv = t.bias[m]
	}
	for oy := 0; oy < c.oh; oy++ {
		row := out[oy*c.ow : (oy+1)*c.ow]
		for i := range row {
			row[i] = bv
		}
		for ki := 0; ki < p.KH; ki++ {
			iy := oy*p.SH - p.PT + ki*p.DH
			if iy < 0 || iy >= p.H {
				continue
			}
			src := in[iy*p.W : (iy+1)*p.W]
			for kj := 0; kj < p.KW; kj++ {
				wv := w[ki*p.KW+kj]
				off := kj*p.DW - p.PL
				// ox in [lo, hi) keeps ix = ox*SW + off inside the row.
				lo := 0
				if off < 0 {
					lo = (-off + p.SW - 1) / p.SW
				}
				hi := c.ow
				if lim := (p.W - 1 - off); lim < 0 {
					hi = 0
				} else {
					hi = min(hi, lim/p.SW+1)
				}
				if p.SW == 1 {
					if lo < hi {
						s := src[lo+off : hi+off]
						d := row[lo:hi]
						for i := range d {
							d[i] += wv * s[i]
						}
					}
				} else {
					for ox := lo; ox < hi; ox++ {
						row[ox] += wv * src[ox*p.SW+off]
					}
				}
			}
		}
		biasAct(row, 0, p.Act)
	}
}

// im2colSame is im2col for stride 1 when an output row is as wide as an
// input row ("same" padding) and the block is output rows [r0, r1): each
// patch row is then the input plane shifted by (dy, dx), one contiguous
// copy plus zeroed borders, instead of one copy per output row.
func (t *convTask) im2colSame(col, img []float32, r0, r1 int) {
	p, c := &t.p, &t.c
	hw, w := p.H*p.W, p.W
	cols := (r1 - r0) * w
	for k := 0; k < c.k; k++ {
		ci, kk := k/(p.KH*p.KW), k%(p.KH*p.KW)
		ki, kj := kk/p.KW, kk%p.KW
		plane := img[ci*hw : (ci+1)*hw]
		row := col[k*cols : (k+1)*cols]
		dy, dx := ki*p.DH-p.PT, kj*p.DW-p.PL
		oy0, oy1 := max(r0, -dy), min(r1, p.H-dy) // rows reading inside the plane
		if oy0 >= oy1 {
			clear(row)
			continue
		}
		clear(row[:(oy0-r0)*w])
		clear(row[(oy1-r0)*w:])
		d := row[(oy0-r0)*w : (oy1-r0)*w]
		s0, n := (oy0+dy)*w+dx, len(d) // flat source range; dx may step outside
		lo, hi := max(0, -s0), min(n, hw-s0)
		clear(d[:lo])
		copy(d[lo:hi], plane[s0+lo:s0+hi])
		clear(d[hi:])
		// Columns whose source fell into the neighbouring row read zero.
		if dx > 0 {
			for o := w - dx; o < len(d); o += w {
				clear(d[o:min(o+dx, len(d))])
			}
		} else if dx < 0 {
			for o := 0; o < len(d); o += w {
				clear(d[o:min(o-dx, len(d))])
			}
		}
	}
}
