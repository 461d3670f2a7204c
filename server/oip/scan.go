package oip

import (
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gannet-ml/gannet/wire"
)

// scanner is a hand-written, allocation-free JSON tokenizer over one buffer.
// It never recurses: nesting is tracked with a counter (and, in skipValue, a
// bit stack), bounded by maxDepth.
type scanner struct {
	buf      []byte
	pos      int
	depth    int // open objects and arrays
	maxDepth int
	scratch  []byte // unescaped string contents; reused
}

func invalid(format string, args ...any) error {
	return wire.Errorf(wire.KindInvalid, format, args...)
}

func (s *scanner) errAt(what string) error {
	if s.pos >= len(s.buf) {
		return invalid("invalid JSON: unexpected end of input, %s", what)
	}
	return invalid("invalid JSON at offset %d: %s", s.pos, what)
}

func (s *scanner) errDepth() error {
	return invalid("JSON nesting depth exceeds maximum allowed limit (%d)", s.maxDepth)
}

// ws skips JSON whitespace and returns the next byte, or 0 at the end.
func (s *scanner) ws() byte {
	for s.pos < len(s.buf) {
		c := s.buf[s.pos]
		if c != ' ' && c != '\n' && c != '\r' && c != '\t' {
			return c
		}
		s.pos++
	}
	return 0
}

// open consumes the opening byte c ('{' or '['), which must be next.
func (s *scanner) open(c byte, what string) error {
	if s.ws() != c || s.pos >= len(s.buf) {
		return s.errAt("expected " + what)
	}
	s.pos++
	s.depth++
	if s.depth > s.maxDepth {
		return s.errDepth()
	}
	return nil
}

// member advances to the next member of an object whose '{' was consumed and
// returns its key (valid until the next string is read), with the scanner
// after the ':'. ok is false when the object ended (its '}' consumed).
func (s *scanner) member(first *bool) (key []byte, ok bool, err error) {
	c := s.ws()
	if c == '}' {
		s.pos++
		s.depth--
		return nil, false, nil
	}
	if !*first {
		if c != ',' {
			return nil, false, s.errAt("expected ',' or '}' after object member")
		}
		s.pos++
		c = s.ws()
	}
	*first = false
	if c != '"' {
		return nil, false, s.errAt("expected string key")
	}
	key, err = s.str()
	if err != nil {
		return nil, false, err
	}
	if s.ws() != ':' {
		return nil, false, s.errAt("expected ':' after object key")
	}
	s.pos++
	return key, true, nil
}

// element advances to the next element of an array whose '[' was consumed.
// ok is false when the array ended (its ']' consumed).
func (s *scanner) element(first *bool) (ok bool, err error) {
	c := s.ws()
	if c == ']' && *first {
		s.pos++
		s.depth--
		return false, nil
	}
	if !*first {
		switch c {
		case ']':
			s.pos++
			s.depth--
			return false, nil
		case ',':
			s.pos++
			s.ws()
		default:
			return false, s.errAt("expected ',' or ']' after array element")
		}
	}
	*first = false
	return true, nil
}

// rawString scans the string at s.pos (which must be '"') and returns its
// contents between the quotes, and whether they need unescaping (escapes or
// invalid UTF-8). Escapes and control characters are validated.
func (s *scanner) rawString() (raw []byte, escaped bool, err error) {
	if s.ws() != '"' || s.pos >= len(s.buf) {
		return nil, false, s.errAt("expected string")
	}
	start := s.pos + 1
	i := start
	nonASCII := false
	for i < len(s.buf) {
		c := s.buf[i]
		switch {
		case c == '"':
			s.pos = i + 1
			raw = s.buf[start:i]
			if nonASCII && !escaped && !utf8.Valid(raw) {
				escaped = true // unescape replaces invalid UTF-8
			}
			return raw, escaped, nil
		case c >= utf8.RuneSelf:
			nonASCII = true
			i++
		case c == '\\':
			escaped = true
			if i+1 >= len(s.buf) {
				s.pos = len(s.buf)
				return nil, false, s.errAt("unterminated string")
			}
			switch s.buf[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(s.buf) || !isHex4(s.buf[i+2:i+6]) {
					s.pos = i
					return nil, false, s.errAt("invalid \\u escape in string")
				}
				i += 6
			default:
				s.pos = i
				return nil, false, s.errAt("invalid escape in string")
			}
		case c < 0x20:
			s.pos = i
			return nil, false, s.errAt("control character in string")
		default:
			i++
		}
	}
	s.pos = len(s.buf)
	return nil, false, s.errAt("unterminated string")
}

// str scans a string and returns its unescaped contents; the slice aliases
// the buffer or the scratch space and is valid until the next call.
func (s *scanner) str() ([]byte, error) {
	raw, esc, err := s.rawString()
	if err != nil || !esc {
		return raw, err
	}
	s.scratch = unescape(s.scratch[:0], raw)
	return s.scratch, nil
}

// strValue scans a string and returns it as a new Go string.
func (s *scanner) strValue() (string, error) {
	b, err := s.str()
	return string(b), err
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if hexVal(c) < 0 {
			return false
		}
	}
	return true
}

func hexVal(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

func hex4(b []byte) rune {
	return hexVal(b[0])<<12 | hexVal(b[1])<<8 | hexVal(b[2])<<4 | hexVal(b[3])
}

// unescape appends the unescaped form of a validated string body to dst.
// Surrogate pairs are combined; a lone surrogate and each byte of invalid
// UTF-8 become U+FFFD, as in encoding/json.
func unescape(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, raw[i:i+size]...)
			}
			i += size
			continue
		}
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(raw[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if r2 := utf16.DecodeRune(r, hex4(raw[i+2:])); r2 != utf8.RuneError {
						r = r2
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, raw[i+1])
		}
		i += 2
	}
	return dst
}

// literal consumes the literal word (true, false, null, NaN, Infinity) at s.pos.
func (s *scanner) literal(word string) bool {
	if len(s.buf)-s.pos >= len(word) && string(s.buf[s.pos:s.pos+len(word)]) == word {
		s.pos += len(word)
		return true
	}
	return false
}

// kindName describes the value starting with byte c, for error messages.
func kindName(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case 0:
		return "the end of the body (truncated JSON)"
	}
	return "a number"
}

// skipValue validates and skips one JSON value of any kind, without
// recursion: a bit stack records whether each open container is an object.
func (s *scanner) skipValue() error {
	base := s.depth
	var bits [4]uint64 // 256 levels; deeper ones (maxDepth > 256) use more
	var more []bool
	isObj := func(level int) bool {
		if level < 256 {
			return bits[level>>6]&(1<<(level&63)) != 0
		}
		return more[level-256]
	}
	push := func(obj bool) error {
		level := s.depth - base
		s.pos++
		s.depth++
		if s.depth > s.maxDepth {
			return s.errDepth()
		}
		if level < 256 {
			if obj {
				bits[level>>6] |= 1 << (level & 63)
			} else {
				bits[level>>6] &^= 1 << (level & 63)
			}
		} else {
			more = append(more[:level-256], obj)
		}
		return nil
	}
	for {
		// A value is expected.
		switch c := s.ws(); c {
		case '{':
			if err := push(true); err != nil {
				return err
			}
			if s.ws() == '}' {
				s.pos++
				s.depth--
				break
			}
			if err := s.key(); err != nil {
				return err
			}
			continue
		case '[':
			if err := push(false); err != nil {
				return err
			}
			if s.ws() == ']' {
				s.pos++
				s.depth--
				break
			}
			continue
		case '"':
			if _, _, err := s.rawString(); err != nil {
				return err
			}
		case 't':
			if !s.literal("true") {
				return s.errAt("invalid literal")
			}
		case 'f':
			if !s.literal("false") {
				return s.errAt("invalid literal")
			}
		case 'n':
			if !s.literal("null") {
				return s.errAt("invalid literal")
			}
		default:
			var n number
			if err := s.num(&n); err != nil {
				return s.errAt("expected a value")
			}
		}
		// After a value: close containers or move to the next element.
		for {
			if s.depth == base {
				return nil
			}
			obj := isObj(s.depth - base - 1)
			c := s.ws()
			if c == ',' {
				s.pos++
				if obj {
					if err := s.key(); err != nil {
						return err
					}
				}
				break
			}
			if obj && c == '}' || !obj && c == ']' {
				s.pos++
				s.depth--
				continue
			}
			if obj {
				return s.errAt("expected ',' or '}' after object member")
			}
			return s.errAt("expected ',' or ']' after array element")
		}
	}
}

// key scans an object key and the ':' after it.
func (s *scanner) key() error {
	if s.ws() != '"' {
		return s.errAt("expected string key")
	}
	if _, _, err := s.rawString(); err != nil {
		return err
	}
	if s.ws() != ':' {
		return s.errAt("expected ':' after object key")
	}
	s.pos++
	return nil
}
