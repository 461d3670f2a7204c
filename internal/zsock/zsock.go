// Package zsock runs one ZeroMQ socket in one owner goroutine.
//
// libzmq sockets are not safe for concurrent use: a Loop creates its socket,
// uses it and closes it on a single goroutine for the socket's whole life.
// Other goroutines reach it through Post, which puts a value in a bounded
// mailbox channel. The owner parks like any goroutine, in a select on the
// mailbox, a tick timer and a readiness signal for the socket, so a Post is
// a channel send and the owner usually runs next on the poster's thread.
//
// Socket readiness comes from Go's netpoller: the socket's ZMQ_FD (and its
// monitor's) sit in an epoll set of the loop's own, level-triggered and
// EPOLLIN only, and that epoll descriptor is registered with the runtime
// through os.NewFile; a watcher goroutine waits on it and tells the owner.
// No thread blocks in poll(2) holding a P: an earlier design did, which
// kept the runtime's sysmon retaking Ps every 20 µs (23% of a loaded
// worker's CPU samples; 13% after) and cost a thread wake-up per hand-off
// (sequential requests through `gannet serve`: p50 about 960 -> 720 µs).
//
// Post and Close are safe for concurrent use. Close stops the owner (after
// it has handed every accepted value to Mail), closes the socket and waits.
package zsock

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// Handler receives a Loop's events, always on the owner goroutine.
type Handler[M any] interface {
	// Recv is called with each message received on the socket.
	Recv(frames [][]byte)
	// Mail is called with each value given to Post.
	Mail(m M)
	// Tick is called about every Config.Tick (never if Tick is 0).
	Tick(now time.Time)
}

// Config says how to make the socket.
type Config struct {
	Type zmq.Type
	// Bind or Connect: one endpoint, exactly one of the two.
	Bind, Connect string
	// Setup, if set, is called on the new socket before bind or connect
	// (on the owner goroutine) to set options. LINGER 0 is always set.
	Setup func(s *zmq.Socket) error
	// Tick is the interval of Handler.Tick; 0 means no ticks.
	Tick time.Duration
	// Mailbox is the mailbox capacity; 0 means 1024.
	Mailbox int
	// SendHWM is the socket's send high-water mark in messages per peer;
	// 0 means no limit. Send never blocks: a message over the mark fails
	// (ROUTER_MANDATORY) or is dropped, so routers set a mark well above
	// what a well-behaved peer has in flight, and treat a failure as that
	// peer's fault.
	SendHWM int
	// CloseLinger is how long a message sent just before Close may still
	// take to leave (LINGER at close); 0 means none.
	CloseLinger time.Duration
	// Monitor selects socket events (zmq.EVENT_CONNECTED, ...) to hand to
	// the Handler, which must then implement EventHandler; 0 means none.
	Monitor zmq.Event
}

// EventHandler receives the socket events selected by Config.Monitor, on
// the owner goroutine.
type EventHandler interface {
	Event(e zmq.Event, addr string)
}

// Validate reports a config that cannot work.
func (c *Config) Validate() error {
	if (c.Bind == "") == (c.Connect == "") {
		return errors.New("zsock: exactly one of Bind and Connect must be set")
	}
	if c.Tick < 0 || c.Mailbox < 0 || c.SendHWM < 0 || c.CloseLinger < 0 {
		return errors.New("zsock: negative Tick, Mailbox, SendHWM or CloseLinger")
	}
	return nil
}

// ErrClosed is returned by Post after Close.
var ErrClosed = errors.New("zsock: loop closed")

// Loop owns one socket. Create it with Start.
type Loop[M any] struct {
	sock     *zmq.Socket // owner goroutine only
	endpoint string      // the bound or connected endpoint, resolved
	linger   time.Duration
	mail     chan M
	done     chan struct{}
	exited   chan struct{} // closed when the owner goroutine returns
	sendErrs atomic.Uint64

	// mu guards closed. Post holds it shared while it enqueues, so once
	// Close has set closed no value can slip into the mailbox after the
	// owner's last drain.
	mu     sync.RWMutex
	closed bool
}

// Start creates the socket on a new owner goroutine, binds or connects it,
// and runs h until Close. It returns once the socket is bound or connected.
func Start[M any](cfg Config, h Handler[M]) (*Loop[M], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Mailbox == 0 {
		cfg.Mailbox = 1024
	}
	l := &Loop[M]{
		linger: cfg.CloseLinger,
		mail:   make(chan M, cfg.Mailbox),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	ready := make(chan error, 1)
	go l.run(cfg, h, ready)
	if err := <-ready; err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Endpoint is the socket's endpoint as libzmq reports it (a bound
// "tcp://*:0" becomes the real port).
func (l *Loop[M]) Endpoint() string { return l.endpoint }

// Post gives m to the owner goroutine. It blocks while the mailbox is full
// and fails after Close. Every value Post accepts is handed to Mail.
func (l *Loop[M]) Post(m M) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	l.mail <- m // the owner drains until Close, which waits for this lock
	return nil
}

// Close stops the loop and waits for its goroutine, which first hands every
// value posted before Close to Mail, then closes the socket.
func (l *Loop[M]) Close() {
	l.mu.Lock()
	already := l.closed
	l.closed = true
	l.mu.Unlock()
	if already {
		<-l.exited
		return
	}
	close(l.done)
	<-l.exited
}

// Send sends frames as one message. Only Handler methods (the owner
// goroutine) may call it. It does not block: a message that cannot be
// queued (unroutable with ROUTER_MANDATORY, or over the send high-water
// mark) makes it fail.
func (l *Loop[M]) Send(frames [][]byte) error {
	var err error
	for i, f := range frames {
		flag := zmq.DONTWAIT
		if i < len(frames)-1 {
			flag |= zmq.SNDMORE
		}
		if _, err = l.sock.SendBytes(f, flag); err != nil {
			break
		}
	}
	if err != nil {
		l.sendErrs.Add(1)
	}
	return err
}

// SendErrors counts failed sends.
func (l *Loop[M]) SendErrors() uint64 { return l.sendErrs.Load() }

func (l *Loop[M]) run(cfg Config, h Handler[M], ready chan<- error) {
	defer close(l.exited)
	events, _ := h.(EventHandler)
	if cfg.Monitor != 0 && events == nil {
		ready <- errors.New("zsock: Config.Monitor set but the Handler does not implement EventHandler")
		return
	}
	sock, mon, err := l.open(cfg)
	if err != nil {
		ready <- err
		return
	}
	defer func() {
		if l.linger > 0 { // let a last message (a goodbye) go out
			sock.SetLinger(l.linger)
		}
		sock.Close()
	}()
	l.sock = sock
	fds := make([]int, 0, 2)
	zfd, err := sock.GetFd()
	if err != nil {
		ready <- err
		return
	}
	fds = append(fds, zfd)
	if mon != nil { // the PAIR end of the socket's monitor, also ours
		// Before the socket closes, and in this order: stop the monitor,
		// then close our end of it. libzmq sends monitor events without
		// ZMQ_DONTWAIT, often from its I/O thread: an event for a monitor
		// whose reading end is gone (say EVENT_CONNECTED, when a connection
		// completes just after Close) blocks that thread for ever, and with
		// it every socket of the context.
		defer func() {
			sock.Monitor("", 0)
			mon.Close()
		}()
		mfd, err := mon.GetFd()
		if err != nil {
			ready <- err
			return
		}
		fds = append(fds, mfd)
	}
	w, err := newWatcher(fds)
	if err != nil {
		ready <- fmt.Errorf("zsock: %w", err)
		return
	}
	defer w.stop() // before the socket closes
	ready <- nil

	// The timer wakes the owner at nextTick. It is armed whenever the owner
	// parks: a wake-up from it that finds the tick not yet due (the timer
	// and the clock read apart) arms it again for the rest, so that ticks
	// never stop on a socket that has gone quiet.
	var tick <-chan time.Time // nil without ticks: never ready
	var timer *time.Timer
	var nextTick time.Time
	armed := false
	if cfg.Tick > 0 {
		nextTick = clock().Add(cfg.Tick)
		timer = time.NewTimer(cfg.Tick)
		defer timer.Stop()
		tick = timer.C
		armed = true
	}
	for {
		// ZMQ_FD is edge-triggered: it says "events may have changed", so
		// receive until nothing is ready.
		l.recvAll(sock, h)
		if mon != nil {
			for {
				e, addr, _, err := mon.RecvEvent(zmq.DONTWAIT)
				if err != nil {
					break
				}
				events.Event(e, addr)
			}
		}
		select {
		case <-l.done:
			// Close has made Post fail: this drain is the last.
			l.drainMail(h, -1)
			return
		default:
		}
		l.drainMail(h, cap(l.mail))
		if cfg.Tick > 0 {
			if now := clock(); !now.Before(nextTick) {
				h.Tick(now)
				nextTick = now.Add(cfg.Tick)
				timer.Reset(cfg.Tick)
				armed = true
			} else if !armed {
				timer.Reset(nextTick.Sub(now))
				armed = true
			}
		}
		// Sends may have changed the socket's events: check before sleeping.
		if ev, err := sock.GetEvents(); err == nil && ev&zmq.POLLIN != 0 || len(l.mail) > 0 {
			continue
		}
		if mon != nil {
			if ev, err := mon.GetEvents(); err == nil && ev&zmq.POLLIN != 0 {
				continue
			}
		}
		// libzmq has seen every command: the watcher may look again.
		w.rearm()
		select {
		case m := <-l.mail:
			h.Mail(m)
		case <-w.ready:
			w.fired()
		case <-tick:
			armed = false
		case <-l.done:
		}
	}
}

// clock reads the time for ticks; tests skew it.
var clock = time.Now

var monitorSeq atomic.Uint64

// monitor starts sock's monitor and connects a PAIR socket to it.
func (l *Loop[M]) monitor(sock *zmq.Socket, events zmq.Event) (*zmq.Socket, error) {
	addr := fmt.Sprintf("inproc://zsock-monitor-%d", monitorSeq.Add(1))
	if err := sock.Monitor(addr, events); err != nil {
		return nil, err
	}
	mon, err := zmq.NewSocket(zmq.PAIR)
	if err != nil {
		return nil, err
	}
	mon.SetLinger(0)
	if err := mon.Connect(addr); err != nil {
		mon.Close()
		return nil, err
	}
	return mon, nil
}

// open makes the socket, sets its options, starts its monitor (before
// binding or connecting, so that no event is missed), and binds or connects.
func (l *Loop[M]) open(cfg Config) (sock, mon *zmq.Socket, err error) {
	sock, err = zmq.NewSocket(cfg.Type)
	if err != nil {
		return nil, nil, err
	}
	err = sock.SetLinger(0)
	if err == nil {
		err = sock.SetSndhwm(cfg.SendHWM)
	}
	if err == nil && cfg.Setup != nil {
		err = cfg.Setup(sock)
	}
	if err == nil && cfg.Monitor != 0 {
		mon, err = l.monitor(sock, cfg.Monitor)
	}
	if err == nil {
		if cfg.Bind != "" {
			err = sock.Bind(cfg.Bind)
		} else {
			err = sock.Connect(cfg.Connect)
		}
	}
	if err == nil {
		l.endpoint, err = sock.GetLastEndpoint()
	}
	if err != nil {
		if mon != nil {
			mon.Close()
		}
		sock.Close()
		return nil, nil, fmt.Errorf("zsock: %s %s: %w", cfg.Type, cfg.Bind+cfg.Connect, err)
	}
	return sock, mon, nil
}

// recvAll receives until the socket has nothing ready; the caller checks
// ZMQ_EVENTS again after handling mail, so a burst cut short is resumed.
func (l *Loop[M]) recvAll(sock *zmq.Socket, h Handler[M]) {
	for range 256 { // bounded, so mail is not starved
		frames, err := sock.RecvMessageBytes(zmq.DONTWAIT)
		if err != nil {
			return
		}
		h.Recv(frames)
	}
}

// drainMail hands up to n values to Mail (n < 0: until the mailbox is
// empty), so a busy mailbox cannot starve the socket.
func (l *Loop[M]) drainMail(h Handler[M], n int) {
	for ; n != 0; n-- {
		select {
		case m := <-l.mail:
			h.Mail(m)
		default:
			return
		}
	}
}
