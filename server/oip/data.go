package oip

import (
	"encoding/binary"
	"math"
	"strconv"

	"github.com/gannet-ml/gannet/wire"
)

// walkData scans the tensor "data" value at s.pos: an array whose elements
// are scalars or arrays, nested in any mix. It validates the syntax and the
// nesting depth and returns the number of scalars. With dst non-nil it
// also converts the first len(dst)/size scalars to type dt into dst (the
// rest are only counted, so that a count mismatch can be reported exactly).
// With dst nil, dt may be TypeInvalid (not yet known) and only the token
// syntax is checked.
//
// This is the hot loop of JSON decoding: it works on local copies of the
// buffer and offset, and numbers are scanned and converted in place.
func (s *scanner) walkData(name string, idx int, dt wire.DataType, dst []byte) (int64, error) {
	if c := s.ws(); c != '[' {
		return 0, invalid("input %s: \"data\" must be an array, not %s", inputLabel(name, idx), kindName(c))
	}
	size := int64(dt.Size())
	var want int64
	if size > 0 {
		want = int64(len(dst)) / size
	}
	b := s.buf
	i := s.pos
	var n int64
	open := 0 // arrays open within data
	var num number
	for {
		// A value is expected.
		for i < len(b) && b[i] <= ' ' && isSpace(b[i]) {
			i++
		}
		if i >= len(b) {
			s.pos = i
			return n, s.errAt("unterminated \"data\"")
		}
		c := b[i]
		switch {
		case c == '[':
			i++
			open++
			if s.depth+open > s.maxDepth {
				s.pos = i
				return n, s.errDepth()
			}
			for i < len(b) && b[i] <= ' ' && isSpace(b[i]) {
				i++
			}
			if i >= len(b) || b[i] != ']' {
				continue
			}
			i++ // an empty array
			open--
		case c-'0' <= 9 || c == '-' && (i+1 >= len(b) || b[i+1] != 'I'):
			end, msg := scanNum(b, i, &num)
			if msg != "" {
				s.pos = end
				return n, s.errAt(msg)
			}
			i = end
			if dst != nil && n < want {
				if err := storeNum(name, idx, dt, dst[n*size:], &num, n); err != nil {
					return n, err
				}
			}
			n++
		default: // literals, strings, objects, errors
			s.pos = i
			var err error
			if dst != nil && n < want {
				err = s.convert(name, idx, dt, dst[n*size:], n)
			} else {
				err = s.skipScalar(name, idx, n)
			}
			if err != nil {
				return n, err
			}
			i = s.pos
			n++
		}
		// After a value.
		for {
			if open == 0 {
				s.pos = i
				return n, nil
			}
			for i < len(b) && b[i] <= ' ' && isSpace(b[i]) {
				i++
			}
			if i < len(b) && b[i] == ',' {
				i++
				break
			}
			if i >= len(b) || b[i] != ']' {
				s.pos = i
				return n, s.errAt("expected ',' or ']' in \"data\"")
			}
			i++
			open--
		}
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t'
}

// storeNum stores a scanned number at dst as type dt (element i).
func storeNum(name string, idx int, dt wire.DataType, dst []byte, num *number, i int64) error {
	switch dt {
	case wire.TypeFP32:
		f, ok := parseF32(num)
		if !ok {
			return invalid("input %s: data element %d: %s is out of range for FP32", inputLabel(name, idx), i, num.tok)
		}
		binary.LittleEndian.PutUint32(dst, math.Float32bits(f))
		return nil
	case wire.TypeFP64:
		f, ok := parseF64(num)
		if !ok {
			return invalid("input %s: data element %d: %s is out of range for FP64", inputLabel(name, idx), i, num.tok)
		}
		binary.LittleEndian.PutUint64(dst, math.Float64bits(f))
		return nil
	case wire.TypeBool:
		return dataElemErr(name, idx, i, dt, "the number "+string(num.tok))
	}
	if !num.isInt {
		return invalid("input %s: data element %d: %s is not an integer (%v)", inputLabel(name, idx), i, num.tok, dt)
	}
	neg, mag, ok := intMag(num.tok)
	maxPos, maxNeg := intRange(dt)
	if !ok || !neg && mag > maxPos || neg && mag > maxNeg {
		return invalid("input %s: data element %d: %s is out of range for %v", inputLabel(name, idx), i, num.tok, dt)
	}
	putInt(dst, dt, neg, mag)
	return nil
}

// dataElemErr reports a data element of the wrong kind.
func dataElemErr(name string, idx int, i int64, dt wire.DataType, got string) error {
	return invalid("input %s: data element %d: expected %s, got %s", inputLabel(name, idx), i, expected(dt), got)
}

func expected(dt wire.DataType) string {
	switch dt {
	case wire.TypeBool:
		return "true or false (BOOL)"
	case wire.TypeFP32, wire.TypeFP64:
		return "a number (" + dt.String() + ")"
	case wire.TypeInvalid:
		return "a number or boolean"
	}
	return "an integer (" + dt.String() + ")"
}

// skipScalar validates one scalar data element without converting it.
func (s *scanner) skipScalar(name string, idx int, i int64) error {
	switch c := s.ws(); c {
	case 't':
		if s.literal("true") {
			return nil
		}
	case 'f':
		if s.literal("false") {
			return nil
		}
	case 'N':
		if s.literal("NaN") {
			return nil
		}
	case 'I':
		if s.literal("Infinity") {
			return nil
		}
	case '-':
		if s.literal("-Infinity") {
			return nil
		}
		var n number
		return s.num(&n)
	case '"', '{', 'n', 0:
		return dataElemErr(name, idx, i, wire.TypeInvalid, kindName(c))
	default:
		if c < '0' || c > '9' {
			return s.errAt("invalid value in \"data\"")
		}
		var n number
		return s.num(&n)
	}
	return s.errAt("invalid literal in \"data\"")
}

// convert parses one scalar data element and stores it at dst as type dt.
func (s *scanner) convert(name string, idx int, dt wire.DataType, dst []byte, i int64) error {
	c := s.ws()
	switch c {
	case 't', 'f':
		if dt != wire.TypeBool {
			return dataElemErr(name, idx, i, dt, "a boolean")
		}
		switch {
		case s.literal("true"):
			dst[0] = 1
		case s.literal("false"):
			dst[0] = 0
		default:
			return s.errAt("invalid literal in \"data\"")
		}
		return nil
	case 'N', 'I':
		return s.nonFinite(name, idx, dt, dst, i, c == 'N', false)
	case '"', '{', 'n', 0:
		return dataElemErr(name, idx, i, dt, kindName(c))
	case '-':
		if s.pos+1 < len(s.buf) && s.buf[s.pos+1] == 'I' {
			return s.nonFinite(name, idx, dt, dst, i, false, true)
		}
	}
	if c != '-' && (c < '0' || c > '9') {
		return s.errAt("invalid value in \"data\"")
	}
	var num number
	if err := s.num(&num); err != nil {
		return err
	}
	return storeNum(name, idx, dt, dst, &num, i)
}

// nonFinite parses NaN, Infinity or -Infinity for a float type.
func (s *scanner) nonFinite(name string, idx int, dt wire.DataType, dst []byte, i int64, nan, neg bool) error {
	var f float64
	switch {
	case nan && s.literal("NaN"):
		f = math.NaN()
	case !nan && !neg && s.literal("Infinity"):
		f = math.Inf(1)
	case neg && s.literal("-Infinity"):
		f = math.Inf(-1)
	default:
		return s.errAt("invalid literal in \"data\"")
	}
	switch dt {
	case wire.TypeFP32:
		binary.LittleEndian.PutUint32(dst, math.Float32bits(float32(f)))
	case wire.TypeFP64:
		binary.LittleEndian.PutUint64(dst, math.Float64bits(f))
	default:
		return invalid("input %s: data element %d: NaN and Infinity are not allowed for %v", inputLabel(name, idx), i, dt)
	}
	return nil
}

// inputLabel names an input in messages: its quoted name, or its index
// when the name is not known (yet).
func inputLabel(name string, idx int) string {
	if name != "" {
		return strconv.Quote(name)
	}
	return strconv.Itoa(idx)
}
