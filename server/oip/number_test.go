package oip

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// checkNumber compares the package's number parsing of text with strconv.
func checkNumber(t *testing.T, text string) {
	t.Helper()
	var n number
	end, msg := scanNum([]byte(text), 0, &n)
	if msg != "" || end != len(text) {
		t.Fatalf("%q: scan error %q at %d", text, msg, end)
	}
	if want := !strings.ContainsAny(text, ".eE"); n.isInt != want {
		t.Fatalf("%q: isInt %v", text, n.isInt)
	}
	f32, err32 := strconv.ParseFloat(text, 32)
	g32, ok32 := parseF32(&n)
	if ok32 != (err32 == nil) || ok32 && math.Float32bits(g32) != math.Float32bits(float32(f32)) {
		t.Fatalf("%q: FP32 got %v (%v), want %v (%v)", text, g32, ok32, float32(f32), err32)
	}
	f64, err64 := strconv.ParseFloat(text, 64)
	g64, ok64 := parseF64(&n)
	if ok64 != (err64 == nil) || ok64 && math.Float64bits(g64) != math.Float64bits(f64) {
		t.Fatalf("%q: FP64 got %v (%v), want %v (%v)", text, g64, ok64, f64, err64)
	}
}

func digits(rng *rand.Rand, n int, leadingZeroOK bool) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + rng.IntN(10))
	}
	if !leadingZeroOK && n > 1 && b[0] == '0' {
		b[0] = '1'
	}
	return string(b)
}

func TestParseNumbers(t *testing.T) {
	for _, s := range []string{"0", "-0", "1", "-1", "0.5", "1e10", "1E-10", "1e+2", "123456789012345678901234567890",
		"0.000000000000000000000000000001", "1e39", "-1e39", "3.4028235e38", "3.4028236e38", "1e-46", "1e309", "4.9e-324",
		"9007199254740993", "0.1000000000000000055511151231257827021181583404541015625", "16777217", "16777216.5", "0.30000001192092896"} {
		checkNumber(t, s)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 100000; i++ {
		s := ""
		if rng.IntN(2) == 0 {
			s = "-"
		}
		s += digits(rng, 1+rng.IntN(20), false)
		if rng.IntN(3) > 0 {
			s += "." + digits(rng, 1+rng.IntN(20), true)
		}
		if rng.IntN(3) == 0 {
			s += "e" + []string{"", "+", "-"}[rng.IntN(3)] + strconv.Itoa(rng.IntN(60))
		}
		checkNumber(t, s)
	}
	// Decimal texts of exact midpoints between adjacent float32s, and of
	// values just off them: the double-rounding trap of a float64 fast path.
	for i := 0; i < 100000; i++ {
		f := math.Float32frombits(rng.Uint32() & 0x7f7fffff)
		if f == 0 || math.IsInf(float64(f), 0) {
			continue
		}
		next := math.Nextafter32(f, float32(math.Inf(1)))
		mid := (float64(f) + float64(next)) / 2
		checkNumber(t, strconv.FormatFloat(mid, 'g', -1, 64))
		checkNumber(t, strconv.FormatFloat(mid, 'g', 17, 64))
		checkNumber(t, strconv.FormatFloat(mid, 'e', 16+rng.IntN(4), 64))
		checkNumber(t, strconv.FormatFloat(float64(f), 'g', -1, 32))
	}
}

func TestScanNumberSyntax(t *testing.T) {
	for _, s := range []string{"", "-", "+1", ".5", "1.", "1.e5", "1e", "1e+", "-a", "x"} {
		var n number
		if end, msg := scanNum([]byte(s), 0, &n); msg == "" && end == len(s) {
			t.Errorf("%q accepted", s)
		}
	}
	// A number ends at the first byte that cannot continue it.
	var n number
	if end, msg := scanNum([]byte("01"), 0, &n); msg != "" || end != 1 {
		t.Errorf("01: %d %q", end, msg)
	}
}

func TestEightDigits(t *testing.T) {
	for _, s := range []string{"12345678", "00000000", "99999999", "1234567a", "/2345678", ":2345678", "1234 678"} {
		v := uint64(0)
		for i := 7; i >= 0; i-- {
			v = v<<8 | uint64(s[i])
		}
		want := strings.Trim(s, "0123456789") == ""
		if got := eightDigits(v); got != want {
			t.Errorf("%q: eightDigits %v", s, got)
		}
		if want {
			x, _ := strconv.ParseUint(s, 10, 64)
			if got := parseEight(v); got != x {
				t.Errorf("%q: %d", s, got)
			}
		}
	}
}

func TestHalfToFloat32(t *testing.T) {
	for _, c := range []struct {
		h    uint16
		want float32
	}{{0x0000, 0}, {0x3c00, 1}, {0xc000, -2}, {0x7bff, 65504}, {0x0001, 5.9604645e-08}, {0x03ff, 6.097555e-05}, {0x0400, 6.1035156e-05}, {0x3555, 0.33325195}} {
		if got := halfToFloat32(c.h); got != c.want {
			t.Errorf("%#04x: %v, want %v", c.h, got, c.want)
		}
	}
	if got := halfToFloat32(0x8000); math.Float32bits(got) != 0x80000000 {
		t.Errorf("-0: %v", got)
	}
	if !math.IsInf(float64(halfToFloat32(0xfc00)), -1) || !math.IsNaN(float64(halfToFloat32(0x7e00))) {
		t.Error("inf/nan")
	}
}
