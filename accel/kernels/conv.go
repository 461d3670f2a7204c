package kernels

import (
	"fmt"
	"sync/atomic"

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
	// Packed: the weights come packed (Conv2DPacked; group 1, not
	// depthwise): the product runs on the packed AVX-512 kernel.
	Packed bool
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
	msplit    int // channel blocks per column block (packed, few columns)
	ipb       int // images per item (packed, small feature maps, batch > 1)
	items     int
	parts     int
	packed    bool
	direct    bool // packed, and the patch matrix packed straight from the images (no im2col)
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

// packBatchCols is the feature map size below which the packed path puts
// several images' columns into one product, up to packBatchMax columns.
const (
	packBatchCols = 128
	packBatchMax  = 512
)

// packedMinMACs is the work from which a convolution runs on the packed
// product (a variable for the tests).
var packedMinMACs = 1 << 19

// packedColFloats bounds one part's im2col block on the packed path.
const packedColFloats = 1 << 18

func (p Conv2DParams) plan(threads int) convPlan {
	var c convPlan
	c.oh, c.ow = p.OutHW()
	c.ohw = c.oh * c.ow
	c.cg, c.mg = p.C/p.Group, p.M/p.Group
	c.k = c.cg * p.KH * p.KW
	// No more parts than the grain allows: the blocking below cuts the
	// work for this many, and a convolution cut for threads it will not
	// use would run its finer blocks (and pack their columns again) on
	// one thread.
	threads = min(threads, max(1, p.N*p.M*c.ohw*c.k/convMinMACs))
	switch {
	case c.cg == 1 && c.mg == 1:
		c.kind = convDepthwise
	case p.KH == 1 && p.KW == 1 && p.SH == 1 && p.SW == 1 && p.PT+p.PL+p.PB+p.PR == 0:
		c.kind = convPointwise
	}
	c.msplit = 1
	// Small convolutions (the Fashion-MNIST CNN at batch 1) run faster on
	// the plain path: packing pays off from about half a million
	// multiply-adds (BenchmarkRun/cnn/batch1).
	c.packed = p.Packed && p.Group == 1 && c.kind != convDepthwise && c.k >= 16 &&
		p.N*p.M*c.ohw*c.k >= packedMinMACs
	if c.kind == convDepthwise {
		c.blk, c.nblk = c.ohw, 1
		c.items = p.N * p.C
	} else if c.packed {
		// The packed kernel packs its own blocks of columns; im2col
		// blocks stay near L2 (at least 96 columns).
		c.blk = c.ohw
		c.ipb = 1
		if p.N > 1 && c.ohw < packBatchCols {
			// Small feature maps (deep layers) at batch > 1: the
			// columns of several images in one product (a block of 49
			// columns would waste a third of the kernel's last
			// 16-column sliver), written to the images afterwards.
			groups := (p.N*c.ohw + packBatchMax - 1) / packBatchMax
			c.ipb = (p.N + groups - 1) / groups
		}
		// Without im2col, blocks of columns need no cap: the product
		// packs its own blocks of them straight from the images.
		c.direct = c.kind == convIm2col && blas.ConvDirectFits(c.ipb*p.C*p.H*p.W)
		if c.kind == convIm2col && !c.direct && c.k*c.blk > packedColFloats {
			c.blk = max(96, packedColFloats/c.k/16*16)
		}
		c.nblk = (c.ohw + c.blk - 1) / c.blk
		if c.ipb > 1 {
			c.nblk = 1
			c.msplit = 1
			c.items = (p.N + c.ipb - 1) / c.ipb
			if c.items < threads && p.M >= 8*threads {
				c.msplit = min(threads, (threads+c.items-1)/c.items)
			}
			c.items *= c.msplit
		} else if per := p.N * c.nblk; per < threads {
			if c.ohw >= 128*threads {
				// Many columns: cut them finer, into about four items
				// per thread (parts claim them as they go; blocks of
				// columns cost no extra packing).
				want := (4*threads + per - 1) / per
				want = min(want, c.ohw/128)
				c.blk = (c.ohw + want - 1) / want
				if c.blk > c.ow {
					c.blk = (c.blk + c.ow - 1) / c.ow * c.ow
				}
				c.nblk = (c.ohw + c.blk - 1) / c.blk
			} else if p.M >= 8*threads {
				// Few columns (deep layers at batch 1): cut the
				// output channels, each part making the same columns.
				c.msplit = min(threads, (threads+per-1)/per)
			}
		}
		if c.ipb == 1 {
			c.items = p.N * c.nblk * c.msplit
		}
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
	c.parts = min(threads, c.items)
	return c
}

// Conv2DScratchLen is the scratch Conv2D needs with n threads (the
// im2col blocks of the parts; 0 for pointwise and depthwise convolutions).
func Conv2DScratchLen(p Conv2DParams, threads int) int {
	p = p.Norm()
	c := p.plan(max(1, threads))
	return c.parts * c.scratchPer()
}

// PackConv2DWeights packs w ([M, C*KH*KW]) for Conv2DPacked, or returns nil
// where packed products are not available or p is not a convolution they
// run (groups, depthwise).
func PackConv2DWeights(p Conv2DParams, w []float32) *blas.Packed {
	p = p.Norm()
	p.Packed = true
	if !blas.PackAvailable() || p.Check() != nil || p.Group != 1 || len(w) < p.WeightLen() || !p.plan(1).packed {
		return nil
	}
	k := p.C * p.KH * p.KW
	return blas.PackB(w, k, p.M, k, true)
}

// Conv2D computes dst = act(conv(x, w) + bias). x is [N, C, H, W], w is
// [M, C/Group, KH, KW], bias is [M] or nil, dst is [N, M, OH, OW]. scratch
// must hold Conv2DScratchLen(p, parallel.Threads()) values (fewer limits
// the parallelism; fewer than one part's block panics).
func Conv2D(p Conv2DParams, dst, x, w, bias, scratch []float32) {
	p.Packed = false
	conv2D(p, dst, x, w, nil, bias, scratch)
}

// Conv2DPacked is Conv2D with the weights packed by PackConv2DWeights (pw,
// for these p and w); p.Packed must be set. w is still needed by the
// parts of the work that do not use the packed product.
func Conv2DPacked(p Conv2DParams, dst, x, w []float32, pw *blas.Packed, bias, scratch []float32) {
	if !p.Packed || pw == nil {
		panicf("conv2d: packed call without packed weights")
	}
	conv2D(p, dst, x, w, pw, bias, scratch)
}

func conv2D(p Conv2DParams, dst, x, w []float32, pw *blas.Packed, bias, scratch []float32) {
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
	if c.packed {
		k := p.C * p.KH * p.KW
		if !(pw.Rows == p.M && pw.K == k) {
			panicf("conv2d: packed weights %dx%d, want %dx%d", pw.Rows, pw.K, p.M, k)
		}
	}
	if per := c.scratchPer(); per > 0 {
		c.parts = min(c.parts, len(scratch)/per)
		if !(c.parts >= 1) {
			panicf("conv2d: scratch of %d values, want at least %d", len(scratch), per)
		}
	}
	t := convTasks.Get()
	*t = convTask{p: p, c: c, dst: dst, x: x, w: w, pw: pw, bias: bias, scratch: scratch}
	parallel.Run(c.parts, t)
	*t = convTask{}
	convTasks.Put(t)
}

// scratchPer is the scratch one part needs.
func (c *convPlan) scratchPer() int {
	per := 0
	if c.kind == convIm2col && !c.direct {
		per = c.k * c.blk
	}
	if c.packed {
		per += blas.PackScratchLen()
		if c.ipb > 1 {
			// Columns of ipb images (unless packed straight from
			// them), and their product before it is spread over the
			// images.
			per = blas.PackScratchLen() + (c.colK()+c.mg)*c.ipb*c.ohw
		}
	}
	return per
}

// colK is the rows of the patch matrix written out: 0 when it is packed
// straight from the images.
func (c *convPlan) colK() int {
	if c.direct {
		return 0
	}
	return c.k
}

// geom is the convolution's geometry for blas.ConvDirect.
func (t *convTask) geom() blas.ConvGeom {
	p, c := &t.p, &t.c
	return blas.ConvGeom{C: p.C, H: p.H, W: p.W, KH: p.KH, KW: p.KW, SH: p.SH, SW: p.SW, PT: p.PT, PL: p.PL,
		DH: p.DH, DW: p.DW, OW: c.ow, OHW: c.ohw, ImageStride: p.C * p.H * p.W}
}

type convTask struct {
	p                        Conv2DParams
	c                        convPlan
	dst, x, w, bias, scratch []float32
	pw                       *blas.Packed
	next                     int64 // packed: the next item to claim (atomic)
}

var convTasks parallel.Free[convTask]

func (t *convTask) Run(part, parts int) {
	p, c := &t.p, &t.c
	lo, hi := parallel.Range(c.items, part, parts)
	if c.kind == convDepthwise {
		for it := lo; it < hi; it++ {
			t.depthwisePlane(it)
		}
		return
	}
	if c.packed {
		// Parts claim items one at a time: a part slowed by another
		// thread on its core (the runtime's, another request's) takes
		// fewer, instead of keeping the rest waiting at the end.
		scratch := t.scratch[part*c.scratchPer() : (part+1)*c.scratchPer()]
		for {
			it := int(atomic.AddInt64(&t.next, 1) - 1)
			if it >= c.items {
				return
			}
			t.runPacked(it, it+1, scratch)
		}
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

// runPacked runs items [lo, hi) on the packed product: each item is one
// block of columns of one image, for one block of output channels.
func (t *convTask) runPacked(lo, hi int, scratch []float32) {
	p, c := &t.p, &t.c
	if c.ipb > 1 {
		t.runPackedImages(lo, hi, scratch)
		return
	}
	var col []float32
	if c.kind == convIm2col && !c.direct {
		col = scratch[:c.k*c.blk]
		scratch = scratch[c.k*c.blk:]
	}
	var g blas.ConvGeom
	if c.direct {
		g = t.geom()
	}
	hw := p.H * p.W
	for it := lo; it < hi; it++ {
		n, r := it/(c.nblk*c.msplit), it%(c.nblk*c.msplit)
		b, ms := r/c.msplit, r%c.msplit
		m0, m1 := parallel.Range((p.M+3)/4, ms, c.msplit)
		m0, m1 = m0*4, min(m1*4, p.M)
		if m0 >= m1 {
			continue
		}
		c0 := b * c.blk
		cols := min(c.blk, c.ohw-c0)
		img := t.x[n*p.C*hw:]
		out := t.dst[n*p.M*c.ohw+c0:]
		for m := m0; m < m1; m++ {
			var bv float32
			if t.bias != nil {
				bv = t.bias[m]
			}
			fill(out[m*c.ohw:m*c.ohw+cols], bv)
		}
		switch {
		case c.kind == convPointwise:
			blas.ConvPacked(t.pw, m0, m1, cols, img[c0:], hw, out, c.ohw, scratch)
		case c.direct:
			blas.ConvDirect(t.pw, m0, m1, &g, img, c0, cols, out, c.ohw, scratch)
		default:
			t.im2col(col[:c.k*cols], img, c0, cols)
			blas.ConvPacked(t.pw, m0, m1, cols, col, cols, out, c.ohw, scratch)
		}
		if p.Act.Kind != ActNone {
			for m := m0; m < m1; m++ {
				biasAct(out[m*c.ohw:m*c.ohw+cols], 0, p.Act)
			}
		}
	}
}

// runPackedImages runs items [lo, hi) of a plan with several images per
// item: the patch matrix of images [n0, n1) side by side, one product into
// scratch, then each image's block moved to dst with the activation.
func (t *convTask) runPackedImages(lo, hi int, scratch []float32) {
	p, c := &t.p, &t.c
	hw := p.H * p.W
	for it := lo; it < hi; it++ {
		gi, ms := it/c.msplit, it%c.msplit
		n0 := gi * c.ipb
		n1 := min(p.N, n0+c.ipb)
		if n0 >= n1 {
			continue
		}
		m0, m1 := parallel.Range((p.M+3)/4, ms, c.msplit)
		m0, m1 = m0*4, min(m1*4, p.M)
		if m0 >= m1 {
			continue
		}
		ld := (n1 - n0) * c.ohw
		ck := c.colK()
		col := scratch[:ck*ld]
		prod := scratch[ck*c.ipb*c.ohw:][:p.M*ld]
		packS := scratch[(ck+c.mg)*c.ipb*c.ohw:]
		if !c.direct {
			for n := n0; n < n1; n++ {
				t.im2colLD(col[(n-n0)*c.ohw:], ld, t.x[n*p.C*hw:], 0, c.ohw)
			}
		}
		for m := m0; m < m1; m++ {
			var bv float32
			if t.bias != nil {
				bv = t.bias[m]
			}
			fill(prod[m*ld:(m+1)*ld], bv)
		}
		if c.direct {
			g := t.geom()
			blas.ConvDirect(t.pw, m0, m1, &g, t.x[n0*p.C*hw:], 0, ld, prod, ld, packS)
		} else {
			blas.ConvPacked(t.pw, m0, m1, ld, col, ld, prod, ld, packS)
		}
		for n := n0; n < n1; n++ {
			for m := m0; m < m1; m++ {
				out := t.dst[(n*p.M+m)*c.ohw:][:c.ohw]
				copy(out, prod[m*ld+(n-n0)*c.ohw:])
				if p.Act.Kind != ActNone {
					biasAct(out, 0, p.Act)
				}
			}
		}
	}
}

// im2col writes the [K, cols] patch matrix of output columns [c0, c0+cols)
// of one group of one image (img starts at the group's first channel).
func (t *convTask) im2col(col, img []float32, c0, cols int) { t.im2colLD(col, cols, img, c0, cols) }

// im2colLD is im2col with rows ld values apart in col.
func (t *convTask) im2colLD(col []float32, ld int, img []float32, c0, cols int) {
	p, c := &t.p, &t.c
	if p.SH == 1 && p.SW == 1 && c.ow == p.W && c0%c.ow == 0 && cols%c.ow == 0 {
		t.im2colSame(col, ld, img, c0/c.ow, (c0+cols)/c.ow)
		return
	}
	hw := p.H * p.W
	for k := 0; k < c.k; k++ {
		ci, kk := k/(p.KH*p.KW), k%(p.KH*p.KW)
		ki, kj := kk/p.KW, kk%p.KW
		plane := img[ci*hw : (ci+1)*hw]
		row := col[k*ld : k*ld+cols]
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
	if haveFMA && p.KH == 3 && p.KW == 3 && p.SH == 1 && p.SW == 1 && p.DH == 1 && p.DW == 1 &&
		p.PT == 1 && p.PL == 1 && p.PB == 1 && p.PR == 1 && p.W >= 3 {
		t.depthwise3x3(out, in, w, bv)
		return
	}
	if haveFMA && p.KH == 3 && p.KW == 3 && p.SH == 2 && p.SW == 2 && p.DH == 1 && p.DW == 1 &&
		p.PT == 1 && p.PL == 1 && p.W >= 3 {
		t.depthwise3x3s2(out, in, w, bv)
		return
	}
	// Per kernel column: the output columns [lo, hi) whose input column
	// ox*SW + off lies inside the row (the same for every output row).
	var spanBuf [8][3]int
	var spans [][3]int
	if p.KW <= len(spanBuf) {
		spans = spanBuf[:p.KW]
	} else {
		spans = make([][3]int, p.KW) // kernels wider than 8: rare
	}
	for kj := range spans {
		off := kj*p.DW - p.PL
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
		spans[kj] = [3]int{lo, hi, off}
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
			for kj, sp := range spans {
				wv := w[ki*p.KW+kj]
				lo, hi, off := sp[0], sp[1], sp[2]
				if lo >= hi {
					continue
				}
				if haveFMA && hi-lo >= 8 && (p.SW == 1 || p.SW == 2) {
					// Rows of 8 and more: 8 lanes per FMA.
					if p.SW == 1 {
						axpyAVX2(row[lo:hi], src[lo+off:hi+off], wv)
					} else {
						axpy2AVX2(row[lo:hi], src[2*lo+off:], wv)
					}
				} else if p.SW == 1 {
					s := src[lo+off : hi+off]
					d := row[lo:hi]
					for i := range d {
						d[i] += wv * s[i]
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

// depthwise3x3 is depthwisePlane for a 3x3 kernel, stride 1, pads 1 (the
// output as large as the input): each output row from its three input rows
// in one pass (bias and activation included), a missing row (the padding)
// read as any row with zero weights.
func (t *convTask) depthwise3x3(out, in, w []float32, bv float32) {
	p := &t.p
	W := p.W
	lo, hi := p.Act.bounds()
	var wv [9]float32
	var rows [3][]float32
	for oy := 0; oy < p.H; oy++ {
		for k := 0; k < 3; k++ {
			iy := oy - 1 + k
			if iy < 0 || iy >= p.H {
				rows[k] = in[oy*W : (oy+1)*W]
				wv[3*k], wv[3*k+1], wv[3*k+2] = 0, 0, 0
			} else {
				rows[k] = in[iy*W : (iy+1)*W]
				wv[3*k], wv[3*k+1], wv[3*k+2] = w[3*k], w[3*k+1], w[3*k+2]
			}
		}
		row := out[oy*W : (oy+1)*W]
		dw3x3AVX2(row[1:W-1], rows[0], rows[1], rows[2], &wv, bv, lo, hi)
		// The first and last columns, whose left or right input is padding.
		s0, s1 := bv, bv
		for k := 0; k < 3; k++ {
			r := rows[k]
			s0 += wv[3*k+1]*r[0] + wv[3*k+2]*r[1]
			s1 += wv[3*k]*r[W-2] + wv[3*k+1]*r[W-1]
		}
		row[0], row[W-1] = p.Act.Apply(s0), p.Act.Apply(s1)
	}
}

// depthwise3x3s2 is depthwise3x3 for stride 2 (pads top and left 1): the
// columns whose three inputs lie inside the row in one pass, the others
// (the first, and the last where it reads the right padding) one by one.
func (t *convTask) depthwise3x3s2(out, in, w []float32, bv float32) {
	p, c := &t.p, &t.c
	W := p.W
	lo, hi := p.Act.bounds()
	// Output column ox reads input columns 2ox-1 .. 2ox+1: inside for
	// 1 <= ox <= (W-2)/2.
	x1 := min(c.ow, (W-2)/2+1)
	var wv [9]float32
	var rows [3][]float32
	for oy := 0; oy < c.oh; oy++ {
		for k := 0; k < 3; k++ {
			iy := 2*oy - 1 + k
			if iy < 0 || iy >= p.H {
				rows[k] = in[0:W]
				wv[3*k], wv[3*k+1], wv[3*k+2] = 0, 0, 0
			} else {
				rows[k] = in[iy*W : (iy+1)*W]
				wv[3*k], wv[3*k+1], wv[3*k+2] = w[3*k], w[3*k+1], w[3*k+2]
			}
		}
		row := out[oy*c.ow : (oy+1)*c.ow]
		if x1 > 1 {
			dw3x3s2AVX2(row[1:x1], rows[0][1:], rows[1][1:], rows[2][1:], &wv, bv, lo, hi)
		}
		for ox := 0; ox < c.ow; ox++ {
			if ox == 1 && x1 > 1 {
				ox = x1 - 1
				continue
			}
			s := bv
			for k := 0; k < 3; k++ {
				r := rows[k]
				for j := 0; j < 3; j++ {
					if ix := 2*ox - 1 + j; ix >= 0 && ix < W {
						s += wv[3*k+j] * r[ix]
					}
				}
			}
			row[ox] = p.Act.Apply(s)
		}
	}
}

// im2colSame is im2col for stride 1 when an output row is as wide as an
// input row ("same" padding) and the block is output rows [r0, r1): each
// patch row is then the input plane shifted by (dy, dx), one contiguous
// copy plus zeroed borders, instead of one copy per output row.
func (t *convTask) im2colSame(col []float32, ld int, img []float32, r0, r1 int) {
	p, c := &t.p, &t.c
	hw, w := p.H*p.W, p.W
	cols := (r1 - r0) * w
	for k := 0; k < c.k; k++ {
		ci, kk := k/(p.KH*p.KW), k%(p.KH*p.KW)
		ki, kj := kk/p.KW, kk%p.KW
		plane := img[ci*hw : (ci+1)*hw]
		row := col[k*ld : k*ld+cols]
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
