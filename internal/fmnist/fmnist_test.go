package fmnist

import (
	"os"
	"path/filepath"
	"testing"
)

func TestTestImages(t *testing.T) {
	if _, err := os.Stat(filepath.Join(DefaultDir, "t10k-images-idx3-ubyte.gz")); err != nil {
		t.Skipf("Fashion-MNIST is not installed (apt install dataset-fashion-mnist): %v", err)
	}
	pix, labels, err := TestImages(DefaultDir, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(pix) != 100 || len(labels) != 100 {
		t.Fatalf("got %d images, %d labels", len(pix), len(labels))
	}
	// The first test images of Fashion-MNIST are an ankle boot, a pullover
	// and two trousers.
	if want := []uint8{9, 2, 1, 1}; string(labels[:4]) != string(want) {
		t.Errorf("first labels %v, want %v", labels[:4], want)
	}
	seen := map[uint8]bool{}
	for i, img := range pix {
		if len(img) != Pixels {
			t.Fatalf("image %d has %d pixels", i, len(img))
		}
		var sum float32
		for _, p := range img {
			if p < 0 || p > 1 {
				t.Fatalf("image %d: pixel %v out of [0,1]", i, p)
			}
			sum += p
		}
		if sum == 0 {
			t.Errorf("image %d is blank", i)
		}
		seen[labels[i]] = true
	}
	if len(seen) != 10 {
		t.Errorf("100 images cover %d classes, want 10", len(seen))
	}
}

func TestTrainImages(t *testing.T) {
	if _, err := os.Stat(filepath.Join(DefaultDir, "train-images-idx3-ubyte.gz")); err != nil {
		t.Skipf("Fashion-MNIST is not installed: %v", err)
	}
	pix, labels, err := TrainImages(DefaultDir, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(pix) != 10 || len(labels) != 10 {
		t.Fatalf("got %d images, %d labels", len(pix), len(labels))
	}
}

func TestErrors(t *testing.T) {
	if _, _, err := TestImages(t.TempDir(), 1); err == nil {
		t.Error("missing directory: no error")
	}
	if _, _, err := TestImages(DefaultDir, -1); err == nil {
		t.Error("negative count: no error")
	}
	if _, err := os.Stat(filepath.Join(DefaultDir, "t10k-images-idx3-ubyte.gz")); err == nil {
		if _, _, err := TestImages(DefaultDir, TestCount+1); err == nil {
			t.Error("too many images: no error")
		}
	}
	// A file that is not gzip'd IDX.
	dir := t.TempDir()
	for _, name := range []string{"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("not gzip"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := TestImages(dir, 1); err == nil {
		t.Error("garbage file: no error")
	}
}
