package models

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gannet-ml/gannet/models/synthetic"
	"github.com/gannet-ml/gannet/wire"
)

// Platforms of Config.Platform. PlatformSynthetic is also the OIP v2
// platform string of synthetic models' metadata.
const (
	PlatformONNX      = "onnx"
	PlatformSynthetic = "synthetic"
)

// Platforms lists the values of Config.Platform.
var Platforms = []string{PlatformONNX, PlatformSynthetic}

// DefaultSyntheticOutput names a synthetic model's output unless
// synthetic.output says otherwise.
const DefaultSyntheticOutput = "y"

// Synthetic is the synthetic block of config.yaml:
//
//	synthetic: {base: 5ms, per_item: 1ms, jitter: 0.5ms, seed: 1, output: y}
//
// base and per_item are required; jitter (default 0), seed (default 0) and
// output (default "y") are not. See models/synthetic.Spec.
type Synthetic struct {
	Base    time.Duration
	PerItem time.Duration
	Jitter  time.Duration
	Seed    uint64
	Output  string
}

// TensorConfig is a tensor declared in config.yaml:
//
//	input: {name: x, datatype: FP32, shape: [-1, 4]}
type TensorConfig struct {
	Name     string
	DataType string
	Shape    []int64
}

// UnmarshalYAML reads the synthetic block; errors name the key.
func (s *Synthetic) UnmarshalYAML(n *yaml.Node) error {
	seen, err := decodeMap(n, "synthetic", "{base: 5ms, per_item: 1ms}", map[string]func(*yaml.Node) error{
		"base":     func(v *yaml.Node) error { return duration(v, "synthetic.base", &s.Base) },
		"per_item": func(v *yaml.Node) error { return duration(v, "synthetic.per_item", &s.PerItem) },
		"jitter":   func(v *yaml.Node) error { return duration(v, "synthetic.jitter", &s.Jitter) },
		"seed": func(v *yaml.Node) error {
			seed, err := strconv.ParseUint(v.Value, 0, 64)
			if v.Kind != yaml.ScalarNode || err != nil {
				return fmt.Errorf("synthetic.seed %q: want a non-negative integer", v.Value)
			}
			s.Seed = seed
			return nil
		},
		"output": func(v *yaml.Node) error { return scalar(v, "synthetic.output", &s.Output) },
	})
	switch {
	case err != nil:
		return err
	case !seen["base"]:
		return errors.New("synthetic.base: missing; want the time of every batch, e.g. 5ms")
	case !seen["per_item"]:
		return errors.New("synthetic.per_item: missing; want the time added per row, e.g. 1ms")
	}
	return nil
}

// UnmarshalYAML reads the input block; errors name the key.
func (t *TensorConfig) UnmarshalYAML(n *yaml.Node) error {
	_, err := decodeMap(n, "input", "{name: x, datatype: FP32, shape: [-1, 4]}", map[string]func(*yaml.Node) error{
		"name":     func(v *yaml.Node) error { return scalar(v, "input.name", &t.Name) },
		"datatype": func(v *yaml.Node) error { return scalar(v, "input.datatype", &t.DataType) },
		"shape": func(v *yaml.Node) error {
			if v.Kind != yaml.SequenceNode || v.Decode(&t.Shape) != nil {
				return errors.New("input.shape: want a list of integers, the batch dimension -1 first, e.g. [-1, 4]")
			}
			return nil
		},
	})
	return err
}

// decodeMap walks a YAML mapping, handing each value to the function of its
// key, and returns the keys it found. An unknown or repeated key is an
// error naming it (what.key).
func decodeMap(n *yaml.Node, what, example string, fields map[string]func(*yaml.Node) error) (map[string]bool, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: want a map like %s", what, example)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := n.Content[i].Value
		set := fields[key]
		switch {
		case set == nil:
			return nil, fmt.Errorf("unknown key %q", what+"."+key)
		case seen[key]:
			return nil, fmt.Errorf("%s.%s: given twice", what, key)
		}
		seen[key] = true
		if err := set(n.Content[i+1]); err != nil {
			return nil, err
		}
	}
	return seen, nil
}

func scalar(v *yaml.Node, key string, dst *string) error {
	if v.Kind != yaml.ScalarNode || v.Value == "" {
		return fmt.Errorf("%s: want a non-empty string", key)
	}
	*dst = v.Value
	return nil
}

func duration(v *yaml.Node, key string, dst *time.Duration) error {
	d, err := time.ParseDuration(v.Value)
	if v.Kind != yaml.ScalarNode || err != nil {
		return fmt.Errorf("%s %q: want a duration like 5ms or 0.5ms", key, v.Value)
	}
	*dst = d
	return nil
}

// validatePlatform checks platform, synthetic and input, and fills in the
// platform's default.
func (c *Config) validatePlatform() error {
	switch c.Platform {
	case "":
		c.Platform = PlatformONNX
	case PlatformONNX, PlatformSynthetic:
	default:
		return fmt.Errorf("platform %q: must be one of %v", c.Platform, Platforms)
	}
	if c.Platform == PlatformONNX {
		switch {
		case c.Synthetic != nil:
			return errors.New("synthetic: only for platform: synthetic")
		case c.Input != nil:
			return errors.New("input: only for platform: synthetic (an ONNX model's inputs are read from model.onnx)")
		}
		return nil
	}
	switch {
	case c.Synthetic == nil:
		return errors.New("platform synthetic needs a synthetic block, e.g. synthetic: {base: 5ms, per_item: 1ms}")
	case c.Input == nil:
		return errors.New("platform synthetic needs an input block, e.g. input: {name: x, datatype: FP32, shape: [-1, 4]}")
	}
	if c.Synthetic.Output == "" {
		c.Synthetic.Output = DefaultSyntheticOutput
	}
	_, err := c.SyntheticSpec()
	return err
}

// SyntheticSpec is the spec of a synthetic model's config; an error names
// the key at fault.
func (c *Config) SyntheticSpec() (synthetic.Spec, error) {
	if c.Platform != PlatformSynthetic || c.Synthetic == nil || c.Input == nil {
		return synthetic.Spec{}, fmt.Errorf("platform %q: not a synthetic model", c.Platform)
	}
	dt, ok := wire.ParseDataType(c.Input.DataType)
	if !ok {
		return synthetic.Spec{}, fmt.Errorf("input.datatype %q: want one of %s", c.Input.DataType, strings.Join(synthetic.DataTypes(), ", "))
	}
	s := synthetic.Spec{
		Base: c.Synthetic.Base, PerItem: c.Synthetic.PerItem, Jitter: c.Synthetic.Jitter, Seed: c.Synthetic.Seed,
		Input:  wire.TensorSpec{Name: c.Input.Name, DataType: dt, Shape: slices.Clone(c.Input.Shape)},
		Output: c.Synthetic.Output,
	}
	return s, s.Validate()
}

// openSynthetic makes the model of a synthetic config: no model file is
// read; its File is the spec's canonical encoding, which workers run.
// Version directories are optional (a synthetic stand-in may sit in a real
// model's folder); without any the version is 1.
func openSynthetic(name string, cfg Config, versions []int) (*Model, error) {
	spec, err := cfg.SyntheticSpec()
	if err != nil {
		return nil, err
	}
	if len(versions) == 0 {
		versions = []int{1}
	}
	m := newModel(name, cfg, versions)
	m.File = spec.Encode()
	m.Digest = sha256.Sum256(m.File)
	m.Metadata = wire.ModelMetadata{
		Name: name, Version: m.Version, Versions: m.Versions, Platform: PlatformSynthetic, MaxBatchSize: cfg.MaxBatchSize,
		Inputs: []wire.TensorSpec{spec.Input}, Outputs: []wire.TensorSpec{spec.OutputSpec()},
	}
	return m, nil
}

// versionsOf lists a model folder's version directories, ascending.
func versionsOf(fsys fs.FS, name string) ([]int, error) {
	entries, err := fs.ReadDir(fsys, name)
	if err != nil {
		return nil, err
	}
	var versions []int
	for _, e := range entries {
		v, err := strconv.Atoi(e.Name())
		if e.IsDir() && err == nil && v > 0 {
			versions = append(versions, v)
		}
	}
	slices.Sort(versions)
	return versions, nil
}
