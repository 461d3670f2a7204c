package server

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/gannet-ml/gannet/batching"
	"github.com/gannet-ml/gannet/wire"
)

var twoInputs = &wire.ModelMetadata{
	Name:         "m",
	MaxBatchSize: 8,
	Inputs: []wire.TensorSpec{
		{Name: "ids", DataType: wire.TypeInt64, Shape: []int64{-1, 4}},
		{Name: "mask", DataType: wire.TypeBool, Shape: []int64{-1, 4}},
	},
	Outputs: []wire.TensorSpec{{Name: "y", DataType: wire.TypeFP32, Shape: []int64{-1, 2}}},
}

func tensor(name string, dt wire.DataType, shape ...int64) wire.Tensor {
	n, _ := wire.ByteSize(dt, shape, 0)
	return wire.Tensor{Name: name, DataType: dt, Shape: shape, Data: make([]byte, n)}
}

func TestValidateInputs(t *testing.T) {
	ids, mask := tensor("ids", wire.TypeInt64, 2, 4), tensor("mask", wire.TypeBool, 2, 4)
	tests := []struct {
		name   string
		inputs []wire.Tensor
		rows   int
		want   string
	}{
		{"model order", []wire.Tensor{ids, mask}, 2, ""},
		{"other order", []wire.Tensor{mask, ids}, 2, ""},
		{"missing", []wire.Tensor{ids}, 0, "expects 2 inputs"},
		{"unknown", []wire.Tensor{ids, tensor("x", wire.TypeBool, 2, 4)}, 0, `no input "x"`},
		{"twice", []wire.Tensor{mask, mask}, 0, "more than once"},
		{"datatype", []wire.Tensor{ids, tensor("mask", wire.TypeUint8, 2, 4)}, 0, "expects BOOL"},
		{"rank", []wire.Tensor{ids, tensor("mask", wire.TypeBool, 8)}, 0, "expects [-1,4]"},
		{"fixed dim", []wire.Tensor{ids, tensor("mask", wire.TypeBool, 2, 5)}, 0, "has shape [2,5]"},
		{"batch sizes differ", []wire.Tensor{ids, tensor("mask", wire.TypeBool, 3, 4)}, 0, "batch size 3"},
		{"batch over max", []wire.Tensor{tensor("ids", wire.TypeInt64, 9, 4), tensor("mask", wire.TypeBool, 9, 4)}, 0, "1 to 8"},
		{"BOOL not 0 or 1", []wire.Tensor{ids, {Name: "mask", DataType: wire.TypeBool, Shape: []int64{2, 4}, Data: []byte{0, 1, 2, 0, 0, 0, 0, 0}}}, 0, "0 or 1"},
		{"empty batch", []wire.Tensor{tensor("ids", wire.TypeInt64, 0, 4), tensor("mask", wire.TypeBool, 0, 4)}, 0, "batch size 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rows, err := validateInputs(twoInputs, tt.inputs)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) || wire.KindOf(err) != wire.KindInvalid {
					t.Fatalf("err = %v, want invalid with %q", err, tt.want)
				}
				return
			}
			if err != nil || rows != tt.rows || got[0].Name != "ids" || got[1].Name != "mask" {
				t.Fatalf("got %v rows %d err %v", got, rows, err)
			}
		})
	}
}

func TestValidateOutputs(t *testing.T) {
	if err := validateOutputs(twoInputs, []string{"y"}); err != nil {
		t.Fatal(err)
	}
	if err := validateOutputs(twoInputs, []string{"z"}); err == nil || !strings.Contains(err.Error(), `no output "z"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestStatusOf(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{wire.Errorf(wire.KindInvalid, "x"), http.StatusBadRequest},
		{wire.Errorf(wire.KindNotFound, "x"), http.StatusNotFound},
		{batching.ErrQueueFull, http.StatusServiceUnavailable},
		{batching.ErrDeadline, http.StatusServiceUnavailable},
		{wire.Errorf(wire.KindUnsupported, "x"), http.StatusNotImplemented},
		{wire.Errorf(wire.KindTooLarge, "x"), http.StatusRequestEntityTooLarge},
		{wire.Errorf(wire.KindInternal, "x"), http.StatusInternalServerError},
		{errors.New("a bug"), http.StatusInternalServerError},
	}
	for _, tt := range tests {
		if got := statusOf(tt.err); got != tt.want {
			t.Errorf("statusOf(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}
