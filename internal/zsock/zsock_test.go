package zsock

import (
	"fmt"
	"sync"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// echoRouter answers every message with the same frames.
type echoRouter struct{ l *Loop[struct{}] }

func (e *echoRouter) Recv(frames [][]byte) { e.l.Send(frames) }
func (e *echoRouter) Mail(struct{})        {}
func (e *echoRouter) Tick(time.Time)       {}

// startEcho starts an echoRouter on a free loopback port, closed when
// the test ends (Close may also be called before).
func startEcho(tb testing.TB) *Loop[struct{}] {
	tb.Helper()
	router := &echoRouter{}
	rl, err := Start[struct{}](Config{Type: zmq.ROUTER, Bind: "tcp://127.0.0.1:*"}, router)
	if err != nil {
		tb.Fatal(err)
	}
	router.l = rl // before any peer can connect: Endpoint is not yet known
	tb.Cleanup(rl.Close)
	return rl
}

// dealer sends what is posted and delivers what comes back.
type dealer struct {
	l     *Loop[string]
	got   chan string
	ticks chan struct{}
}

func (d *dealer) Recv(frames [][]byte) { d.got <- string(frames[0]) }
func (d *dealer) Mail(m string)        { d.l.Send([][]byte{[]byte(m)}) }
func (d *dealer) Tick(time.Time) {
	select {
	case d.ticks <- struct{}{}:
	default:
	}
}

func TestPostFromManyGoroutinesReachesThePeer(t *testing.T) {
	rl := startEcho(t)

	const senders, each = 8, 1000 // more than libzmq's default high-water mark of 1000
	d := &dealer{got: make(chan string, senders*each), ticks: make(chan struct{}, 1)}
	dl, err := Start[string](Config{Type: zmq.DEALER, Connect: rl.Endpoint(), Tick: 10 * time.Millisecond}, d)
	if err != nil {
		t.Fatal(err)
	}
	d.l = dl
	defer dl.Close()

	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := dl.Post(fmt.Sprintf("%d-%d", s, i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	timeout := time.After(20 * time.Second)
	for len(seen) < senders*each {
		select {
		case m := <-d.got:
			if seen[m] {
				t.Fatalf("%q delivered twice", m)
			}
			seen[m] = true
		case <-timeout:
			t.Fatalf("only %d of %d messages came back", len(seen), senders*each)
		}
	}
	select {
	case <-d.ticks:
	case <-time.After(5 * time.Second):
		t.Fatal("no Tick")
	}
}

func TestCloseThenPostFails(t *testing.T) {
	d := &dealer{got: make(chan string, 1)}
	l, err := Start[string](Config{Type: zmq.DEALER, Connect: "tcp://127.0.0.1:1"}, d)
	if err != nil {
		t.Fatal(err)
	}
	d.l = l
	l.Close()
	l.Close() // twice is harmless
	if err := l.Post("x"); err != ErrClosed {
		t.Fatalf("Post after Close = %v, want ErrClosed", err)
	}
}

func TestBadEndpointFailsStart(t *testing.T) {
	if _, err := Start[string](Config{Type: zmq.ROUTER, Bind: "tcp://256.0.0.1:1"}, &dealer{}); err == nil {
		t.Fatal("bind to an impossible address succeeded")
	}
	if _, err := Start[string](Config{Type: zmq.ROUTER}, &dealer{}); err == nil {
		t.Fatal("no endpoint accepted")
	}
}

// BenchmarkRoundTrip is the fabric's floor: one message from a goroutine
// through a DEALER loop, over TCP loopback to a ROUTER loop that echoes,
// and back, sequentially.
func BenchmarkRoundTrip(b *testing.B) {
	rl := startEcho(b)
	d := &dealer{got: make(chan string, 1)}
	dl, err := Start[string](Config{Type: zmq.DEALER, Connect: rl.Endpoint()}, d)
	if err != nil {
		b.Fatal(err)
	}
	d.l = dl
	defer dl.Close()
	b.ReportAllocs()
	for b.Loop() {
		dl.Post("ping")
		<-d.got
	}
}

// counter counts Mail calls; it has no socket traffic and no ticks, so
// only the wake-up path can get mail to it.
type counter struct{ got chan int }

func (c *counter) Recv([][]byte)  {}
func (c *counter) Mail(m int)     { c.got <- m }
func (c *counter) Tick(time.Time) {}

func TestEveryPostIsHandledWithoutTicks(t *testing.T) {
	c := &counter{got: make(chan int, 2)}
	l, err := Start[int](Config{Type: zmq.DEALER, Connect: "tcp://127.0.0.1:1"}, c)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range 50000 {
		// Two posters at once, then wait for both: a lost wake-up hangs.
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() { defer wg.Done(); l.Post(i) }()
		}
		wg.Wait()
		for range 2 {
			select {
			case <-c.got:
			case <-time.After(10 * time.Second):
				t.Fatalf("iteration %d: a posted value was never handled", i)
			}
		}
	}
}

func TestCloseWhilePostingLosesNothingAccepted(t *testing.T) {
	for range 200 {
		c := &counter{got: make(chan int, 1000)}
		l, err := Start[int](Config{Type: zmq.DEALER, Connect: "tcp://127.0.0.1:1"}, c)
		if err != nil {
			t.Fatal(err)
		}
		var accepted atomicInt
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 100 {
					if l.Post(i) == nil {
						accepted.add()
					}
				}
			}()
		}
		l.Close() // concurrently with the posts; must not hang
		wg.Wait()
		if got := len(c.got); got != accepted.load() {
			t.Fatalf("%d values accepted by Post, %d handed to Mail", accepted.load(), got)
		}
	}
}

type atomicInt struct { // a counter safe for concurrent use
	mu sync.Mutex
	n  int
}

func (a *atomicInt) add() { a.mu.Lock(); a.n++; a.mu.Unlock() }
func (a *atomicInt) load() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

// watcher records monitor events.
type watcher struct{ events chan zmq.Event }

func (w *watcher) Recv([][]byte)               {}
func (w *watcher) Mail(struct{})               {}
func (w *watcher) Tick(time.Time)              {}
func (w *watcher) Event(e zmq.Event, _ string) { w.events <- e }

func TestMonitorReportsConnections(t *testing.T) {
	rl := startEcho(t)
	w := &watcher{events: make(chan zmq.Event, 8)}
	l, err := Start[struct{}](Config{Type: zmq.DEALER, Connect: rl.Endpoint(), Monitor: zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED}, w)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	want := func(e zmq.Event) {
		t.Helper()
		select {
		case got := <-w.events:
			if got != e {
				t.Fatalf("event %v, want %v", got, e)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %v event", e)
		}
	}
	want(zmq.EVENT_CONNECTED)
	rl.Close()
	want(zmq.EVENT_DISCONNECTED)
	if _, err := Start[struct{}](Config{Type: zmq.DEALER, Connect: "tcp://127.0.0.1:1", Monitor: zmq.EVENT_CONNECTED}, &counterless{}); err == nil {
		t.Fatal("Monitor accepted with a Handler that takes no events")
	}
}

type counterless struct{}

func (counterless) Recv([][]byte)  {}
func (counterless) Mail(struct{})  {}
func (counterless) Tick(time.Time) {}

// TestClosedMonitorDoesNotStallTheContext closes monitored loops while
// their connections are being made, then checks that sockets of the same
// (default) context still talk: a monitor event sent to a monitor whose
// reading end was closed first blocked libzmq's I/O thread for ever.
func TestClosedMonitorDoesNotStallTheContext(t *testing.T) {
	rl := startEcho(t)
	for i := range 40 {
		w := &watcher{events: make(chan zmq.Event, 8)}
		l, err := Start[struct{}](Config{Type: zmq.DEALER, Connect: rl.Endpoint(), Monitor: zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED}, w)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			time.Sleep(time.Duration(i) * 50 * time.Microsecond) // close at various points of the handshake
		}
		l.Close()
	}
	d := &dealer{got: make(chan string, 1)}
	dl, err := Start[string](Config{Type: zmq.DEALER, Connect: rl.Endpoint()}, d)
	if err != nil {
		t.Fatal(err)
	}
	d.l = dl
	defer dl.Close()
	dl.Post("ping")
	select {
	case <-d.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no echo within 10 s: the context's I/O thread is stuck")
	}
}

// tickCounter counts ticks.
type tickCounter struct{ ticks chan struct{} }

func (c *tickCounter) Recv([][]byte) {}
func (c *tickCounter) Mail(struct{}) {}
func (c *tickCounter) Tick(time.Time) {
	select {
	case c.ticks <- struct{}{}:
	default:
	}
}

// TestTicksGoOnWhenTheTimerFiresEarly: the tick timer and the clock that
// says when a tick is due are read apart (a goroutine preempted between
// the two), so the timer can wake the owner before the tick is due. On a
// quiet socket nothing else wakes it: the dispatcher's heartbeats and
// liveness checks stopped for good in one CI run (a silent worker was
// never removed). Skewing the first clock reading forward makes that
// window certain.
func TestTicksGoOnWhenTheTimerFiresEarly(t *testing.T) {
	const tick = 10 * time.Millisecond
	var once sync.Once
	clock = func() time.Time {
		skew := time.Duration(0)
		once.Do(func() { skew = 3 * tick })
		return time.Now().Add(skew)
	}
	t.Cleanup(func() { clock = time.Now })
	c := &tickCounter{ticks: make(chan struct{}, 1)}
	l, err := Start[struct{}](Config{Type: zmq.DEALER, Connect: "tcp://127.0.0.1:1", Tick: tick}, c)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range 5 {
		select {
		case <-c.ticks:
		case <-time.After(2 * time.Second):
			t.Fatalf("ticks stopped after %d on a quiet socket", i)
		}
	}
}
