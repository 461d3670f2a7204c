package worker

import (
	"sync"
	"sync/atomic"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/gannet-ml/gannet/internal/zsock"
	"github.com/gannet-ml/gannet/wire"
)

// session is one connection to the frontend: one DEALER socket in a
// zsock.Loop, from HELLO until the frontend is lost or says DISCONNECT.
type session struct {
	cfg   Config
	dev   *device
	id    uint64
	loop  *zsock.Loop[wire.WorkerMessage]
	ended chan struct{} // closed when the session is over

	lastSeen time.Time     // loop goroutine only
	liveFor  time.Duration // loop goroutine only: silence that means the frontend is dead

	mu      sync.Mutex // guards closing and pending
	closing bool       // no new batches
	pending int        // jobs submitted to the device and not yet done
	idle    *sync.Cond // signalled when pending drops to 0

	gotAny    atomic.Bool
	endOnce   sync.Once
	endReason atomic.Value // string
}

var sessionSeq atomic.Uint64

func startSession(cfg Config, dev *device) (*session, error) {
	s := &session{cfg: cfg, dev: dev, id: sessionSeq.Add(1), ended: make(chan struct{}), lastSeen: time.Now(),
		liveFor: time.Duration(cfg.Liveness) * cfg.Heartbeat}
	loop, err := zsock.Start[wire.WorkerMessage](zsock.Config{
		Type:    zmq.DEALER,
		Connect: cfg.Connect,
		Tick:    cfg.Heartbeat,
		Setup: func(sock *zmq.Socket) error {
			if cfg.SocketOptions != nil {
				if err := cfg.SocketOptions(sock); err != nil {
					return err
				}
			}
			return sock.SetMaxmsgsize(cfg.MaxMessageBytes)
		},
		CloseLinger: time.Second, // the goodbye DISCONNECT, even on a loaded machine
	}, (*sessionHandler)(s))
	if err != nil {
		return nil, err
	}
	s.loop = loop
	s.idle = sync.NewCond(&s.mu)
	loop.Post(&wire.Hello{
		WorkerID:    cfg.ID,
		Device:      dev.name,
		Capacity:    uint32(cfg.Capacity),
		Version:     cfg.Version,
		Model:       cfg.Model,
		HeartbeatMS: uint32(cfg.Heartbeat / time.Millisecond),
		Cached:      dev.cached(),
	})
	return s, nil
}

// send hands a message to the session's socket (from any goroutine).
func (s *session) send(m wire.WorkerMessage) { s.loop.Post(m) }

func (s *session) end(reason string) {
	s.endOnce.Do(func() {
		s.endReason.Store(reason)
		close(s.ended)
	})
}

func (s *session) reason() string {
	r, _ := s.endReason.Load().(string)
	return r
}

func (s *session) heard() bool { return s.gotAny.Load() }

// close closes the socket. With a bye, it first refuses new batches, waits
// for those accepted to be answered, and says DISCONNECT.
func (s *session) close(bye string) {
	s.mu.Lock()
	s.closing = true
	for bye != "" && s.pending > 0 {
		s.idle.Wait()
	}
	s.mu.Unlock()
	if bye != "" {
		s.loop.Post(&wire.Disconnect{Reason: bye})
	}
	s.loop.Close()
}

// accept counts a job for the device, unless the session is closing or
// the device is full.
func (s *session) accept(j job) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || !s.dev.submit(j) {
		return false
	}
	s.pending++
	return true
}

// finished is called by the device for each accepted job.
func (s *session) finished() {
	s.mu.Lock()
	s.pending--
	if s.pending == 0 {
		s.idle.Broadcast()
	}
	s.mu.Unlock()
}

// over reports whether the session has ended (its jobs need not run).
func (s *session) isOver() bool {
	select {
	case <-s.ended:
		return true
	default:
		return false
	}
}

type sessionHandler session

func (h *sessionHandler) s() *session { return (*session)(h) }

func (h *sessionHandler) Recv(frames [][]byte) {
	s := h.s()
	msg, err := wire.DecodeWorker(frames, s.cfg.MaxMessageBytes)
	if err != nil {
		s.cfg.Logger.Warn("malformed message from frontend", "err", err)
		return
	}
	s.lastSeen = time.Now()
	s.gotAny.Store(true)
	switch m := msg.(type) {
	case *wire.Load:
		// Judge the frontend by the slower of the two intervals.
		if hb := time.Duration(min(m.HeartbeatMS, 10_000)) * time.Millisecond; hb > s.cfg.Heartbeat {
			s.liveFor = time.Duration(s.cfg.Liveness) * hb
		}
		if !s.accept(job{session: s, load: m}) {
			s.loop.Send((&wire.Loaded{Model: m.Model, Digest: m.Digest, Kind: wire.KindUnavailable,
				Message: "worker " + s.cfg.ID + " is busy or shutting down"}).AppendFrames(nil))
		}
	case *wire.Batch:
		if !s.accept(job{session: s, batch: m}) {
			s.loop.Send((&wire.BatchError{ID: m.ID, Kind: wire.KindUnavailable,
				Message: "worker " + s.cfg.ID + " is over capacity or shutting down"}).AppendFrames(nil))
		}
	case *wire.Disconnect:
		s.end("frontend said DISCONNECT: " + m.Reason)
	case *wire.Heartbeat:
	default:
		s.cfg.Logger.Warn("unexpected command from frontend", "message", msg)
	}
}

func (h *sessionHandler) Mail(m wire.WorkerMessage) {
	s := h.s()
	if err := s.loop.Send(m.AppendFrames(nil)); err != nil {
		s.cfg.Logger.Warn("send to frontend failed", "err", err)
	}
}

func (h *sessionHandler) Tick(now time.Time) {
	s := h.s()
	if now.Sub(s.lastSeen) > s.liveFor {
		s.end("no heartbeat from the frontend for " + now.Sub(s.lastSeen).Round(time.Millisecond).String())
		return
	}
	s.loop.Send((&wire.Heartbeat{}).AppendFrames(nil))
}
