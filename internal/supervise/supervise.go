// Package supervise keeps a child process running: it starts it, restarts
// it with exponential backoff when it exits, and stops it on request
// (SIGTERM, then SIGKILL after a grace period). On Linux the child also gets
// SIGTERM if the supervising process dies.
//
// A Process is safe for concurrent use.
package supervise

import (
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Config describes the child.
type Config struct {
	Name string   // for logs
	Path string   // executable
	Args []string // arguments, without the program name
	Env  []string // nil: inherit
	// MinBackoff and MaxBackoff bound the delay before a restart; the delay
	// doubles after each exit that comes sooner than MaxBackoff after the
	// start, and resets otherwise. 0 means 100ms and 5s.
	MinBackoff, MaxBackoff time.Duration
	// Stdout and Stderr of the child; nil means this process's.
	Stdout, Stderr *os.File
	Logger         *slog.Logger // nil: slog.Default()
}

// Validate reports a config that cannot work.
func (c *Config) Validate() error {
	if c.Path == "" {
		return errors.New("supervise: no executable")
	}
	if c.MinBackoff < 0 || c.MaxBackoff < 0 {
		return errors.New("supervise: negative backoff")
	}
	return nil
}

// Process is a supervised child.
type Process struct {
	cfg      Config
	stop     chan time.Duration // Stop's grace period
	exited   chan struct{}      // closed when the supervisor goroutine returns
	restarts atomic.Int64

	mu  sync.Mutex // guards cmd
	cmd *exec.Cmd  // the running child, or nil
}

// Start starts the child and its supervisor goroutine.
func Start(cfg Config) (*Process, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Process{cfg: cfg, stop: make(chan time.Duration, 1), exited: make(chan struct{})}
	exit, err := p.spawn()
	if err != nil {
		return nil, err
	}
	go p.supervise(exit)
	return p, nil
}

// Pid is the running child's process id, or 0.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Restarts counts restarts after the first start.
func (p *Process) Restarts() int64 { return p.restarts.Load() }

// Stop sends SIGTERM, waits up to grace for the child to exit, kills it if
// it has not, and waits for the supervisor to return. Calling it twice is
// harmless.
func (p *Process) Stop(grace time.Duration) {
	select {
	case p.stop <- grace:
	default:
	}
	<-p.exited
}

// StopAll stops processes at once (SIGTERM to all, then waits), so that
// their grace periods overlap.
func StopAll(ps []*Process, grace time.Duration) {
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Stop(grace)
		}()
	}
	wg.Wait()
}

func (p *Process) spawn() (<-chan error, error) {
	cmd := exec.Command(p.cfg.Path, p.cfg.Args...)
	cmd.Env = p.cfg.Env
	cmd.Stdout, cmd.Stderr = p.cfg.Stdout, p.cfg.Stderr
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.cmd = cmd
	p.mu.Unlock()
	exit := make(chan error, 1)
	go func() { exit <- cmd.Wait() }() // ends when the child exits; supervise waits for it
	return exit, nil
}

func (p *Process) supervise(exit <-chan error) {
	defer close(p.exited)
	backoff := p.cfg.MinBackoff
	started := time.Now()
	for {
		select {
		case grace := <-p.stop:
			p.terminate(exit, grace)
			return
		case err := <-exit:
			p.setCmd(nil)
			if time.Since(started) > p.cfg.MaxBackoff {
				backoff = p.cfg.MinBackoff
			}
			p.cfg.Logger.Warn("child exited; restarting", "child", p.cfg.Name, "err", err, "backoff", backoff)
			select {
			case <-time.After(backoff):
			case <-p.stop:
				return
			}
			backoff = min(2*backoff, p.cfg.MaxBackoff)
			var serr error
			for exit, serr = p.spawn(); serr != nil; exit, serr = p.spawn() {
				p.cfg.Logger.Error("cannot restart child", "child", p.cfg.Name, "err", serr)
				select {
				case <-time.After(p.cfg.MaxBackoff):
				case <-p.stop:
					return
				}
			}
			started = time.Now()
			p.restarts.Add(1)
		}
	}
}

func (p *Process) setCmd(c *exec.Cmd) {
	p.mu.Lock()
	p.cmd = c
	p.mu.Unlock()
}

func (p *Process) terminate(exit <-chan error, grace time.Duration) {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exit:
	case <-time.After(grace):
		cmd.Process.Kill()
		<-exit
	}
	p.setCmd(nil)
}
