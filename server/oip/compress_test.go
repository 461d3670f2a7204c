package oip

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/gannet-ml/gannet/wire"
)

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zl(b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func rawDeflate(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.DefaultCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestDecompress(t *testing.T) {
	plain := []byte(strings.Repeat(`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[0.5]}]}`, 50))
	for _, c := range []struct {
		enc  string
		body []byte
	}{
		{"", plain},
		{"identity", plain},
		{"gzip", gz(plain)},
		{" GZIP ", gz(plain)},
		{"x-gzip", gz(plain)},
		{"gzip", append(gz(plain[:100]), gz(plain[100:])...)}, // two members
		{"deflate", zl(plain)},
		{"deflate", rawDeflate(plain)},
		{"Deflate", zl(plain)},
	} {
		for i := 0; i < 2; i++ { // the second time with pooled readers
			got, err := Decompress(c.enc, c.body, 1<<20)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("%q: %v, %d bytes", c.enc, err, len(got))
			}
		}
	}
	// Exactly at the limit, and one byte over.
	if got, err := Decompress("gzip", gz(plain), int64(len(plain))); err != nil || len(got) != len(plain) {
		t.Fatalf("at limit: %v", err)
	}
	for _, enc := range []string{"", "gzip", "deflate"} {
		body := plain
		switch enc {
		case "gzip":
			body = gz(plain)
		case "deflate":
			body = zl(plain)
		}
		_, err := Decompress(enc, body, int64(len(plain))-1)
		if wire.KindOf(err) != wire.KindTooLarge || !strings.Contains(err.Error(), fmt.Sprintf("exceeds the limit of %d bytes", len(plain)-1)) {
			t.Fatalf("%q over limit: %v", enc, err)
		}
	}
	bad := []struct {
		enc  string
		body []byte
		want string
	}{
		{"br", plain, `unsupported Content-Encoding "br"`},
		{"gzip, deflate", plain, `unsupported Content-Encoding "gzip, deflate"`},
		{"gzip", plain, "corrupt gzip request body"},
		{"gzip", gz(plain)[:40], "corrupt gzip request body"},
		{"gzip", append(gz(plain), "junk!!!!!!!!!!"...), "corrupt gzip request body"},
		{"deflate", zl(plain)[:30], "corrupt deflate request body"},
		{"deflate", append(zl(plain)[:len(zl(plain))-1], 0), "corrupt deflate request body"}, // bad checksum
		{"deflate", []byte{0xff, 0xff, 0xff}, "corrupt deflate request body"},
	}
	for _, c := range bad {
		_, err := Decompress(c.enc, c.body, 1<<20)
		if wire.KindOf(err) != wire.KindInvalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q %d bytes: %v, want %q", c.enc, len(c.body), err, c.want)
		}
	}
}

func TestDecompressBomb(t *testing.T) {
	// 1 GiB of zeros in about 1 MiB: 1024 gzip members of 1 MiB each.
	member := gz(make([]byte, 1<<20))
	bomb := bytes.Repeat(member, 1024)
	const limit = 4 << 20
	var before, after runtimeMem
	before.read()
	_, err := Decompress("gzip", bomb, limit)
	after.read()
	if wire.KindOf(err) != wire.KindTooLarge || !strings.Contains(err.Error(), "4194304") {
		t.Fatalf("bomb: %v", err)
	}
	if d := after.total - before.total; d > 3*limit {
		t.Errorf("bomb allocated %d bytes for a limit of %d", d, limit)
	}
	t.Logf("bomb: %d compressed bytes; %d bytes allocated refusing it", len(bomb), after.total-before.total)
	// A single deflate (zlib) stream of 16 MiB against a 1 MiB limit.
	_, err = Decompress("deflate", zl(make([]byte, 16<<20)), 1<<20)
	if wire.KindOf(err) != wire.KindTooLarge {
		t.Fatalf("deflate bomb: %v", err)
	}
}

func TestCompress(t *testing.T) {
	body := []byte(strings.Repeat("tensor data 0.125, ", 100))
	for _, enc := range []string{"gzip", "deflate", "", "identity"} {
		for i := 0; i < 2; i++ {
			out, err := Compress([]byte("pre"), enc, body)
			if err != nil || string(out[:3]) != "pre" {
				t.Fatalf("%q: %v", enc, err)
			}
			back, err := Decompress(enc, out[3:], 1<<20)
			if err != nil || !bytes.Equal(back, body) {
				t.Fatalf("%q: round trip: %v", enc, err)
			}
		}
	}
	if _, err := Compress(nil, "br", body); err == nil {
		t.Fatal("br: no error")
	}
}

func TestCompressConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			body := bytes.Repeat([]byte{byte(g)}, 1000+g)
			for i := 0; i < 50; i++ {
				enc := []string{"gzip", "deflate"}[i%2]
				out, err := Compress(nil, enc, body)
				if err != nil {
					t.Error(err)
					return
				}
				back, err := Decompress(enc, out, 1<<20)
				if err != nil || !bytes.Equal(back, body) {
					t.Errorf("%q: %v", enc, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

func TestNegotiateEncoding(t *testing.T) {
	for _, c := range []struct{ header, want string }{
		{"", ""},
		{"gzip", "gzip"},
		{"deflate", "deflate"},
		{"gzip, deflate, br", "gzip"},
		{"deflate, gzip", "gzip"},
		{"br", ""},
		{"gzip;q=0", ""},
		{"gzip;q=0, deflate", "deflate"},
		{"gzip;q=0.5, deflate;q=0.8", "deflate"},
		{"gzip; q=1.0, deflate; q=0.9", "gzip"},
		{"*", "gzip"},
		{"*;q=0", ""},
		{"gzip;q=0, *", "deflate"},
		{"identity", ""},
		{"identity;q=1, gzip;q=0.5", ""},
		{"identity;q=0.1, gzip;q=0.5", "gzip"},
		{"identity;q=0, gzip", "gzip"},
		{"GZIP", "gzip"},
		{"x-gzip", "gzip"},
		{"gzip;q=bogus", ""},
		{"gzip;q=0.000", ""},
		{"gzip;q=0.001", "gzip"},
		{" , ,gzip", "gzip"},
	} {
		if got := NegotiateEncoding([]byte(c.header)); got != c.want {
			t.Errorf("%q: got %q, want %q", c.header, got, c.want)
		}
	}
	h := []byte("gzip;q=0.5, deflate;q=0.8, br, identity;q=0.1")
	if allocs := testing.AllocsPerRun(20, func() { NegotiateEncoding(h) }); allocs != 0 {
		t.Errorf("%v allocations", allocs)
	}
}
