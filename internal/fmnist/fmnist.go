// Package fmnist reads the real Fashion-MNIST data set as installed by
// Debian's dataset-fashion-mnist package: gzip'd IDX files of 28x28 grey
// images and their labels. It owns only file decoding; callers pick how many
// images they need. Nothing in it holds state.
package fmnist

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// DefaultDir is where Debian installs the data set.
const DefaultDir = "/usr/share/datasets/fashion-mnist"

// Image geometry.
const (
	Rows   = 28
	Cols   = 28
	Pixels = Rows * Cols // values per image
)

// Number of images in each split of the data set.
const (
	TestCount  = 10000
	TrainCount = 60000
)

// ErrFormat is wrapped by every error about a file that is not the IDX file
// it should be.
var ErrFormat = errors.New("fmnist: bad IDX file")

// TestImages returns the first n test images as float32 pixels/255 (each
// Pixels values, row-major 28x28) and their labels (0..9).
func TestImages(dir string, n int) (pixels [][]float32, labels []uint8, err error) {
	return load(dir, "t10k", n)
}

// TrainImages is TestImages for the training split.
func TrainImages(dir string, n int) (pixels [][]float32, labels []uint8, err error) {
	return load(dir, "train", n)
}

// ClassNames are the names of the ten classes, indexed by label.
var ClassNames = [10]string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

func load(dir, split string, n int) ([][]float32, []uint8, error) {
	if n < 0 {
		return nil, nil, fmt.Errorf("fmnist: negative image count %d", n)
	}
	raw, err := readIDX(filepath.Join(dir, split+"-images-idx3-ubyte.gz"), []int{Rows, Cols}, n)
	if err != nil {
		return nil, nil, err
	}
	labels, err := readIDX(filepath.Join(dir, split+"-labels-idx1-ubyte.gz"), nil, n)
	if err != nil {
		return nil, nil, err
	}
	for i, l := range labels {
		if l > 9 {
			return nil, nil, fmt.Errorf("%w: label %d of image %d is out of range", ErrFormat, l, i)
		}
	}
	pixels := make([][]float32, n)
	flat := make([]float32, n*Pixels)
	for i := range pixels {
		img := flat[i*Pixels : (i+1)*Pixels : (i+1)*Pixels]
		for j, b := range raw[i*Pixels : (i+1)*Pixels] {
			img[j] = float32(b) / 255
		}
		pixels[i] = img
	}
	return pixels, labels, nil
}

// readIDX reads the first n items of an unsigned-byte IDX file whose item
// dimensions must be itemDims, and returns their n*prod(itemDims) bytes.
func readIDX(path string, itemDims []int, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("fmnist: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, path, err)
	}
	defer zr.Close()

	var magic [4]byte
	if _, err := io.ReadFull(zr, magic[:]); err != nil {
		return nil, fmt.Errorf("%w: %s: header: %v", ErrFormat, path, err)
	}
	const typeUbyte = 0x08
	ndim := int(magic[3])
	if magic[0] != 0 || magic[1] != 0 || magic[2] != typeUbyte || ndim != 1+len(itemDims) {
		return nil, fmt.Errorf("%w: %s: magic % x, want 00 00 08 %02x", ErrFormat, path, magic, 1+len(itemDims))
	}
	dims := make([]uint32, ndim)
	if err := binary.Read(zr, binary.BigEndian, dims); err != nil {
		return nil, fmt.Errorf("%w: %s: dimensions: %v", ErrFormat, path, err)
	}
	itemSize := 1
	for i, d := range itemDims {
		if int(dims[i+1]) != d {
			return nil, fmt.Errorf("%w: %s: dimensions %v, want items of %v", ErrFormat, path, dims, itemDims)
		}
		itemSize *= d
	}
	if uint64(n) > uint64(dims[0]) {
		return nil, fmt.Errorf("fmnist: %s holds %d items, %d requested", path, dims[0], n)
	}
	buf := make([]byte, n*itemSize)
	if _, err := io.ReadFull(zr, buf); err != nil {
		return nil, fmt.Errorf("%w: %s: data: %v", ErrFormat, path, err)
	}
	return buf, nil
}
