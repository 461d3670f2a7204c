package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/gannet-ml/gannet/client"
	"github.com/gannet-ml/gannet/wire"
)

// server is the frontend's side of the client protocol on a real ROUTER
// socket: it answers each REQUEST by echoing its inputs as outputs, fails
// the model "broken", and holds requests for "slow" until told.
type server struct {
	t        *testing.T
	endpoint string
	release  chan struct{}
	done     chan struct{}
}

func startServer(t *testing.T) *server {
	s := &server{t: t, release: make(chan struct{}), done: make(chan struct{})}
	sock, err := zmq.NewSocket(zmq.ROUTER)
	if err != nil {
		t.Fatal(err)
	}
	sock.SetLinger(0)
	sock.SetRcvtimeo(20 * time.Millisecond)
	if err := sock.Bind("tcp://127.0.0.1:*"); err != nil {
		t.Fatal(err)
	}
	s.endpoint, _ = sock.GetLastEndpoint()
	stop := make(chan struct{})
	go func() { // the socket's one goroutine
		defer close(s.done)
		defer sock.Close()
		send := func(frames [][]byte) {
			parts := make([]any, len(frames))
			for i := range frames {
				parts[i] = frames[i]
			}
			sock.SendMessage(parts...)
		}
		var held [][][]byte
		for {
			select {
			case <-stop:
				return
			case <-s.release:
				for _, h := range held {
					send(h)
				}
				held = nil
			default:
			}
			frames, err := sock.RecvMessageBytes(0)
			if err != nil {
				continue
			}
			m, err := wire.DecodeClient(frames[1:], 0)
			if err != nil {
				t.Error(err)
				continue
			}
			r := m.(*wire.Request)
			var reply wire.ClientMessage = &wire.Response{ID: r.ID, Model: r.Model, Version: "1", Outputs: r.Inputs}
			if r.Model == "broken" {
				reply = &wire.Failure{ID: r.ID, Kind: wire.KindInternal, Message: "model broken"}
			}
			out := reply.AppendFrames([][]byte{frames[0]})
			if r.Model == "slow" {
				held = append(held, out)
				continue
			}
			send(out)
		}
	}()
	t.Cleanup(func() { close(stop); <-s.done })
	return s
}

func u8(name string, vals ...byte) client.Tensor {
	return client.Tensor{Name: name, DataType: wire.TypeUint8, Shape: []int64{int64(len(vals))}, Data: vals}
}

func TestConcurrentInferGetsItsOwnAnswer(t *testing.T) {
	s := startServer(t)
	c, err := client.Dial(context.Background(), s.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				outs, err := c.Infer(ctx, "echo", []client.Tensor{u8("x", byte(g), byte(i))})
				cancel()
				if err != nil {
					t.Error(err)
					return
				}
				if len(outs) != 1 || outs[0].Data[0] != byte(g) || outs[0].Data[1] != byte(i) {
					t.Errorf("goroutine %d request %d got %v", g, i, outs)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestServerErrorIsTyped(t *testing.T) {
	s := startServer(t)
	c, _ := client.Dial(context.Background(), s.endpoint)
	defer c.Close()
	_, err := c.Infer(context.Background(), "broken", []client.Tensor{u8("x", 1)})
	var e *client.Error
	if !errors.As(err, &e) || e.Kind != wire.KindInternal || e.Msg != "model broken" {
		t.Fatalf("err = %v", err)
	}
}

func TestMalformedTensorFailsAtOnce(t *testing.T) {
	s := startServer(t)
	c, _ := client.Dial(context.Background(), s.endpoint)
	defer c.Close()
	bad := client.Tensor{Name: "x", DataType: wire.TypeFP32, Shape: []int64{2, 2}, Data: make([]byte, 12)}
	_, err := c.Infer(context.Background(), "echo", []client.Tensor{bad}) // no deadline: must not hang
	var e *client.Error
	if !errors.As(err, &e) || e.Kind != wire.KindInvalid || !strings.Contains(e.Msg, "needs 16") {
		t.Fatalf("err = %v", err)
	}
}

func TestContextEndsTheWait(t *testing.T) {
	s := startServer(t)
	c, _ := client.Dial(context.Background(), s.endpoint)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Infer(ctx, "slow", []client.Tensor{u8("x", 1)}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's", err)
	}
	close(s.release) // the late answer arrives and is dropped
	outs, err := c.Infer(context.Background(), "echo", []client.Tensor{u8("x", 7)})
	if err != nil || outs[0].Data[0] != 7 {
		t.Fatalf("after a late answer: %v %v", outs, err)
	}
}

func TestCloseFailsPendingAndLaterCalls(t *testing.T) {
	s := startServer(t)
	c, _ := client.Dial(context.Background(), s.endpoint)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Infer(context.Background(), "slow", []client.Tensor{u8("x", 1)})
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the request be sent
	c.Close()
	if err := <-errc; !errors.Is(err, client.ErrClosed) {
		t.Fatalf("pending Infer after Close: %v", err)
	}
	if _, err := c.Infer(context.Background(), "echo", nil); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Infer after Close: %v", err)
	}
}

// Example shows one inference against a running `gannet serve`.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "tcp://localhost:5555")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	image := client.Tensor{
		Name:     "input",
		DataType: wire.TypeFP32,
		Shape:    []int64{1, 1, 28, 28},
		Data:     make([]byte, 4*28*28), // little-endian float32 pixels / 255
	}
	outs, err := c.Infer(ctx, "fashion-mnist-cnn", []client.Tensor{image})
	if err != nil {
		fmt.Println(err) // a *client.Error from the server, or ctx.Err()
		return
	}
	fmt.Println(outs[0].Name, outs[0].Shape) // logits [1 10]
}
