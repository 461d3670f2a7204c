package oip

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/gannet-ml/gannet/wire"
)

// Content codings handled here.
const (
	EncodingGzip    = "gzip"
	EncodingDeflate = "deflate" // zlib format (RFC 1950), as HTTP and Triton's client use it
)

// encodingOf normalizes a Content-Encoding value: "", "gzip", "deflate",
// or ok=false.
func encodingOf(enc string) (string, bool) {
	enc = strings.TrimSpace(enc)
	switch {
	case enc == "", strings.EqualFold(enc, "identity"):
		return "", true
	case strings.EqualFold(enc, "gzip"), strings.EqualFold(enc, "x-gzip"):
		return EncodingGzip, true
	case strings.EqualFold(enc, "deflate"):
		return EncodingDeflate, true
	}
	return "", false
}

var (
	gzipReaders  sync.Pool // *gzip.Reader
	zlibReaders  sync.Pool // io.ReadCloser implementing zlib.Resetter
	flateReaders sync.Pool // io.ReadCloser implementing flate.Resetter
	gzipWriters  sync.Pool // *gzip.Writer
	zlibWriters  sync.Pool // *zlib.Writer
)

// Decompress undoes a request Content-Encoding: "" or "identity" (body is
// returned as is), "gzip" (or "x-gzip"), or "deflate" (the zlib format, as
// HTTP defines it; a raw deflate stream without the zlib header is accepted
// too). Names are case-insensitive. The output is bounded by limit (<= 0:
// DefaultMaxTensorBytes): a longer result is a KindTooLarge error naming the
// limit, found without holding more than limit+1 bytes. Corrupt data and an
// unknown or multiple encoding are KindInvalid.
func Decompress(encoding string, body []byte, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxTensorBytes
	}
	enc, ok := encodingOf(encoding)
	if !ok {
		return nil, invalid("unsupported Content-Encoding %q (supported: gzip, deflate, identity)", encoding)
	}
	if enc == "" {
		if int64(len(body)) > limit {
			return nil, tooLarge(limit)
		}
		return body, nil
	}
	src := bytes.NewReader(body)
	var r io.Reader
	switch {
	case enc == EncodingGzip:
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(src)
		} else {
			err = zr.Reset(src)
		}
		if err != nil {
			return nil, corrupt(enc, err)
		}
		defer func() { zr.Reset(eofReader{}); gzipReaders.Put(zr) }()
		r = zr
	case isZlib(body):
		zr, _ := zlibReaders.Get().(io.ReadCloser)
		var err error
		if zr == nil {
			zr, err = zlib.NewReader(src)
		} else {
			err = zr.(zlib.Resetter).Reset(src, nil)
		}
		if err != nil {
			return nil, corrupt(enc, err)
		}
		defer func() { zr.(zlib.Resetter).Reset(eofReader{}, nil); zlibReaders.Put(zr) }()
		r = zr
	default: // raw deflate
		fr, _ := flateReaders.Get().(io.ReadCloser)
		if fr == nil {
			fr = flate.NewReader(src)
		} else if err := fr.(flate.Resetter).Reset(src, nil); err != nil {
			return nil, corrupt(enc, err)
		}
		defer func() { fr.(flate.Resetter).Reset(eofReader{}, nil); flateReaders.Put(fr) }()
		r = fr
	}
	return readLimited(r, enc, len(body), limit)
}

// eofReader is an empty flate.Reader, used to drop a pooled reader's
// reference to the body it read.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
func (eofReader) ReadByte() (byte, error)  { return 0, io.EOF }

// isZlib reports whether b starts with a zlib header (RFC 1950: deflate,
// window <= 32 KiB, header checksum).
func isZlib(b []byte) bool {
	return len(b) >= 2 && b[0]&0x0f == 8 && b[0]>>4 <= 7 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0
}

func tooLarge(limit int64) error {
	return wire.Errorf(wire.KindTooLarge, "decompressed request body exceeds the limit of %d bytes", limit)
}

func corrupt(enc string, err error) error {
	return invalid("corrupt %s request body: %v", enc, err)
}

// readLimited reads r to the end into a new buffer of at most limit bytes.
func readLimited(r io.Reader, enc string, n int, limit int64) ([]byte, error) {
	hint := int64(4*n + 512)
	if hint > limit+1 {
		hint = limit + 1
	}
	buf := make([]byte, 0, hint)
	for {
		if len(buf) == cap(buf) {
			grow := int64(cap(buf))
			if room := limit + 1 - int64(len(buf)); grow > room {
				grow = room
			}
			if grow <= 0 {
				return nil, tooLarge(limit)
			}
			buf = slices.Grow(buf, int(grow))
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if int64(len(buf)) > limit {
			return nil, tooLarge(limit)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, invalid("corrupt %s request body: truncated", enc)
			}
			return nil, corrupt(enc, err)
		}
	}
}

// appender is an io.Writer appending to a byte slice.
type appender struct{ b []byte }

func (a *appender) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

// Compress appends body compressed with encoding ("gzip" or "deflate", the
// zlib format; "" or "identity" append body as is) to dst, at the fastest
// compression level: tensors compress little and latency matters more. An
// unknown encoding is a KindInternal error.
func Compress(dst []byte, encoding string, body []byte) ([]byte, error) {
	enc, ok := encodingOf(encoding)
	if !ok {
		return dst, wire.Errorf(wire.KindInternal, "unsupported response encoding %q", encoding)
	}
	a := &appender{b: dst}
	var err error
	switch enc {
	case "":
		return append(dst, body...), nil
	case EncodingGzip:
		zw, _ := gzipWriters.Get().(*gzip.Writer)
		if zw == nil {
			zw, _ = gzip.NewWriterLevel(a, gzip.BestSpeed)
		} else {
			zw.Reset(a)
		}
		if _, err = zw.Write(body); err == nil {
			err = zw.Close()
		}
		zw.Reset(io.Discard) // drop the reference to dst
		gzipWriters.Put(zw)
	case EncodingDeflate:
		zw, _ := zlibWriters.Get().(*zlib.Writer)
		if zw == nil {
			zw, _ = zlib.NewWriterLevel(a, zlib.BestSpeed)
		} else {
			zw.Reset(a)
		}
		if _, err = zw.Write(body); err == nil {
			err = zw.Close()
		}
		zw.Reset(io.Discard)
		zlibWriters.Put(zw)
	}
	if err != nil {
		return dst, wire.Errorf(wire.KindInternal, "compressing the response: %v", err)
	}
	return a.b, nil
}

// NegotiateEncoding picks the response coding from an Accept-Encoding header
// value: "gzip" or "deflate" when acceptable (q > 0; gzip preferred on equal
// q; "*" covers either), or "" for none, also when identity is explicitly
// preferred over both.
func NegotiateEncoding(acceptEncoding []byte) string {
	qGzip, qDeflate, qIdentity, qStar := -1, -1, -1, -1 // in thousandths; -1 unset
	for rest := acceptEncoding; len(rest) > 0; {
		var item []byte
		item, rest, _ = bytes.Cut(rest, []byte{','})
		coding, params, _ := bytes.Cut(item, []byte{';'})
		coding = bytes.TrimSpace(coding)
		if len(coding) == 0 {
			continue
		}
		q := 1000
		for len(params) > 0 {
			var p []byte
			p, params, _ = bytes.Cut(params, []byte{';'})
			k, v, ok := bytes.Cut(p, []byte{'='})
			if ok && bytes.EqualFold(bytes.TrimSpace(k), []byte("q")) {
				q = parseQ(bytes.TrimSpace(v))
			}
		}
		switch {
		case bytes.EqualFold(coding, []byte("gzip")), bytes.EqualFold(coding, []byte("x-gzip")):
			qGzip = max(qGzip, q)
		case bytes.EqualFold(coding, []byte("deflate")):
			qDeflate = max(qDeflate, q)
		case bytes.EqualFold(coding, []byte("identity")):
			qIdentity = q
		case string(coding) == "*":
			qStar = q
		}
	}
	if qGzip < 0 {
		qGzip = qStar
	}
	if qDeflate < 0 {
		qDeflate = qStar
	}
	if qIdentity < 0 {
		qIdentity = 1 // acceptable but least preferred, unless listed
	}
	best, q := "", 0
	if qGzip > 0 {
		best, q = EncodingGzip, qGzip
	}
	if qDeflate > q {
		best, q = EncodingDeflate, qDeflate
	}
	if best == "" || qIdentity > q {
		return ""
	}
	return best
}

// parseQ parses a qvalue ("0", "0.5", "1.000") into thousandths; malformed
// values count as 0 (not acceptable).
func parseQ(v []byte) int {
	if len(v) == 0 || (v[0] != '0' && v[0] != '1') {
		return 0
	}
	q := int(v[0]-'0') * 1000
	if len(v) == 1 {
		return q
	}
	if v[1] != '.' || len(v) > 5 {
		return 0
	}
	scale := 100
	for _, c := range v[2:] {
		if c < '0' || c > '9' {
			return 0
		}
		q += int(c-'0') * scale
		scale /= 10
	}
	return min(q, 1000)
}
