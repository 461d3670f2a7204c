package parallel

import (
	"strings"
	"sync/atomic"
	"testing"
)

type countTask struct {
	hits  [8]atomic.Int32
	parts atomic.Int32
}

func (t *countTask) Run(part, parts int) {
	t.hits[part].Add(1)
	t.parts.Store(int32(parts))
}

func TestRunCoversEveryPart(t *testing.T) {
	old := Threads()
	defer SetThreads(old)
	SetThreads(4)
	for _, parts := range []int{0, 1, 2, 3, 8} {
		var ct countTask
		Run(parts, &ct)
		want := max(parts, 1)
		for p := 0; p < len(ct.hits); p++ {
			n := ct.hits[p].Load()
			if (p < want && n != 1) || (p >= want && n != 0) {
				t.Fatalf("parts=%d: part %d ran %d times", parts, p, n)
			}
		}
	}
}

type panicTask struct{}

func (panicTask) Run(part, parts int) {
	if part == parts-1 {
		panic("boom")
	}
}

func TestPanicReachesCaller(t *testing.T) {
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), "boom") {
			t.Fatalf("recovered %v, want the part's panic", r)
		}
	}()
	Run(2, panicTask{})
}

func TestRangeAndParts(t *testing.T) {
	covered := 0
	for p := 0; p < 3; p++ {
		lo, hi := Range(10, p, 3)
		if lo != covered {
			t.Fatalf("part %d starts at %d, want %d", p, lo, covered)
		}
		covered = hi
	}
	if covered != 10 {
		t.Fatalf("parts cover %d of 10", covered)
	}
	old := Threads()
	defer SetThreads(old)
	SetThreads(2)
	if Parts(100, 1000) != 1 || Parts(5000, 1000) != 2 {
		t.Fatalf("Parts: %d, %d", Parts(100, 1000), Parts(5000, 1000))
	}
}

func TestRunAllocatesNothing(t *testing.T) {
	var ct countTask
	Run(2, &ct)
	if a := testing.AllocsPerRun(100, func() { Run(2, &ct) }); a != 0 {
		t.Fatalf("%v allocations per Run", a)
	}
}

// BenchmarkRun is the cost of handing a part to a worker and waiting.
func BenchmarkRun(b *testing.B) {
	var ct countTask
	for _, parts := range []int{1, 2} {
		b.Run(map[int]string{1: "caller-only", 2: "two-parts"}[parts], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Run(parts, &ct)
			}
		})
	}
}
