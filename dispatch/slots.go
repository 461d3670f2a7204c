package dispatch

import (
	"context"
	"sync"
)

// slots is one model's list of free replica slots: one entry per batch a
// ready worker can take now. Acquire takes an entry, a finished batch puts
// it back, and a dead worker's entries are dropped.
type slots struct {
	mu   sync.Mutex // guards free
	free []*worker  // oldest first, so load spreads over workers
	ping chan struct{}
}

func newSlots() *slots { return &slots{ping: make(chan struct{}, 1)} }

// wake makes waiters look again (at broken).
func (s *slots) wake() {
	select {
	case s.ping <- struct{}{}:
	default:
	}
}

func (s *slots) put(w *worker, n int) {
	s.mu.Lock()
	for range n {
		s.free = append(s.free, w)
	}
	s.mu.Unlock()
	select {
	case s.ping <- struct{}{}:
	default:
	}
}

// drop removes every entry of w.
func (s *slots) drop(w *worker) {
	s.mu.Lock()
	s.free = deleteAll(s.free, w)
	s.mu.Unlock()
}

func deleteAll(ws []*worker, w *worker) []*worker {
	kept := ws[:0]
	for _, x := range ws {
		if x != w {
			kept = append(kept, x)
		}
	}
	clear(ws[len(kept):])
	return kept
}

// take returns a free entry of a live worker, or nil if there is none.
func (s *slots) take() *worker {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.free) > 0 {
		w := s.free[0]
		s.free[0] = nil
		s.free = s.free[1:]
		if w.usable() {
			return w
		}
	}
	return nil
}

// acquire waits for a free entry of a live worker, unless broken returns
// an error (checked again at every ping).
func (s *slots) acquire(ctx context.Context, broken func() error) (*worker, error) {
	for {
		if w := s.take(); w != nil {
			return w, nil
		}
		if err := broken(); err != nil {
			return nil, err
		}
		select {
		case <-s.ping:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
