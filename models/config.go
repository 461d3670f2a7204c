package models

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is a model's config.yaml: what the ONNX file cannot say (or, for
// a synthetic model, everything). A missing file means all defaults.
// Unknown keys are an error naming the key.
type Config struct {
	// Platform is "onnx" (the default: <model>/<version>/model.onnx) or
	// "synthetic" (no model file: see Synthetic and package
	// models/synthetic).
	Platform string `yaml:"platform"`
	// Synthetic is the latency of a synthetic model; required with
	// platform synthetic, refused otherwise.
	Synthetic *Synthetic `yaml:"synthetic"`
	// Input is a synthetic model's one input; required with platform
	// synthetic, refused otherwise (an ONNX model's inputs are in its file).
	Input *TensorConfig `yaml:"input"`
	// MaxBatchSize is the most rows one batch (and one request) may have;
	// 0 means 32.
	MaxBatchSize int `yaml:"max_batch_size"`
	// MaxQueueSize is the most requests waiting for the model before new
	// ones are refused with 503; 0 means 1024.
	MaxQueueSize int `yaml:"max_queue_size"`
	// SLO is the latency target, written "20ms at p99" (or "20ms": p99):
	// every request's deadline is at most its arrival plus the latency,
	// and the batching policy holds it. Zero means none.
	SLO SLO `yaml:"slo"`
	// BatchingPolicy forms batches: "slo" (the default: the largest batch
	// that meets every deadline, no knobs), "fixed" (wait up to
	// max_queue_delay for a full batch, as Triton and TF Serving) or "aimd"
	// (Clipper's additive-increase, multiplicative-decrease batch cap; needs
	// an slo).
	BatchingPolicy string `yaml:"batching_policy"`
	// MaxQueueDelay is the fixed policy's delay; 0 means send at once.
	MaxQueueDelay time.Duration `yaml:"max_queue_delay"`
	// Replicas, when set, has `gannet serve` autoscale the model between
	// replicas.min and replicas.max local worker processes (min 0: scale
	// to zero when idle); nil keeps --local-workers fixed and runs no
	// controller for the model.
	Replicas *Replicas `yaml:"replicas"`
}

// Replicas is the replicas block of config.yaml:
//
//	replicas: {min: 1, max: 4}
//
// max is required; min defaults to 1 (0 allows scaling to zero).
type Replicas struct {
	Min, Max int
}

// MaxReplicas bounds replicas.max.
const MaxReplicas = 1024

// UnmarshalYAML reads the replicas block; errors name the key.
func (r *Replicas) UnmarshalYAML(n *yaml.Node) error {
	r.Min = 1
	count := func(key string, dst *int) func(*yaml.Node) error {
		return func(v *yaml.Node) error {
			i, err := strconv.Atoi(v.Value)
			if v.Kind != yaml.ScalarNode || err != nil || i < 0 || i > MaxReplicas {
				return fmt.Errorf("replicas.%s %q: want an integer from 0 to %d", key, v.Value, MaxReplicas)
			}
			*dst = i
			return nil
		}
	}
	seen, err := decodeMap(n, "replicas", "{min: 1, max: 4}", map[string]func(*yaml.Node) error{
		"min": count("min", &r.Min),
		"max": count("max", &r.Max),
	})
	switch {
	case err != nil:
		return err
	case !seen["max"]:
		return errors.New("replicas.max: missing; want the most replicas, e.g. {min: 1, max: 4}")
	case r.Max < 1:
		return errors.New("replicas.max 0: want at least 1")
	case r.Min > r.Max:
		return fmt.Errorf("replicas.min %d: above replicas.max %d", r.Min, r.Max)
	}
	return nil
}

// SLO is a latency target at a percentile.
type SLO struct {
	Latency    time.Duration
	Percentile float64 // e.g. 99; 0 when Latency is 0
}

func (s SLO) String() string {
	if s.Latency == 0 {
		return "none"
	}
	return fmt.Sprintf("%v at p%g", s.Latency, s.Percentile)
}

// ParseSLO parses "20ms at p99", "20ms at p99.9" or "20ms" (p99).
func ParseSLO(text string) (SLO, error) {
	lat, pct, found := strings.Cut(strings.TrimSpace(text), " at ")
	d, err := time.ParseDuration(strings.TrimSpace(lat))
	if err != nil || d <= 0 {
		return SLO{}, fmt.Errorf("slo %q: want a positive latency like \"20ms at p99\"", text)
	}
	s := SLO{Latency: d, Percentile: 99}
	if found {
		pct = strings.TrimSpace(pct)
		p, err := strconv.ParseFloat(strings.TrimPrefix(pct, "p"), 64)
		if err != nil || !strings.HasPrefix(pct, "p") || p <= 0 || p >= 100 {
			return SLO{}, fmt.Errorf("slo %q: percentile %q, want p50 to p99.99", text, pct)
		}
		s.Percentile = p
	}
	return s, nil
}

// UnmarshalYAML reads an SLO from its text form.
func (s *SLO) UnmarshalYAML(n *yaml.Node) error {
	var text string
	if err := n.Decode(&text); err != nil {
		return fmt.Errorf("slo: want text like \"20ms at p99\"")
	}
	v, err := ParseSLO(text)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Batching policies of Config.BatchingPolicy.
var BatchingPolicies = []string{"slo", "fixed", "aimd"}

// Default values of Config.
const (
	DefaultMaxBatchSize = 32
	DefaultMaxQueueSize = 1024
	maxMaxBatchSize     = 1 << 16
)

// Validate checks the values and fills in defaults.
func (c *Config) Validate() error {
	if err := c.validatePlatform(); err != nil {
		return err
	}
	switch {
	case c.MaxBatchSize < 0 || c.MaxBatchSize > maxMaxBatchSize:
		return fmt.Errorf("max_batch_size %d: must be between 1 and %d", c.MaxBatchSize, maxMaxBatchSize)
	case c.MaxQueueSize < 0:
		return fmt.Errorf("max_queue_size %d: must not be negative", c.MaxQueueSize)
	case c.BatchingPolicy != "" && !slices.Contains(BatchingPolicies, c.BatchingPolicy):
		return fmt.Errorf("batching_policy %q: must be one of %v", c.BatchingPolicy, BatchingPolicies)
	case c.BatchingPolicy == "aimd" && c.SLO.Latency == 0:
		return errors.New("batching_policy aimd needs an slo")
	case c.MaxQueueDelay < 0:
		return fmt.Errorf("max_queue_delay %v: must not be negative", c.MaxQueueDelay)
	}
	if c.BatchingPolicy == "" {
		c.BatchingPolicy = "slo"
	}
	if c.MaxBatchSize == 0 {
		c.MaxBatchSize = DefaultMaxBatchSize
	}
	if c.MaxQueueSize == 0 {
		c.MaxQueueSize = DefaultMaxQueueSize
	}
	return nil
}

var unknownField = regexp.MustCompile(`field (\S+) not found`)

func readConfig(fsys fs.FS, name string) (Config, error) {
	var c Config
	file := path.Join(name, "config.yaml")
	data, err := fs.ReadFile(fsys, file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return c, err
	default:
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
			if m := unknownField.FindStringSubmatch(err.Error()); m != nil {
				return c, fmt.Errorf("%s: unknown key %q", file, m[1])
			}
			return c, fmt.Errorf("%s: %w", file, err)
		}
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%s: %w", file, err)
	}
	return c, nil
}
