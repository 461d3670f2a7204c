package parallel

import "sync"

// Free is a free list of *T: kernels keep their task records on one, so
// that a run allocates nothing. Unlike sync.Pool, the garbage collector
// does not empty it (a sync.Pool refills itself with fresh records after
// every collection: a few allocations per inference in steady state); it
// holds at most as many records as were ever out at once. The zero value
// is ready; safe for concurrent use.
type Free[T any] struct {
	mu    sync.Mutex // guards items
	items []*T
}

// Get returns a record from the list, or a new zero one.
func (f *Free[T]) Get() *T {
	f.mu.Lock()
	if n := len(f.items); n > 0 {
		t := f.items[n-1]
		f.items[n-1] = nil
		f.items = f.items[:n-1]
		f.mu.Unlock()
		return t
	}
	f.mu.Unlock()
	return new(T)
}

// Put returns t to the list; the caller must not use it afterwards and
// should have cleared what it references.
func (f *Free[T]) Put(t *T) {
	f.mu.Lock()
	f.items = append(f.items, t)
	f.mu.Unlock()
}
