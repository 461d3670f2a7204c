package loadgen

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// FuzzParseTrace: a trace file parses or is refused with an error; a
// parsed one schedules send times that are ascending, not negative and
// within the trace, or is refused with an error.
func FuzzParseTrace(f *testing.F) {
	for _, s := range []string{
		"# a trace\n0\n0.25\n\n  0.25  \n1e0\n",
		"0 100\n10\t400\n# burst over\n12.5 100\n",
		"0\n1e300\n",
		"0 1e300\n1 0\n",
		"3 5\n4 0\n",
		"0 5e-324\n1e-9 1\n",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, text string, poisson bool) {
		tf, err := ParseTrace(strings.NewReader(text))
		if err != nil {
			return
		}
		if tf.Times == nil {
			mass := 0.0
			for _, s := range tf.segments(0) {
				mass += s.mass()
			}
			if mass > 100_000 {
				return // fine, but too many send times for each fuzz input
			}
		}
		sched, err := Arrivals{Process: Trace, Trace: tf, Poisson: poisson}.Schedule(rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			return
		}
		end := int64(tf.Length()*1e9) + 1
		for i, ns := range sched {
			if ns < 0 || ns > end || i > 0 && ns < sched[i-1] {
				t.Fatalf("%q: send time %d of %d is %d ns (previous %d, trace end %d)", text, i, len(sched), ns, sched[max(i-1, 0)], end)
			}
		}
	})
}

// FuzzParseMetadata: a server's model metadata response parses or is
// refused with an error; the inputs bench then builds from it are built
// within MaxInputBytes, shaped as the metadata says (batch and variable
// dimensions filled in), or refused with an error.
func FuzzParseMetadata(f *testing.F) {
	f.Add([]byte(`{"name":"m","versions":["1"],"platform":"onnx_onnxv1","inputs":[{"name":"input","datatype":"FP32","shape":[-1,1,28,28]}],"outputs":[{"name":"logits","datatype":"FP32","shape":[-1,10]}]}`))
	f.Add([]byte(`{"name":"s","inputs":[{"name":"x","datatype":"BYTES","shape":[-1,4]},{"name":"y","datatype":"INT64","shape":[-1,-1,0]}]}`))
	f.Add([]byte(`{"inputs":[{"name":"x","datatype":"FP16","shape":[-1,10000000000,10000000000]}]}`))
	f.Add([]byte(`{"inputs":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		md, err := ParseMetadata(body)
		if err != nil {
			return
		}
		if len(md.Inputs) == 0 {
			t.Fatalf("%q: metadata without inputs accepted", body)
		}
		est := 0.0 // bytes, in float64: no overflow
		for _, spec := range md.Inputs {
			n := 2 * 2 * float64(spec.DataType.Size()) // 2 requests of 2 rows
			for _, d := range spec.Shape[min(1, len(spec.Shape)):] {
				n *= float64(max(d, 1))
			}
			est += n
		}
		if est > 64<<20 {
			return // TestInputsBounded covers the refusal; keep each input cheap
		}
		in, err := MakeInputs(md.Inputs, 2, 2, nil, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			return
		}
		total := 0
		for _, req := range in {
			for i, tensor := range req {
				spec := md.Inputs[i]
				n := int64(spec.DataType.Size())
				for j, d := range tensor.Shape {
					switch want := spec.Shape[j]; {
					case j == 0 && d != 2, j > 0 && want < 0 && d != 1, j > 0 && want >= 0 && d != want:
						t.Fatalf("%q: input %d shaped %v for %v", body, i, tensor.Shape, spec.Shape)
					}
					n *= d
				}
				if int64(len(tensor.Data)) != n {
					t.Fatalf("%q: input %d has %d bytes for shape %v", body, i, len(tensor.Data), tensor.Shape)
				}
				total += len(tensor.Data)
			}
		}
		if total > MaxInputBytes {
			t.Fatalf("%q: %d bytes of inputs", body, total)
		}
	})
}
