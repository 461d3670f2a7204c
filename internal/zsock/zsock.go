// Package zsock runs one ZeroMQ socket in one owner goroutine.
//
// libzmq sockets are not safe for concurrent use: a Loop creates its socket,
// uses it and closes it on a single goroutine for the socket's whole life.
// Other goroutines reach it through Post, which puts a value in a bounded
// mailbox and wakes the owner through an inproc PUSH/PULL pair. The PUSH end
// belongs to a second goroutine (the waker), so no socket is ever touched by
// two goroutines. Handler methods run on the owner goroutine and may call
// Send; nothing else may.
//
// Post and Close are safe for concurrent use. Close stops both goroutines,
// closes both sockets and waits for them.
package zsock

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
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
	// 0 means no limit. Send never blocks, so a message over the mark would
	// be lost: callers bound what they have in flight instead (worker
	// capacity, requests in flight), which bounds the queues too.
	SendHWM int
}

// Validate reports a config that cannot work.
func (c *Config) Validate() error {
	if (c.Bind == "") == (c.Connect == "") {
		return errors.New("zsock: exactly one of Bind and Connect must be set")
	}
	if c.Tick < 0 || c.Mailbox < 0 {
		return errors.New("zsock: negative Tick or Mailbox")
	}
	return nil
}

// ErrClosed is returned by Post after Close.
var ErrClosed = errors.New("zsock: loop closed")

var wakeSeq atomic.Uint64

// Loop owns one socket. Create it with Start.
type Loop[M any] struct {
	sock     *zmq.Socket // owner goroutine only
	endpoint string      // the bound or connected endpoint, resolved
	mail     chan M
	wake     chan struct{} // cap 1: a wake-up is pending
	done     chan struct{} // closed by Close
	wg       sync.WaitGroup
	closeMu  sync.Once
	sendErrs atomic.Uint64
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
		mail: make(chan M, cfg.Mailbox),
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	wakeAddr := fmt.Sprintf("inproc://zsock-wake-%d", wakeSeq.Add(1))
	ready := make(chan error, 1)
	pullBound := make(chan struct{})
	l.wg.Add(2)
	go l.run(cfg, h, wakeAddr, ready, pullBound)
	go l.waker(wakeAddr, pullBound)
	if err := <-ready; err != nil {
		l.Close() // stops the waker
		return nil, err
	}
	return l, nil
}

// Endpoint is the socket's endpoint as libzmq reports it (a bound
// "tcp://*:0" becomes the real port).
func (l *Loop[M]) Endpoint() string { return l.endpoint }

// Post gives m to the owner goroutine. It blocks while the mailbox is full
// and fails after Close.
func (l *Loop[M]) Post(m M) error {
	select {
	case <-l.done:
		return ErrClosed
	default:
	}
	select {
	case l.mail <- m:
	case <-l.done:
		return ErrClosed
	}
	select {
	case l.wake <- struct{}{}:
	default: // a wake-up is already pending; it will find m
	}
	return nil
}

// Close stops the loop, closes its sockets and waits for its goroutines.
// Values posted before Close are still handed to Mail first.
func (l *Loop[M]) Close() {
	l.closeMu.Do(func() { close(l.done) })
	l.wg.Wait()
}

// Send sends frames as one message. Only Handler methods (the owner
// goroutine) may call it. It does not block: a peer that cannot take the
// message (unroutable with ROUTER_MANDATORY, or at its high-water mark)
// makes it fail.
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

// waker owns the PUSH end of the wake-up pair.
func (l *Loop[M]) waker(addr string, pullBound <-chan struct{}) {
	defer l.wg.Done()
	select {
	case <-pullBound:
	case <-l.done:
		return
	}
	push, err := zmq.NewSocket(zmq.PUSH)
	if err != nil {
		return
	}
	defer push.Close()
	push.SetLinger(0)
	push.SetSndhwm(1) // one pending wake-up is enough
	if err := push.Connect(addr); err != nil {
		return
	}
	for {
		select {
		case <-l.wake:
			push.SendBytes(nil, zmq.DONTWAIT) // a full pipe already holds a wake-up
		case <-l.done:
			// Wake the owner so it sees done.
			push.SendBytes(nil, zmq.DONTWAIT)
			return
		}
	}
}

func (l *Loop[M]) run(cfg Config, h Handler[M], wakeAddr string, ready chan<- error, pullBound chan<- struct{}) {
	defer l.wg.Done()
	pull, err := zmq.NewSocket(zmq.PULL)
	if err != nil {
		close(pullBound)
		ready <- err
		return
	}
	defer pull.Close()
	pull.SetLinger(0)
	if err := pull.Bind(wakeAddr); err != nil {
		close(pullBound)
		ready <- err
		return
	}
	close(pullBound)

	sock, err := l.open(cfg)
	if err != nil {
		ready <- err
		return
	}
	defer sock.Close()
	l.sock = sock
	ready <- nil

	poller := zmq.NewPoller()
	poller.Add(sock, zmq.POLLIN)
	poller.Add(pull, zmq.POLLIN)
	var nextTick time.Time
	if cfg.Tick > 0 {
		nextTick = time.Now().Add(cfg.Tick)
	}
	for {
		timeout := time.Duration(-1)
		if cfg.Tick > 0 {
			// libzmq polls in whole milliseconds: round up, never spin.
			timeout = max(time.Until(nextTick), 0).Round(time.Millisecond) + time.Millisecond
		}
		polled, err := poller.PollAll(timeout)
		if err != nil && zmq.AsErrno(err) != zmq.Errno(syscall.EINTR) {
			return // the socket is unusable; Close will find the loop gone
		}
		if len(polled) == 2 {
			if polled[0].Events&zmq.POLLIN != 0 {
				l.recvAll(sock, h)
			}
			if polled[1].Events&zmq.POLLIN != 0 {
				for {
					if _, err := pull.RecvBytes(zmq.DONTWAIT); err != nil {
						break
					}
				}
			}
		}
		select {
		case <-l.done:
			l.drainMail(h) // what was posted before Close still runs
			return
		default:
		}
		l.drainMail(h)
		if cfg.Tick > 0 {
			if now := time.Now(); !now.Before(nextTick) {
				h.Tick(now)
				nextTick = now.Add(cfg.Tick)
			}
		}
	}
}

func (l *Loop[M]) open(cfg Config) (*zmq.Socket, error) {
	sock, err := zmq.NewSocket(cfg.Type)
	if err != nil {
		return nil, err
	}
	err = sock.SetLinger(0)
	if err == nil {
		err = sock.SetSndhwm(cfg.SendHWM)
	}
	if err == nil && cfg.Setup != nil {
		err = cfg.Setup(sock)
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
		sock.Close()
		return nil, fmt.Errorf("zsock: %s %s: %w", cfg.Type, cfg.Bind+cfg.Connect, err)
	}
	return sock, nil
}

// recvAll reads what is ready, in a bounded burst so mail is not starved.
func (l *Loop[M]) recvAll(sock *zmq.Socket, h Handler[M]) {
	for range 256 {
		frames, err := sock.RecvMessageBytes(zmq.DONTWAIT)
		if err != nil {
			return
		}
		h.Recv(frames)
	}
}

func (l *Loop[M]) drainMail(h Handler[M]) {
	for range cap(l.mail) {
		select {
		case m := <-l.mail:
			h.Mail(m)
		default:
			return
		}
	}
}
