package worker

import (
	"slices"
	"testing"

	"github.com/gannet-ml/gannet/wire"
)

func TestDropLate(t *testing.T) {
	// Three items of 1, 2 and 1 rows; each row is one INT8 byte, its value
	// the row number.
	b := &wire.Batch{Rows: 4, Items: []wire.Item{{Rows: 1, Deadline: 100}, {Rows: 2, Deadline: 300}, {Rows: 1, Deadline: 0}},
		Inputs: []wire.Tensor{{Name: "x", DataType: wire.TypeInt8, Shape: []int64{4, 1}, Data: []byte{0, 1, 2, 3}}}}
	tests := []struct {
		now     int64
		rows    int
		data    []byte
		dropped []uint16
	}{
		{50, 4, []byte{0, 1, 2, 3}, nil},       // nothing late
		{100, 3, []byte{1, 2, 3}, []uint16{0}}, // the first item's deadline is now
		{400, 1, []byte{3}, []uint16{0, 1}},    // only the item without a deadline is left
	}
	for _, tt := range tests {
		rows, in, dropped := dropLate(b, tt.now)
		if rows != tt.rows || !slices.Equal(in[0].Data, tt.data) || in[0].Shape[0] != int64(tt.rows) || !slices.Equal(dropped, tt.dropped) {
			t.Errorf("at %d: rows %d, data %v, shape %v, dropped %v; want %d, %v, %v", tt.now, rows, in[0].Data, in[0].Shape, dropped, tt.rows, tt.data, tt.dropped)
		}
	}
	if b.Inputs[0].Shape[0] != 4 || !slices.Equal(b.Inputs[0].Data, []byte{0, 1, 2, 3}) {
		t.Error("dropLate changed the batch's own inputs")
	}
}
