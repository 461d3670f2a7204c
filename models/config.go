package models

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"

	"go.yaml.in/yaml/v3"
)

// Config is a model's config.yaml: what the ONNX file cannot say. A missing
// file means all defaults. Unknown keys are an error naming the key.
type Config struct {
	// MaxBatchSize is the most rows one batch (and one request) may have;
	// 0 means 32.
	MaxBatchSize int `yaml:"max_batch_size"`
	// MaxQueueSize is the most requests waiting for the model before new
	// ones are refused with 503; 0 means 1024.
	MaxQueueSize int `yaml:"max_queue_size"`
}

// Default values of Config.
const (
	DefaultMaxBatchSize = 32
	DefaultMaxQueueSize = 1024
	maxMaxBatchSize     = 1 << 16
)

// Validate checks the values and fills in defaults.
func (c *Config) Validate() error {
	switch {
	case c.MaxBatchSize < 0 || c.MaxBatchSize > maxMaxBatchSize:
		return fmt.Errorf("max_batch_size %d: must be between 1 and %d", c.MaxBatchSize, maxMaxBatchSize)
	case c.MaxQueueSize < 0:
		return fmt.Errorf("max_queue_size %d: must not be negative", c.MaxQueueSize)
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
