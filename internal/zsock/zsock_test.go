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
	router := &echoRouter{}
	rl, err := Start[struct{}](Config{Type: zmq.ROUTER, Bind: "tcp://127.0.0.1:*"}, router)
	if err != nil {
		t.Fatal(err)
	}
	router.l = rl
	defer rl.Close()

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
	router := &echoRouter{}
	rl, err := Start[struct{}](Config{Type: zmq.ROUTER, Bind: "tcp://127.0.0.1:*"}, router)
	if err != nil {
		b.Fatal(err)
	}
	router.l = rl
	defer rl.Close()
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
