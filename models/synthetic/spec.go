// Package synthetic is the "synthetic" model platform: a model with no
// weights and no compute, for control-plane tests and capacity planning.
// Its one output echoes its one input, and each batch takes
//
//	base + per_item x rows (+ a uniform draw from [0, jitter))
//
// spent asleep on a timer, not on the CPU, so many replicas fit on a small
// machine while the frontend, the batching policies and the autoscaler see
// a replica with a known, linear latency profile.
//
// A model repository declares one with a config.yaml (see package models
// and docs/synthetic.md); the repository turns it into a Spec, whose
// canonical encoding (Encode) is the model "file" that the frontend ships
// to workers in LOAD, addressed by its SHA-256 like an ONNX file. A worker
// recognises the encoding (IsSpec), decodes it and runs batches with a
// Runner.
package synthetic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gannet-ml/gannet/wire"
)

// Spec is a synthetic model: its latency and its input. Errors of Validate
// name the config.yaml key (synthetic.base, input.shape, ...).
type Spec struct {
	Base    time.Duration // time of every batch
	PerItem time.Duration // time added per row of the batch
	Jitter  time.Duration // a uniform draw from [0, Jitter) is added per batch; 0: none
	Seed    uint64        // seed of the jitter's generator: the same seed, the same delays
	// Input is the model's one input; Shape[0] is -1 (the batch), other
	// dimensions are positive or -1 (variable).
	Input wire.TensorSpec
	// Output names the one output, which has the input's datatype and
	// shape and carries its values.
	Output string
}

// MaxDuration bounds Base, PerItem and Jitter.
const MaxDuration = time.Hour

// Validate reports a spec that cannot run, naming the config.yaml key.
func (s Spec) Validate() error {
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"synthetic.base", s.Base}, {"synthetic.per_item", s.PerItem}, {"synthetic.jitter", s.Jitter}} {
		if d.v < 0 || d.v > MaxDuration {
			return fmt.Errorf("%s %v: must be between 0 and %v", d.key, d.v, MaxDuration)
		}
	}
	in := s.Input
	switch {
	case in.Name == "":
		return errors.New("input.name: missing; name the input, e.g. x")
	case !in.DataType.Valid():
		return fmt.Errorf("input.datatype: missing or invalid; want one of %s", strings.Join(DataTypes(), ", "))
	case len(in.Shape) == 0:
		return errors.New("input.shape: missing; want the batch dimension -1 first, e.g. [-1, 4]")
	case len(in.Shape) > wire.MaxRank:
		return fmt.Errorf("input.shape %v: %d dimensions, at most %d", in.Shape, len(in.Shape), wire.MaxRank)
	case in.Shape[0] != -1:
		return fmt.Errorf("input.shape %v: dimension 0 is the batch and must be -1", in.Shape)
	case s.Output == "":
		return errors.New("synthetic.output: empty; name the output, e.g. y")
	}
	for i, d := range in.Shape[1:] {
		if d == 0 || d < -1 {
			return fmt.Errorf("input.shape %v: dimension %d is %d; want a positive size or -1 (variable)", in.Shape, i+1, d)
		}
	}
	return nil
}

// DataTypes lists the datatype names a synthetic input may have.
func DataTypes() []string {
	var names []string
	for d := wire.DataType(1); d.Valid(); d++ {
		names = append(names, d.String())
	}
	return names
}

// Latency is the time of a batch of rows rows without jitter:
// Base + PerItem x rows.
func (s Spec) Latency(rows int) time.Duration {
	return s.Base + time.Duration(rows)*s.PerItem
}

// Mean is the mean time of a batch of rows rows: Latency plus half the
// jitter.
func (s Spec) Mean(rows int) time.Duration {
	return s.Latency(rows) + s.Jitter/2
}

// OutputSpec is the output's metadata: the input's datatype and shape.
func (s Spec) OutputSpec() wire.TensorSpec {
	return wire.TensorSpec{Name: s.Output, DataType: s.Input.DataType, Shape: slices.Clone(s.Input.Shape)}
}

// magic starts every encoded spec. No ONNX file (a protobuf message) can
// start with it: 'g' would be field 12 with wire type 7, which does not
// exist.
const magic = "gannet-synthetic/1\n"

// encoded is the JSON body of an encoded spec.
type encoded struct {
	BaseNS    int64   `json:"base_ns"`
	PerItemNS int64   `json:"per_item_ns"`
	JitterNS  int64   `json:"jitter_ns"`
	Seed      uint64  `json:"seed"`
	Input     string  `json:"input"`
	DataType  string  `json:"datatype"`
	Shape     []int64 `json:"shape"`
	Output    string  `json:"output"`
}

// Encode returns the spec's canonical encoding: a magic line, then one
// line of JSON. Equal specs encode to equal bytes, so equal synthetic
// models share a digest.
func (s Spec) Encode() []byte {
	body, err := json.Marshal(encoded{
		BaseNS: int64(s.Base), PerItemNS: int64(s.PerItem), JitterNS: int64(s.Jitter), Seed: s.Seed,
		Input: s.Input.Name, DataType: s.Input.DataType.String(), Shape: s.Input.Shape, Output: s.Output,
	})
	if err != nil {
		panic(err) // plain values only: cannot happen
	}
	return append(append([]byte(magic), body...), '\n')
}

// IsSpec reports whether a model file is an encoded synthetic spec (and
// not, for example, an ONNX file).
func IsSpec(file []byte) bool { return bytes.HasPrefix(file, []byte(magic)) }

// Decode reads an encoded spec and validates it.
func Decode(file []byte) (Spec, error) {
	if !IsSpec(file) {
		return Spec{}, errors.New("synthetic spec: missing the header line " + strings.TrimSpace(magic))
	}
	dec := json.NewDecoder(bytes.NewReader(file[len(magic):]))
	dec.DisallowUnknownFields()
	var e encoded
	if err := dec.Decode(&e); err != nil {
		return Spec{}, fmt.Errorf("synthetic spec: %w", err)
	}
	dt, ok := wire.ParseDataType(e.DataType)
	if !ok {
		return Spec{}, fmt.Errorf("synthetic spec: datatype %q; want one of %s", e.DataType, strings.Join(DataTypes(), ", "))
	}
	s := Spec{
		Base: time.Duration(e.BaseNS), PerItem: time.Duration(e.PerItemNS), Jitter: time.Duration(e.JitterNS), Seed: e.Seed,
		Input: wire.TensorSpec{Name: e.Input, DataType: dt, Shape: e.Shape}, Output: e.Output,
	}
	if err := s.Validate(); err != nil {
		return Spec{}, fmt.Errorf("synthetic spec: %w", err)
	}
	return s, nil
}
