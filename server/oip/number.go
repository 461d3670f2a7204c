package oip

import (
	"encoding/binary"
	"math"
	"strconv"
	"unsafe"

	"github.com/gannet-ml/gannet/wire"
)

// number is a scanned JSON number.
type number struct {
	tok   []byte // its text
	mant  uint64 // its significant digits, when exact
	exp   int    // its decimal exponent: the value is ±mant * 10^exp
	neg   bool
	isInt bool // no fraction, no exponent
	exact bool // mant holds all the significant digits (at most 19)
}

// num scans the JSON number at s.pos into n, checking its syntax strictly
// and splitting it into significant digits and decimal exponent on the way.
func (s *scanner) num(n *number) error {
	end, msg := scanNum(s.buf, s.pos, n)
	s.pos = end
	if msg != "" {
		return s.errAt(msg)
	}
	return nil
}

// scanNum scans the JSON number at b[start:] into n. It returns the offset
// after it, or the offset of the error and its description.
func scanNum(b []byte, start int, n *number) (int, string) {
	i := start
	n.neg = false
	if i < len(b) && b[i] == '-' {
		n.neg = true
		i++
	}
	var mant uint64
	ds := i // first digit
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i]-'1' < 9:
		for ; i < len(b); i++ {
			c := b[i] - '0'
			if c > 9 {
				break
			}
			mant = mant*10 + uint64(c)
		}
	default:
		return i, "invalid number"
	}
	digits := i - ds // digit characters, leading zeros included
	exp := 0
	n.isInt = true
	if i < len(b) && b[i] == '.' {
		n.isInt = false
		i++
		fs := i
		for i+8 <= len(b) {
			v := binary.LittleEndian.Uint64(b[i:])
			if !eightDigits(v) {
				break
			}
			mant = mant*1e8 + parseEight(v)
			i += 8
		}
		for ; i < len(b); i++ {
			c := b[i] - '0'
			if c > 9 {
				break
			}
			mant = mant*10 + uint64(c)
		}
		if i == fs {
			return i, "invalid number: digit expected after '.'"
		}
		exp = fs - i
		digits += i - fs
	}
	if i < len(b) && b[i]|0x20 == 'e' {
		n.isInt = false
		i++
		eneg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			eneg = b[i] == '-'
			i++
		}
		es := i
		e := 0
		for ; i < len(b); i++ {
			c := b[i] - '0'
			if c > 9 {
				break
			}
			if e < 1e6 {
				e = e*10 + int(c)
			}
		}
		if i == es {
			return i, "invalid number: digit expected in exponent"
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	n.tok = b[start:i]
	// With at most 19 digit characters the mantissa cannot overflow.
	n.mant, n.exp, n.exact = mant, exp, digits <= 19
	return i, ""
}

// eightDigits reports whether the 8 bytes of v (little-endian) are all
// ASCII digits.
func eightDigits(v uint64) bool {
	return (v&0xF0F0F0F0F0F0F0F0)|((v+0x0606060606060606)&0xF0F0F0F0F0F0F0F0)>>4 == 0x3333333333333333
}

// parseEight converts 8 ASCII digits (little-endian in v, first digit in
// the low byte) to their value.
func parseEight(v uint64) uint64 {
	v = (v & 0x0F0F0F0F0F0F0F0F) * 2561 >> 8
	v = (v & 0x00FF00FF00FF00FF) * 6553601 >> 16
	return (v & 0x0000FFFF0000FFFF) * 42949672960001 >> 32
}

// intMag parses a validated JSON integer token into its sign and magnitude.
// ok is false when the magnitude does not fit in a uint64.
func intMag(tok []byte) (neg bool, mag uint64, ok bool) {
	if len(tok) > 0 && tok[0] == '-' {
		neg = true
		tok = tok[1:]
	}
	for _, c := range tok {
		d := uint64(c - '0')
		if mag > (math.MaxUint64-d)/10 {
			return neg, 0, false
		}
		mag = mag*10 + d
	}
	return neg, mag, true
}

// nonNegInt parses a validated integer token as a non-negative int64.
func nonNegInt(tok []byte) (int64, bool) {
	neg, mag, ok := intMag(tok)
	if !ok || mag > math.MaxInt64 || neg && mag != 0 {
		return 0, false
	}
	return int64(mag), true
}

// Exact powers of ten for the fast float path.
var pow10f64 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// fast64 computes ±mant * 10^exp in one correctly rounded float64
// operation when both operands are exact in float64 (Clinger's fast path).
func fast64(n *number) (float64, bool) {
	if !n.exact || n.mant >= 1<<53 || n.exp < -22 || n.exp > 22 {
		return 0, false
	}
	f := float64(n.mant)
	if n.exp >= 0 {
		f *= pow10f64[n.exp]
	} else {
		f /= pow10f64[-n.exp]
	}
	if n.neg {
		f = -f
	}
	return f, true
}

// bytesString views b as a string for a call that does not retain it
// (strconv copies the text into any error it returns).
func bytesString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// parseF32 converts a number to the nearest float32; ok is false if it
// overflows float32.
func parseF32(n *number) (float32, bool) {
	if f, ok := fast64(n); ok {
		// f is the correctly rounded float64. Rounding it again to float32
		// gives the correctly rounded float32 unless f landed exactly on a
		// midpoint between two float32s (its low 29 bits are 1<<28): f is
		// within float32's normal range here, so that test is exact.
		if math.Float64bits(f)&(1<<29-1) != 1<<28 {
			return float32(f), true
		}
	}
	f, err := strconv.ParseFloat(bytesString(n.tok), 32)
	return float32(f), err == nil
}

// parseF64 converts a number to the nearest float64; ok is false if it
// overflows float64.
func parseF64(n *number) (float64, bool) {
	if f, ok := fast64(n); ok {
		return f, true
	}
	f, err := strconv.ParseFloat(bytesString(n.tok), 64)
	return f, err == nil
}

// intRange is the range of each integer type, as sign-and-magnitude bounds.
func intRange(dt wire.DataType) (maxPos uint64, maxNeg uint64) {
	switch dt {
	case wire.TypeUint8:
		return math.MaxUint8, 0
	case wire.TypeUint16:
		return math.MaxUint16, 0
	case wire.TypeUint32:
		return math.MaxUint32, 0
	case wire.TypeUint64:
		return math.MaxUint64, 0
	case wire.TypeInt8:
		return math.MaxInt8, 1 << 7
	case wire.TypeInt16:
		return math.MaxInt16, 1 << 15
	case wire.TypeInt32:
		return math.MaxInt32, 1 << 31
	case wire.TypeInt64:
		return math.MaxInt64, 1 << 63
	}
	return 0, 0
}

// putInt stores a range-checked integer of type dt at dst.
func putInt(dst []byte, dt wire.DataType, neg bool, mag uint64) {
	v := mag
	if neg {
		v = -mag // two's complement
	}
	switch dt.Size() {
	case 1:
		dst[0] = byte(v)
	case 2:
		binary.LittleEndian.PutUint16(dst, uint16(v))
	case 4:
		binary.LittleEndian.PutUint32(dst, uint32(v))
	case 8:
		binary.LittleEndian.PutUint64(dst, v)
	}
}

// halfToFloat32 converts IEEE binary16 bits to float32 (exactly).
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp == 0:
		if frac == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal half: value is frac * 2^-24, exact in float32.
		f := float32(frac) * (1.0 / (1 << 24))
		if sign != 0 {
			f = -f
		}
		return f
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
}

// bf16ToFloat32 converts bfloat16 bits to float32 (exactly).
func bf16ToFloat32(h uint16) float32 {
	return math.Float32frombits(uint32(h) << 16)
}
