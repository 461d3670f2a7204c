// Command rttfloor measures the least latency one request can have on
// this host at a low rate: a fasthttp server that does no work, in a
// second process, asked over loopback TCP at one request per --gap, with
// the client spinning (not sleeping) before each send as
// `gannet bench --spin` does. Its p50 is the floor under any served
// request's p50 here, whatever the server does: issue 5's serving
// overhead (part d of `make bench`) is measured the same way, at 10
// requests/s. With --url it asks that server instead (for example
// http://127.0.0.1:8000/v2/health/live on `gannet serve`), which gives
// the floor of that server's HTTP stack.
//
// With --serve it is only that server, for load from `gannet bench`
// (--get-body gives it a model's metadata), which gives the CPU the
// generator and an HTTP server that does nothing take per request.
//
// With --zmq it measures the same over ZeroMQ (the SDK's transport): a
// REP socket in the child echoes a REQ socket's messages.
//
// Usage: go run ./cmd/rttfloor [--gap 100ms] [--n 100] [--url URL | --zmq]
//
//	go run ./cmd/rttfloor --serve 127.0.0.1:9000 [--get-body FILE]
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/valyala/fasthttp"

	"github.com/gannet-ml/gannet/internal/loadgen"
)

func main() {
	gap := flag.Duration("gap", 100*time.Millisecond, "time between requests (10 requests/s, as make bench's part d)")
	n := flag.Int("n", 100, "requests measured")
	url := flag.String("url", "", "server to ask (default: start one that does no work, in a child process)")
	serve := flag.String("serve", "", "only serve, on this listener address (printed), until killed")
	getBody := flag.String("get-body", "", "with --serve: answer GET requests with this file (e.g. a model's metadata from curl, so that gannet bench can load the server)")
	zmqFloor := flag.Bool("zmq", false, "ZeroMQ instead of HTTP: a REP socket that echoes, asked from a REQ socket (the SDK's transport)")
	serveZMQ := flag.Bool("serve-zmq", false, "internal: the --zmq server child")
	flag.Parse()
	if *n < 1 {
		fmt.Fprintln(os.Stderr, "rttfloor: --n must be at least 1")
		os.Exit(2)
	}
	var (
		what string
		lat  []int64
		err  error
	)
	switch {
	case *serveZMQ:
		err = echoZMQ()
	case *serve != "":
		serveNothing(*serve, *getBody)
		return
	case *zmqFloor:
		what, lat, err = runZMQ(*gap, *n)
	default:
		what, lat, err = run(*gap, *n, *url)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rttfloor:", err)
		os.Exit(1)
	}
	report(what, *gap, lat)
}

// serveNothing answers every request with 200 and an empty body, or a
// GET with the contents of getBody when set.
func serveNothing(addr, getBody string) {
	var body []byte
	if getBody != "" {
		b, err := os.ReadFile(getBody)
		if err != nil {
			fmt.Fprintln(os.Stderr, "rttfloor:", err)
			os.Exit(1)
		}
		body = b
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rttfloor:", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr())
	s := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) {
		if body != nil && c.IsGet() {
			c.SetBody(body)
		}
	}}
	if err := s.Serve(ln); err != nil {
		os.Exit(1)
	}
}

// startChild starts this program with args and returns the address it
// prints first, and a function that stops it.
func startChild(args ...string) (string, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	child := exec.Command(self, args...)
	child.Stderr = os.Stderr
	child.SysProcAttr = dieWithParent()
	out, err := child.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := child.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { child.Process.Kill(); child.Wait() }
	var addr string
	if _, err := fmt.Fscanln(out, &addr); err != nil {
		stop()
		return "", nil, fmt.Errorf("server child: %w", err)
	}
	return addr, stop, nil
}

// pace waits until next: sleeping to a millisecond before, then spinning.
func pace(next time.Time) {
	if d := time.Until(next) - time.Millisecond; d > 0 {
		time.Sleep(d)
	}
	for time.Now().Before(next) {
	}
}

// report prints the quantiles of lat (sorted, ns).
func report(what string, gap time.Duration, lat []int64) {
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	fmt.Printf("%s every %v, %d requests: p50 %.0f us, p90 %.0f us, min %.0f us\n", what, gap, len(lat),
		us(loadgen.Percentile(lat, 0.5)), us(loadgen.Percentile(lat, 0.9)), us(lat[0]))
}

// measure calls ask n times, one call per gap after 5 unmeasured ones
// (connect, first touches), and returns their latencies in ns, sorted.
func measure(gap time.Duration, n int, ask func() error) ([]int64, error) {
	lat := make([]int64, 0, n)
	next := time.Now()
	for i := -5; i < n; i++ {
		next = next.Add(gap)
		pace(next)
		t0 := time.Now()
		if err := ask(); err != nil {
			return nil, err
		}
		if i >= 0 {
			lat = append(lat, int64(time.Since(t0)))
		}
	}
	slices.Sort(lat)
	return lat, nil
}

// run asks url (or a child serving nothing) n times, one request per
// gap, and returns what it asked and the latencies (measure's).
func run(gap time.Duration, n int, url string) (string, []int64, error) {
	if url == "" {
		addr, stop, err := startChild("--serve", "127.0.0.1:0")
		if err != nil {
			return "", nil, err
		}
		defer stop()
		url = "http://" + addr + "/"
	}
	host := strings.TrimPrefix(url, "http://")
	host, _, _ = strings.Cut(host, "/")
	hc := &fasthttp.HostClient{Addr: host, MaxConns: 1}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI(url)
	lat, err := measure(gap, n, func() error {
		if err := hc.Do(req, resp); err != nil {
			return err
		}
		if resp.StatusCode() != fasthttp.StatusOK {
			return fmt.Errorf("%s: status %d", url, resp.StatusCode())
		}
		return nil
	})
	return url, lat, err
}

// echoZMQ binds a REP socket on a free loopback port, prints its
// endpoint, and echoes every message until killed.
func echoZMQ() error {
	s, err := zmq.NewSocket(zmq.REP)
	if err != nil {
		return err
	}
	if err := s.Bind("tcp://127.0.0.1:*"); err != nil {
		return err
	}
	ep, err := s.GetLastEndpoint()
	if err != nil {
		return err
	}
	fmt.Println(ep)
	for {
		msg, err := s.RecvBytes(0)
		if err != nil {
			return err
		}
		if _, err := s.SendBytes(msg, 0); err != nil {
			return err
		}
	}
}

// runZMQ asks a --serve-zmq child from a REQ socket, one 1-byte message
// per gap, blocking in libzmq (no goroutine hand-off on this side).
func runZMQ(gap time.Duration, n int) (string, []int64, error) {
	ep, stop, err := startChild("--serve-zmq")
	if err != nil {
		return "", nil, err
	}
	defer stop()
	s, err := zmq.NewSocket(zmq.REQ)
	if err != nil {
		return "", nil, err
	}
	defer s.Close()
	s.SetLinger(0)
	if err := s.Connect(ep); err != nil {
		return "", nil, err
	}
	msg := []byte{1}
	lat, err := measure(gap, n, func() error {
		if _, err := s.SendBytes(msg, 0); err != nil {
			return err
		}
		_, err := s.RecvBytes(0)
		return err
	})
	return ep, lat, err
}
