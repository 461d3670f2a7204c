// Package models owns the model repository: its layout on disk (or in any
// fs.FS), each model's config.yaml, version selection, and the metadata the
// frontend serves, read from the ONNX file itself. The ONNX compiler lives
// in the subpackage models/onnx.
//
// Layout:
//
//	<repo>/<model>/config.yaml         optional: what the ONNX file cannot say
//	<repo>/<model>/<version>/model.onnx
//
// Versions are positive integers; the highest one is served (Triton's
// default "latest 1" policy). A folder with only <version>/model.onnx
// serves with the defaults of Config.
//
// A synthetic model (platform: synthetic in config.yaml, see Synthetic and
// package models/synthetic) is a folder with only a config.yaml: it has no
// model file, its version is 1 unless version directories say otherwise,
// its metadata comes from the config's input (the output echoes it), and
// its Model.File is the synthetic spec's canonical encoding, which workers
// run. It is a test and capacity-planning tool: it spends no CPU.
//
// A Repository is immutable once opened and safe for concurrent use.
package models

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/gannet-ml/gannet/models/onnx"
	"github.com/gannet-ml/gannet/wire"
)

// Platform is the OIP v2 platform string of ONNX models.
const Platform = "onnx_onnxv1"

// Model is one model of the repository, at its served version.
type Model struct {
	Name     string
	Version  string   // the served version
	Versions []string // all versions found, ascending
	Config   Config
	File     []byte   // the served version's model.onnx, or a synthetic model's encoded spec
	Digest   [32]byte // SHA-256 of File
	Metadata wire.ModelMetadata
}

// Repository is the set of models found in a repository.
type Repository struct {
	Models []*Model // sorted by name
}

// Lookup returns the named model, or nil.
func (r *Repository) Lookup(name string) *Model {
	i, ok := slices.BinarySearchFunc(r.Models, name, func(m *Model, n string) int {
		return strings.Compare(m.Name, n)
	})
	if !ok {
		return nil
	}
	return r.Models[i]
}

// ErrEmpty is returned by Open for a repository without models.
var ErrEmpty = errors.New("model repository has no models")

// Open reads every model of the repository in fsys. A model that is
// malformed (bad config, no version, unreadable ONNX file) fails the whole
// open with an error naming the model and the problem.
func Open(fsys fs.FS) (*Repository, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("model repository: %w", err)
	}
	repo := &Repository{}
	for _, e := range entries {
		if !e.IsDir() || e.Name()[0] == '.' {
			continue
		}
		m, err := openModel(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("model %q: %w", e.Name(), err)
		}
		repo.Models = append(repo.Models, m)
	}
	if len(repo.Models) == 0 {
		return nil, ErrEmpty
	}
	return repo, nil
}

func openModel(fsys fs.FS, name string) (*Model, error) {
	cfg, err := readConfig(fsys, name)
	if err != nil {
		return nil, err
	}
	versions, err := versionsOf(fsys, name)
	if err != nil {
		return nil, err
	}
	if cfg.Platform == PlatformSynthetic {
		m, err := openSynthetic(name, cfg, versions)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path.Join(name, "config.yaml"), err)
		}
		return m, nil
	}
	if len(versions) == 0 {
		return nil, fmt.Errorf("no version directory (e.g. %s/1/model.onnx)", name)
	}
	m := newModel(name, cfg, versions)
	file := path.Join(name, m.Version, "model.onnx")
	if m.File, err = fs.ReadFile(fsys, file); err != nil {
		return nil, err
	}
	m.Digest = sha256.Sum256(m.File)
	parsed, err := onnx.Parse(m.File)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	m.Metadata = wire.ModelMetadata{
		Name:         name,
		Version:      m.Version,
		Versions:     m.Versions,
		Platform:     Platform,
		MaxBatchSize: cfg.MaxBatchSize,
	}
	if m.Metadata.Inputs, err = specs(parsed.Inputs(), "input", cfg.MaxBatchSize); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if m.Metadata.Outputs, err = specs(parsed.Outputs(), "output", cfg.MaxBatchSize); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return m, nil
}

// newModel is a model serving the highest of its versions (ascending).
func newModel(name string, cfg Config, versions []int) *Model {
	m := &Model{Name: name, Config: cfg, Version: strconv.Itoa(versions[len(versions)-1])}
	for _, v := range versions {
		m.Versions = append(m.Versions, strconv.Itoa(v))
	}
	return m
}

// specs converts ONNX tensor infos; with batching, dimension 0 of each must
// be variable (it is the batch).
func specs(infos []onnx.TensorInfo, what string, maxBatch int) ([]wire.TensorSpec, error) {
	if len(infos) == 0 {
		return nil, fmt.Errorf("the graph has no %ss", what)
	}
	out := make([]wire.TensorSpec, len(infos))
	for i, t := range infos {
		dt, ok := wire.ParseDataType(t.DataType)
		if !ok {
			return nil, fmt.Errorf("%s %q has datatype %s, which Gannet cannot serve", what, t.Name, t.DataType)
		}
		if len(t.Shape) == 0 {
			return nil, fmt.Errorf("%s %q is a scalar; a batch dimension is needed", what, t.Name)
		}
		shape := slices.Clone(t.Shape)
		if shape[0] > 0 && maxBatch > 1 {
			return nil, fmt.Errorf("%s %q has a fixed dimension 0 (%d): export it with a dynamic batch axis or set max_batch_size: 1", what, t.Name, shape[0])
		}
		shape[0] = -1
		out[i] = wire.TensorSpec{Name: t.Name, DataType: dt, Shape: shape}
	}
	return out, nil
}
