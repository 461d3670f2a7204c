package main

// The integration tests build the real binary, start `gannet serve` (and
// its worker children) on free loopback ports, and talk to it over real
// HTTP and the real ZeroMQ SDK.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gannet-ml/gannet/client"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// gannetBinary builds cmd/gannet once per test run.
func gannetBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gannet-test-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "gannet")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

var (
	repoOnce sync.Once
	repoPath string
	repoErr  error
)

// plainRepository is the built-in model repository without the models'
// SLO. The tests of the fabric check that no request is lost or answered
// twice; with a 20ms SLO, a loaded 2-core machine running the race
// detector would shed some of their requests by design (TestRefusals
// tests that). startServe serves it unless told another repository.
func plainRepository(t testing.TB) string {
	t.Helper()
	repoOnce.Do(func() {
		repoPath, repoErr = os.MkdirTemp("", "gannet-test-repo")
		if repoErr != nil {
			return
		}
		repoErr = filepath.WalkDir("../../testdata/models", func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel("../../testdata/models", path)
			dst := filepath.Join(repoPath, rel)
			if d.IsDir() {
				return os.MkdirAll(dst, 0o755)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if d.Name() == "config.yaml" {
				var kept []string
				for _, line := range strings.Split(string(data), "\n") {
					if !strings.HasPrefix(line, "slo:") {
						kept = append(kept, line)
					}
				}
				data = []byte(strings.Join(kept, "\n"))
			}
			return os.WriteFile(dst, data, 0o644)
		})
	})
	if repoErr != nil {
		t.Fatal(repoErr)
	}
	return repoPath
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// instance is a running `gannet serve`.
type instance struct {
	ports      [3]int
	cmd        *exec.Cmd
	http       string // base URL
	zmq        string // client endpoint
	workerAddr string
	log        *syncBuffer
	exited     chan struct{}
	exitErr    error
	stopOnce   sync.Once
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe starts `gannet serve` with extra flags and waits until it is
// live. Cleanup sends SIGTERM and checks the exit status is 0.
func startServe(t testing.TB, extra ...string) *instance {
	t.Helper()
	return startServeOn(t, [3]int{freePort(t), freePort(t), freePort(t)}, extra...)
}

// startServeOn is startServe on given HTTP, SDK and worker ports.
func startServeOn(t testing.TB, ports [3]int, extra ...string) *instance {
	t.Helper()
	bin := gannetBinary(t)
	hp, zp, wp := ports[0], ports[1], ports[2]
	in := &instance{
		ports:      ports,
		http:       fmt.Sprintf("http://127.0.0.1:%d", hp),
		zmq:        fmt.Sprintf("tcp://127.0.0.1:%d", zp),
		workerAddr: fmt.Sprintf("tcp://127.0.0.1:%d", wp),
		log:        &syncBuffer{},
		exited:     make(chan struct{}),
	}
	args := append([]string{"serve",
		"--http-addr", fmt.Sprintf("127.0.0.1:%d", hp),
		"--zmq-addr", in.zmq,
		"--worker-addr", in.workerAddr,
	}, extra...)
	if !slices.Contains(extra, "--model-repository") {
		args = append(args, "--model-repository", plainRepository(t))
	}
	in.cmd = exec.Command(bin, args...)
	in.cmd.Stdout, in.cmd.Stderr = in.log, in.log
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		in.exitErr = in.cmd.Wait()
		close(in.exited)
	}()
	t.Cleanup(func() { in.stop(t) })
	in.waitStatus(t, "/v2/health/live", 200, 30*time.Second)
	return in
}

// kill kills the server with SIGKILL and waits for it; its cleanup then
// checks nothing.
func (in *instance) kill(t testing.TB) {
	in.stopOnce.Do(func() {
		in.cmd.Process.Kill()
		<-in.exited
	})
}

// stop sends SIGTERM and checks the server exits 0 within 30 s (once).
func (in *instance) stop(t testing.TB) {
	in.stopOnce.Do(func() {
		in.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-in.exited:
			if in.exitErr != nil {
				t.Errorf("gannet serve exited with %v; log:\n%s", in.exitErr, in.log)
			}
		case <-time.After(30 * time.Second):
			in.cmd.Process.Kill()
			t.Errorf("gannet serve did not exit within 30s of SIGTERM; log:\n%s", in.log)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", in.log)
		}
	})
}

// waitStatus polls a GET endpoint until it answers want.
func (in *instance) waitStatus(t testing.TB, path string, want int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		resp, err := http.Get(in.http + path)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		select {
		case <-in.exited:
			t.Fatalf("gannet serve exited (%v); log:\n%s", in.exitErr, in.log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s did not answer %d within %v (last: %v); log:\n%s", path, want, limit, err, in.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (in *instance) waitReady(t testing.TB) {
	in.waitStatus(t, "/v2/health/ready", 200, 60*time.Second)
}

// post sends an infer request and returns the status, headers and body.
func (in *instance) post(t testing.TB, path string, body []byte, header map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", in.http+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// live asserts the server still answers /v2/health/live.
func (in *instance) live(t testing.TB) {
	t.Helper()
	resp, err := http.Get(in.http + "/v2/health/live")
	if err != nil {
		t.Fatalf("server not live: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("live = %d", resp.StatusCode)
	}
}

// jsonImage is an OIP v2 JSON request for one 28x28 image.
func jsonImage(pixels []float32) []byte {
	var b strings.Builder
	b.WriteString(`{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","data":[`)
	for i, p := range pixels {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, p)
	}
	b.WriteString(`]}]}`)
	return []byte(b.String())
}

// binaryImage is the same request with the binary tensor extension, asking
// for binary outputs as Triton's clients do; it returns the body and the
// Inference-Header-Content-Length.
func binaryImage(pixels []float32) ([]byte, int) {
	hdr := `{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","parameters":{"binary_data_size":3136}}],"parameters":{"binary_data_output":true}}`
	body := []byte(hdr)
	for _, p := range pixels {
		body = binary.LittleEndian.AppendUint32(body, math.Float32bits(p))
	}
	return body, len(hdr)
}

type inferResponse struct {
	ModelName string `json:"model_name"`
	ID        string `json:"id"`
	Outputs   []struct {
		Name       string         `json:"name"`
		Datatype   string         `json:"datatype"`
		Shape      []int64        `json:"shape"`
		Data       []float32      `json:"data"`
		Parameters map[string]any `json:"parameters"`
	} `json:"outputs"`
}

// logitsOf decodes a JSON or binary response's single FP32 output.
func logitsOf(t testing.TB, header http.Header, body []byte) []float32 {
	t.Helper()
	jsonPart := body
	var bin []byte
	if h := header.Get("Inference-Header-Content-Length"); h != "" {
		var n int
		fmt.Sscan(h, &n)
		jsonPart, bin = body[:n], body[n:]
	}
	var r inferResponse
	if err := json.Unmarshal(jsonPart, &r); err != nil {
		t.Fatalf("response %q: %v", body, err)
	}
	if len(r.Outputs) != 1 || r.Outputs[0].Name != "logits" {
		t.Fatalf("outputs %+v", r.Outputs)
	}
	if bin == nil {
		return r.Outputs[0].Data
	}
	out := make([]float32, len(bin)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(bin[4*i:]))
	}
	return out
}

func argmax(v []float32) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}

func withTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func drain(resp *http.Response) {
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// dial connects an SDK client to the server; cleanup closes it.
func (in *instance) dial(t testing.TB) *client.Client {
	t.Helper()
	c, err := client.Dial(context.Background(), in.zmq)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
