package worker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/gannet-ml/gannet/models/synthetic"
	"github.com/gannet-ml/gannet/wire"
)

// TestSyntheticModel: a worker loads a synthetic spec, reports its
// configured times as the warm-up profile, and answers batches with the
// input echoed after at least base + per_item x rows.
func TestSyntheticModel(t *testing.T) {
	spec := synthetic.Spec{Base: 5 * time.Millisecond, PerItem: time.Millisecond, Output: "y",
		Input: wire.TensorSpec{Name: "x", DataType: wire.TypeFP32, Shape: []int64{-1, 4}}}
	file := spec.Encode()
	digest := sha256.Sum256(file)
	fe, ep := newFrontend(t)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		ran <- Run(ctx, Config{Connect: ep, Model: "echo", Heartbeat: 100 * time.Millisecond, ID: "w-synth"})
	}()
	defer func() {
		cancel()
		<-ran
	}()
	if _, ok := fe.recv().(*wire.Hello); !ok {
		t.Fatal("no HELLO")
	}

	start := time.Now()
	fe.send(&wire.Load{Model: "echo", Version: "1", Digest: digest, MaxBatchSize: 12, Bytes: file})
	l := fe.recv().(*wire.Loaded)
	if l.Kind != 0 || l.Message != "" || l.Digest != digest {
		t.Fatalf("LOADED = %+v", l)
	}
	if got := fmt.Sprint(l.Profile); got != "[{1 6000000} {2 7000000} {4 9000000} {8 13000000} {12 17000000}]" {
		t.Fatalf("profile %s, want base + per_item x rows per bucket", got)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("LOAD took %v; a synthetic warm-up is computed, not slept", took)
	}

	data := make([]byte, 3*4*4)
	for i := range data {
		data[i] = byte(i)
	}
	fe.send(&wire.Batch{ID: 1, Model: "echo", Rows: 3, Inputs: []wire.Tensor{{Name: "x", DataType: wire.TypeFP32, Shape: []int64{3, 4}, Data: data}}})
	res, ok := fe.recv().(*wire.Result)
	if !ok || res.ID != 1 || len(res.Outputs) != 1 {
		t.Fatalf("RESULT = %+v", res)
	}
	out := res.Outputs[0]
	if out.Name != "y" || out.DataType != wire.TypeFP32 || fmt.Sprint(out.Shape) != "[3 4]" || !bytes.Equal(out.Data, data) {
		t.Fatalf("output %+v, want x echoed as y", out)
	}
	if res.ComputeNS < (8 * time.Millisecond).Nanoseconds() {
		t.Fatalf("compute time %v, want at least 5ms + 3 x 1ms", time.Duration(res.ComputeNS))
	}

	// A batch that does not fit the spec is an error, not a crash.
	fe.send(&wire.Batch{ID: 2, Model: "echo", Rows: 1, Inputs: []wire.Tensor{{Name: "x", DataType: wire.TypeFP32, Shape: []int64{1, 5}, Data: make([]byte, 20)}}})
	if e, ok := fe.recv().(*wire.BatchError); !ok || e.ID != 2 {
		t.Fatalf("bad batch: %+v", e)
	}
	// A corrupt spec is refused at LOAD with its reason.
	bad := append([]byte(nil), file[:len(file)-3]...)
	fe.send(&wire.Load{Model: "bad", Version: "1", Digest: sha256.Sum256(bad), MaxBatchSize: 4, Bytes: bad})
	if l := fe.recv().(*wire.Loaded); l.Kind != wire.KindInvalid || !bytes.Contains([]byte(l.Message), []byte("synthetic spec")) {
		t.Fatalf("LOADED for a corrupt spec = %+v", l)
	}
}
