package models

import (
	"reflect"
	"slices"
	"testing"
	"testing/fstest"
)

// FuzzConfig: any config.yaml is read into a valid config or refused with
// an error; what is accepted stays valid when validated again, and a
// synthetic model opens into metadata that matches its config.
func FuzzConfig(f *testing.F) {
	for _, s := range []string{
		"max_batch_size: 32\nslo: 20ms at p99\n",
		"slo: 5ms\nmax_queue_size: 10\nbatching_policy: fixed\nmax_queue_delay: 2ms\nreplicas: {min: 0, max: 4}\n",
		"batching_policy: aimd\nslo: 20ms at p99.9\n",
		"platform: synthetic\nsynthetic: {base: 5ms, per_item: 1ms, jitter: 0.5ms, seed: 3, output: z}\ninput: {name: x, datatype: FP32, shape: [-1, 4]}\nslo: 50ms\nreplicas: {max: 8}\n",
		"platform: synthetic\nsynthetic: {base: 0s, per_item: 1ns}\ninput: {name: t, datatype: BYTES, shape: [-1]}\n",
		"a: &a [*a, *a]\nmax_batch_size: *a\n",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		fsys := fstest.MapFS{"m/config.yaml": {Data: []byte(text)}, "m/2/README": {Data: []byte("x")}}
		c, err := readConfig(fsys, "m")
		if err != nil {
			return
		}
		switch {
		case c.MaxBatchSize < 1 || c.MaxBatchSize > maxMaxBatchSize || c.MaxQueueSize < 1 || c.MaxQueueDelay < 0:
			t.Fatalf("%q: accepted sizes %+v", text, c)
		case !slices.Contains(BatchingPolicies, c.BatchingPolicy) || !slices.Contains(Platforms, c.Platform):
			t.Fatalf("%q: accepted policy %q, platform %q", text, c.BatchingPolicy, c.Platform)
		case c.SLO.Latency < 0 || c.SLO.Latency > 0 && !(c.SLO.Percentile > 0 && c.SLO.Percentile < 100):
			t.Fatalf("%q: accepted slo %+v", text, c.SLO)
		case c.Replicas != nil && (c.Replicas.Min < 0 || c.Replicas.Min > c.Replicas.Max || c.Replicas.Max < 1 || c.Replicas.Max > MaxReplicas):
			t.Fatalf("%q: accepted replicas %+v", text, *c.Replicas)
		}
		again := c
		if err := again.Validate(); err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("%q: validated again: %v, %+v -> %+v", text, err, c, again)
		}
		if c.Platform != PlatformSynthetic {
			return
		}
		m, err := openModel(fsys, "m")
		if err != nil {
			t.Fatalf("%q: config accepted, model refused: %v", text, err)
		}
		if m.Version != "2" || len(m.Metadata.Inputs) != 1 || m.Metadata.Inputs[0].Name != c.Input.Name ||
			len(m.Metadata.Outputs) != 1 || m.Metadata.Outputs[0].Name != c.Synthetic.Output || m.Metadata.MaxBatchSize != c.MaxBatchSize {
			t.Fatalf("%q: metadata %+v for config %+v", text, m.Metadata, c)
		}
	})
}
