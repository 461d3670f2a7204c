package kernels

import (
	"fmt"

	"github.com/gannet-ml/gannet/accel/internal/parallel"
)

// PoolParams describes a 2-D max or average pool over NCHW [N, C, H, W].
// Zero strides and dilations mean 1. Dilations apply to MaxPool only.
type PoolParams struct {
	N, C, H, W      int
	KH, KW          int
	SH, SW          int
	PT, PL, PB, PR  int
	DH, DW          int
	CeilMode        bool // ONNX ceil_mode: round the output size up
	CountIncludePad bool // AvgPool: divide by the window size including pads
}

// Norm returns p with zero strides and dilations set to 1.
func (p PoolParams) Norm() PoolParams {
	p.SH, p.SW, p.DH, p.DW = one(p.SH), one(p.SW), one(p.DH), one(p.DW)
	return p
}

func poolOut(in, k, s, padA, padB, d int, ceil bool) int {
	span := in + padA + padB - (k-1)*d - 1
	if span < 0 {
		return 0
	}
	out := span/s + 1
	if ceil && span%s != 0 {
		out++
		// The last window must start inside the input or the left pad.
		if (out-1)*s >= in+padA {
			out--
		}
	}
	return out
}

// OutHW returns the output's spatial size.
func (p PoolParams) OutHW() (oh, ow int) {
	p = p.Norm()
	return poolOut(p.H, p.KH, p.SH, p.PT, p.PB, p.DH, p.CeilMode), poolOut(p.W, p.KW, p.SW, p.PL, p.PR, p.DW, p.CeilMode)
}

// OutLen is the element count of the output.
func (p PoolParams) OutLen() int {
	oh, ow := p.OutHW()
	return p.N * p.C * oh * ow
}

// Check reports whether p describes a pool the kernels can run.
func (p PoolParams) Check() error {
	p = p.Norm()
	switch {
	case p.N < 1 || p.C < 1 || p.H < 1 || p.W < 1 || p.KH < 1 || p.KW < 1:
		return fmt.Errorf("pool: empty or negative size in %+v", p)
	case p.SH < 1 || p.SW < 1 || p.DH < 1 || p.DW < 1:
		return fmt.Errorf("pool: strides and dilations must be positive")
	case p.PT < 0 || p.PL < 0 || p.PB < 0 || p.PR < 0:
		return fmt.Errorf("pool: negative pads")
	case p.PT >= p.KH || p.PB >= p.KH || p.PL >= p.KW || p.PR >= p.KW:
		return fmt.Errorf("pool: pads must be smaller than the kernel")
	}
	if oh, ow := p.OutHW(); oh < 1 || ow < 1 {
		return fmt.Errorf("pool: kernel larger than padded input")
	}
	return nil
}

// MaxPool computes dst = max over each window of x; padded cells are
// ignored.
func MaxPool(p PoolParams, dst, x []float32) { runPool(p, dst, x, false) }

// AvgPool computes dst = the mean over each window of x; padded cells count
// toward the divisor only with CountIncludePad. Dilations must be 1.
func AvgPool(p PoolParams, dst, x []float32) {
	if !(one(p.DH) == 1 && one(p.DW) == 1) {
		panicf("avgpool: dilations are not supported")
	}
	runPool(p, dst, x, true)
}

func runPool(p PoolParams, dst, x []float32, avg bool) {
	p = p.Norm()
	if err := p.Check(); err != nil {
		panic("accel/kernels: " + err.Error())
	}
	if !(len(x) >= p.N*p.C*p.H*p.W && len(dst) >= p.OutLen()) {
		panicf("pool: slices of %d and %d values for %+v", len(x), len(dst), p)
	}
	planes := p.N * p.C
	parts := min(planes, parallel.Parts(p.OutLen()*p.KH*p.KW, poolMinOps))
	t := poolTasks.Get()
	*t = poolTask{p: p, dst: dst, x: x, avg: avg}
	t.oh, t.ow = p.OutHW()
	parallel.Run(parts, t)
	*t = poolTask{}
	poolTasks.Put(t)
}

type poolTask struct {
	p      PoolParams
	oh, ow int
	dst, x []float32
	avg    bool
}

var poolTasks parallel.Free[poolTask]

func (t *poolTask) Run(part, parts int) {
	p := &t.p
	lo, hi := parallel.Range(p.N*p.C, part, parts)
	for pl := lo; pl < hi; pl++ {
		in := t.x[pl*p.H*p.W:][:p.H*p.W]
		out := t.dst[pl*t.oh*t.ow:][:t.oh*t.ow]
		if t.avg {
			t.avgPlane(out, in)
		} else if p.KH == 2 && p.KW == 2 && p.SH == 2 && p.SW == 2 && p.DH == 1 && p.DW == 1 &&
			p.PT == 0 && p.PL == 0 && 2*t.oh <= p.H && 2*t.ow <= p.W {
			t.max2x2(out, in)
		} else {
			t.maxPlane(out, in)
		}
	}
}

func (t *poolTask) max2x2(out, in []float32) {
	w := t.p.W
	for oy := 0; oy < t.oh; oy++ {
		r0, r1 := in[2*oy*w:][:2*t.ow], in[(2*oy+1)*w:][:2*t.ow]
		o := out[oy*t.ow:][:t.ow]
		vec := 0 // outputs done by the vector kernel, in blocks of 4
		if haveAVX2 {
			vec = len(o) &^ 3
			if vec > 0 {
				max2x2s2AVX2(o[:vec], r0, r1)
			}
		}
		for ox := vec; ox < len(o); ox++ {
			a, b := max(r0[2*ox], r0[2*ox+1]), max(r1[2*ox], r1[2*ox+1])
			o[ox] = max(a, b)
		}
	}
}

func (t *poolTask) maxPlane(out, in []float32) {
	p := &t.p
	if haveAVX2 && p.KH == 3 && p.KW == 3 && p.SH == 2 && p.SW == 2 && p.DH == 1 && p.DW == 1 &&
		p.PT <= 1 && p.PL == 1 && p.W >= 3 {
		t.max3x3s2(out, in)
		return
	}
	// Per kernel column: the output columns [lo, hi) whose input column
	// ox*SW + off lies inside the row (the same for every output row).
	var spanBuf [8][3]int
	var spans [][3]int
	if p.KW <= len(spanBuf) {
		spans = spanBuf[:p.KW]
	} else {
		spans = make([][3]int, p.KW) // windows wider than 8: rare
	}
	for kj := range spans {
		off := kj*p.DW - p.PL
		lo := 0
		if off < 0 {
			lo = (-off + p.SW - 1) / p.SW
		}
		hi := t.ow
		if lim := p.W - 1 - off; lim < 0 {
			hi = 0
		} else {
			hi = min(hi, lim/p.SW+1)
		}
		spans[kj] = [3]int{lo, max(lo, hi), off}
	}
	ninf := negInf()
	for oy := 0; oy < t.oh; oy++ {
		row := out[oy*t.ow : (oy+1)*t.ow]
		for i := range row {
			row[i] = ninf
		}
		for ki := 0; ki < p.KH; ki++ {
			iy := oy*p.SH - p.PT + ki*p.DH
			if iy < 0 || iy >= p.H {
				continue
			}
			src := in[iy*p.W : (iy+1)*p.W]
			for _, sp := range spans {
				lo, hi, off := sp[0], sp[1], sp[2]
				if lo >= hi {
					continue
				}
				d := row[lo:hi]
				switch p.SW {
				case 1:
					s := src[lo+off : hi+off]
					for i := range d {
						d[i] = max(d[i], s[i])
					}
				case 2:
					s := src[2*lo+off : 2*(hi-1)+off+1]
					for i := range d {
						d[i] = max(d[i], s[2*i])
					}
				default:
					for i := range d {
						d[i] = max(d[i], src[(lo+i)*p.SW+off])
					}
				}
			}
		}
	}
}

func (t *poolTask) avgPlane(out, in []float32) {
	p := &t.p
	for oy := 0; oy < t.oh; oy++ {
		hs := oy*p.SH - p.PT
		he := min(hs+p.KH, p.H+p.PB)
		for ox := 0; ox < t.ow; ox++ {
			ws := ox*p.SW - p.PL
			we := min(ws+p.KW, p.W+p.PR)
			n := (he - hs) * (we - ws) // window within input and pads
			y0, y1, x0, x1 := max(hs, 0), min(he, p.H), max(ws, 0), min(we, p.W)
			if !p.CountIncludePad {
				n = (y1 - y0) * (x1 - x0)
			}
			var s float32
			for iy := y0; iy < y1; iy++ {
				for _, v := range in[iy*p.W+x0 : iy*p.W+x1] {
					s += v
				}
			}
			if n > 0 {
				out[oy*t.ow+ox] = s / float32(n)
			} else {
				out[oy*t.ow+ox] = 0
			}
		}
	}
}

// GlobalAvgPool computes dst[i] = mean of x[i*hw : (i+1)*hw] for the
// planes = N*C planes of an NCHW tensor with hw = H*W.
func GlobalAvgPool(planes, hw int, dst, x []float32) {
	if !(planes >= 1 && hw >= 1 && len(x) >= planes*hw && len(dst) >= planes) {
		panicf("globalavgpool: %d planes of %d with slices of %d and %d", planes, hw, len(x), len(dst))
	}
	t := gapTasks.Get()
	*t = gapTask{hw: hw, planes: planes, dst: dst, x: x}
	parallel.Run(min(planes, parallel.Parts(planes*hw, poolMinOps)), t)
	*t = gapTask{}
	gapTasks.Put(t)
}

type gapTask struct {
	hw, planes int
	dst, x     []float32
}

var gapTasks parallel.Free[gapTask]

func (t *gapTask) Run(part, parts int) {
	lo, hi := parallel.Range(t.planes, part, parts)
	inv := 1 / float32(t.hw)
	for pl := lo; pl < hi; pl++ {
		var s0, s1, s2, s3 float32
		v := t.x[pl*t.hw : (pl+1)*t.hw]
		i := 0
		for ; i+4 <= len(v); i += 4 {
			s0 += v[i]
			s1 += v[i+1]
			s2 += v[i+2]
			s3 += v[i+3]
		}
		for ; i < len(v); i++ {
			s0 += v[i]
		}
		t.dst[pl] = (s0 + s1 + s2 + s3) * inv
	}
}

// max3x3s2 is maxPlane for a 3x3 window, stride 2, left pad 1 (resnet's
// first pool): the columns whose window lies inside the row in one pass,
// the others one by one. A window row in the padding is replaced by one of
// the window's rows inside the plane (the max is the same).
func (t *poolTask) max3x3s2(out, in []float32) {
	p := &t.p
	W := p.W
	x1 := min(t.ow, (W-2)/2+1) // columns 1 <= ox < x1 read inside the row
	var rows [3][]float32
	for oy := 0; oy < t.oh; oy++ {
		y0 := 2*oy - p.PT
		inside := -1
		for k := 0; k < 3; k++ {
			if iy := y0 + k; iy >= 0 && iy < p.H {
				inside = iy
				break
			}
		}
		row := out[oy*t.ow : (oy+1)*t.ow]
		if inside < 0 {
			for i := range row {
				row[i] = negInf()
			}
			continue
		}
		for k := 0; k < 3; k++ {
			iy := y0 + k
			if iy < 0 || iy >= p.H {
				iy = inside
			}
			rows[k] = in[iy*W : (iy+1)*W]
		}
		if x1 > 1 {
			max3x3s2AVX2(row[1:x1], rows[0][1:], rows[1][1:], rows[2][1:])
		}
		for ox := 0; ox < t.ow; ox++ {
			if ox == 1 && x1 > 1 {
				ox = x1 - 1
				continue
			}
			m := negInf()
			for k := 0; k < 3; k++ {
				for j := 0; j < 3; j++ {
					if ix := 2*ox - 1 + j; ix >= 0 && ix < W {
						m = max(m, rows[k][ix])
					}
				}
			}
			row[ox] = m
		}
	}
}
