// Package gannet is the root of the Gannet model server. It holds the
// built-in model repository (the two Fashion-MNIST models under
// testdata/models, embedded in the binary so that `gannet serve` works from
// any directory). The server itself lives in the subpackages; cmd/gannet is
// the binary.
package gannet

import (
	"embed"
	"io/fs"
)

//go:embed testdata/models
var builtin embed.FS

// BuiltinModels returns the built-in model repository.
func BuiltinModels() fs.FS {
	sub, err := fs.Sub(builtin, "testdata/models")
	if err != nil {
		panic(err) // the embed pattern above guarantees the directory
	}
	return sub
}
