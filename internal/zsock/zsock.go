// Package zsock runs one ZeroMQ socket in one owner goroutine.
//
// libzmq sockets are not safe for concurrent use: a Loop creates its socket,
// uses it and closes it on a single goroutine for the socket's whole life.
// Other goroutines reach it through Post, which puts a value in a bounded
// mailbox and, if no wake-up is pending, writes one byte to a pipe. The
// owner sleeps in poll(2) on that pipe and on the socket's ZMQ_FD, so a
// wake-up costs one system call and no other socket or goroutine. Handler
// methods run on the owner goroutine and may call Send; nothing else may.
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
	"golang.org/x/sys/unix"
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
	wakeR    int         // read end of the wake-up pipe (owner goroutine only)
	wakeW    int         // write end: Post writes a byte when none is pending
	waking   atomic.Bool // a wake-up byte is pending
	done     chan struct{}
	exited   chan struct{} // closed when the owner goroutine returns
	sendErrs atomic.Uint64

	// mu guards closed. Post holds it shared while it enqueues and wakes the
	// owner, so once Close has set closed no value can slip into the mailbox
	// after the owner's last drain, and no wake-up byte is written to a
	// closed pipe.
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
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		return nil, fmt.Errorf("zsock: wake-up pipe: %w", err)
	}
	for _, fd := range p {
		unix.CloseOnExec(fd)
		unix.SetNonblock(fd, true)
	}
	l := &Loop[M]{
		linger: cfg.CloseLinger,
		mail:   make(chan M, cfg.Mailbox),
		wakeR:  p[0],
		wakeW:  p[1],
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
	l.wake()
	return nil
}

// wake makes the owner's poll return, unless a wake-up is already pending.
// The owner empties the pipe before it clears the flag and drains the
// mailbox, so a value posted after the drain began always writes a byte.
func (l *Loop[M]) wake() {
	if l.waking.CompareAndSwap(false, true) {
		unix.Write(l.wakeW, []byte{1}) // a full pipe holds a wake-up already
	}
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
	l.waking.Store(false)
	l.wake()
	<-l.exited
	unix.Close(l.wakeR)
	unix.Close(l.wakeW)
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
	zfd, err := sock.GetFd()
	if err != nil {
		ready <- err
		return
	}
	fds := []unix.PollFd{{Fd: int32(zfd), Events: unix.POLLIN}, {Fd: int32(l.wakeR), Events: unix.POLLIN}}
	if mon != nil { // the PAIR end of the socket's monitor, also ours
		defer mon.Close() // before the socket closes: its last events are not needed
		mfd, _ := mon.GetFd()
		fds = append(fds, unix.PollFd{Fd: int32(mfd), Events: unix.POLLIN})
	}
	ready <- nil

	var drain [64]byte
	var nextTick time.Time
	if cfg.Tick > 0 {
		nextTick = time.Now().Add(cfg.Tick)
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
		// Empty the pipe, then clear the flag, then drain: a Post that
		// finds the flag clear writes a byte this poll will see.
		for {
			if n, _ := unix.Read(l.wakeR, drain[:]); n <= 0 {
				break
			}
		}
		l.waking.Store(false)
		select {
		case <-l.done:
			// Close has made Post fail: this drain is the last.
			l.drainMail(h, -1)
			return
		default:
		}
		l.drainMail(h, cap(l.mail))
		if cfg.Tick > 0 {
			if now := time.Now(); !now.Before(nextTick) {
				h.Tick(now)
				nextTick = now.Add(cfg.Tick)
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
		timeout := -1
		if cfg.Tick > 0 {
			// poll(2) counts whole milliseconds: round up, never spin.
			timeout = int((max(time.Until(nextTick), 0) + time.Millisecond - 1) / time.Millisecond)
		}
		if _, err := unix.Poll(fds, timeout); err != nil && err != unix.EINTR {
			time.Sleep(time.Millisecond) // not expected; never spin
		}
	}
}

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
