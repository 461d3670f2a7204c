// Package parallel is accel's one worker pool: a fixed set of long-lived
// goroutines that run the parts of a kernel alongside the calling goroutine.
//
// It owns the goroutines it starts (Threads()-1 of them, started on first
// use and kept for the life of the process, parked on a channel when idle:
// they never spin). Run is safe for concurrent use; parts of concurrent calls
// share the workers in arrival order. A Task must not call Run itself (the
// pool has no nested parallelism), and Run allocates nothing in steady state.
package parallel

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// Task is work split into parts: Run(part, parts) does part part of parts
// (0 <= part < parts). Parts of one call run concurrently.
type Task interface {
	Run(part, parts int)
}

type job struct {
	t     Task
	part  int
	parts int
	w     *waiter
}

// waiter counts the parts of one Run still out and carries the first panic
// of a part to the caller.
type waiter struct {
	wg       sync.WaitGroup
	panicked atomic.Pointer[panicBox]
}

type panicBox struct{ v any }

var (
	mu       sync.Mutex // guards started
	started  int        // workers started
	threads  atomic.Int32
	startedN atomic.Int32 // started, for the lock-free fast path
	jobs     = make(chan job, 256)
	waiters  Free[waiter]
)

// Threads returns the number of parts a kernel should split its work into:
// the workers plus the calling goroutine.
func Threads() int { return int(threads.Load()) }

func init() { threads.Store(int32(runtime.GOMAXPROCS(0))) }

// SetThreads sets the number of threads (>= 1; values above GOMAXPROCS
// are allowed but rarely useful). Workers already started stay; fewer
// threads only means fewer parts.
func SetThreads(n int) {
	if n < 1 {
		n = 1
	}
	threads.Store(int32(n))
}

func ensureWorkers(n int) {
	if int(startedN.Load()) >= n {
		return
	}
	mu.Lock()
	for started < n {
		started++
		startedN.Store(int32(started))
		go worker()
	}
	mu.Unlock()
}

func worker() {
	for j := range jobs {
		runPart(j)
	}
}

func runPart(j job) {
	defer func() {
		if r := recover(); r != nil {
			j.w.panicked.CompareAndSwap(nil, &panicBox{v: r})
		}
		j.w.wg.Done()
	}()
	j.t.Run(j.part, j.parts)
}

// Run runs t in parts parts (parts <= 1: in the caller only) and returns
// when all are done. Part 0 runs on the calling goroutine. A panic in any
// part is re-raised in the caller after every part has finished.
func Run(parts int, t Task) {
	if parts <= 1 {
		t.Run(0, 1)
		return
	}
	ensureWorkers(parts - 1)
	w := waiters.Get()
	w.wg.Add(parts)
	for p := 1; p < parts; p++ {
		jobs <- job{t: t, part: p, parts: parts, w: w}
	}
	runPart(job{t: t, part: 0, parts: parts, w: w})
	w.wg.Wait()
	if pb := w.panicked.Swap(nil); pb != nil {
		waiters.Put(w)
		panic(fmt.Sprintf("accel: parallel part panicked: %v", pb.v))
	}
	waiters.Put(w)
}

// Range returns the half-open slice [lo, hi) of n items that part part of
// parts owns: contiguous, sizes differing by at most one.
func Range(n, part, parts int) (lo, hi int) {
	return n * part / parts, n * (part + 1) / parts
}

// Parts returns how many parts to split work of the given size into: one
// per grain units of work, at most Threads().
func Parts(work, grain int) int {
	t := Threads()
	if grain < 1 {
		grain = 1
	}
	p := work / grain
	if p > t {
		p = t
	}
	if p < 1 {
		p = 1
	}
	return p
}
