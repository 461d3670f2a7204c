package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gannet-ml/gannet/client"
	"github.com/gannet-ml/gannet/wire"
)

// TestBadInput sends each malformed request of Triton's own hardening
// tests (and a few more) to a real server: each gets its 4xx with an
// {"error": ...} naming the problem, and the server stays live.
func TestBadInput(t *testing.T) {
	in := startServe(t, "--max-request-bytes", "1048576", "--http-read-timeout", "1s")
	in.waitReady(t)
	const mlp = "/v2/models/fashion-mnist-mlp/infer"
	image := func(shape, data string) string {
		return `{"inputs":[{"name":"input","shape":` + shape + `,"datatype":"FP32","data":` + data + `}]}`
	}
	zeros := "[" + strings.Repeat("0,", 783) + "0]"
	const binHeader = `{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","parameters":{"binary_data_size":3136}}]}`
	deep := strings.Repeat("[", 101) + strings.Repeat("]", 101)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(make([]byte, 4<<20)) // 4 MiB of zeros in a few KiB: over the 1 MiB limit once inflated
	zw.Close()
	tests := []struct {
		name   string
		path   string
		body   string
		header map[string]string
		code   int
		want   string // in the error message
	}{
		{"unknown model", "/v2/models/nope/infer", image("[1,1,28,28]", zeros), nil, 404, "unknown model"},
		{"unknown version", "/v2/models/fashion-mnist-mlp/versions/7/infer", image("[1,1,28,28]", zeros), nil, 404, "no version \"7\""},
		{"bad JSON", mlp, `{"inputs":[{"name":`, nil, 400, "truncated JSON"},
		{"not an object", mlp, `[1,2,3]`, nil, 400, "object"},
		{"unknown datatype", mlp, `{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP33","data":` + zeros + `}]}`, nil, 400, "FP33"},
		{"wrong datatype", mlp, `{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP64","data":` + zeros + `}]}`, nil, 400, "expects FP32"},
		{"count does not match shape", mlp, image("[1,1,28,28]", "[1,2,3]"), nil, 400, "784"},
		{"shape does not fit the model", mlp, image("[1,784]", zeros), nil, 400, "expects [-1,1,28,28]"},
		{"negative dimension", mlp, image("[1,-1,28,28]", zeros), nil, 400, "negative"},
		{"overflowing dimensions", mlp, image("[16,1152921504606846978]", "[]"), nil, 400, "exceeds"},
		{"batch over max_batch_size", mlp, image("[33,1,28,28]", "["+strings.Repeat("0,", 33*784-1)+"0]"), nil, 400, "batch size 33, the model takes 1 to 32"},
		{"unknown input", mlp, `{"inputs":[{"name":"pixels","shape":[1,1,28,28],"datatype":"FP32","data":` + zeros + `}]}`, nil, 400, "no input \"pixels\""},
		{"no inputs", mlp, `{"id":"x"}`, nil, 400, "inputs"},
		{"JSON nested deeper than 100", mlp, `{"inputs":[{"name":"input","shape":[1],"datatype":"FP32","data":` + deep + `}]}`, nil, 400, "depth"},
		{"duplicate output names", mlp, `{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","data":` + zeros + `}],"outputs":[{"name":"logits"},{"name":"logits"}]}`, nil, 400, "logits"},
		{"unknown output", mlp, `{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","data":` + zeros + `}],"outputs":[{"name":"probs"}]}`, nil, 400, "no output \"probs\""},
		{"parameter object value", mlp, `{"parameters":{"timeout":{"x":1}},"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","data":` + zeros + `}]}`, nil, 400, "timeout"},
		{"header length larger than body", mlp, `{"inputs":[]}`, map[string]string{"Inference-Header-Content-Length": "1000"}, 400, "Inference-Header-Content-Length"},
		{"absurd header length", mlp, `{"inputs":[]}`, map[string]string{"Inference-Header-Content-Length": "99999999999"}, 400, "Inference-Header-Content-Length"},
		{"negative header length", mlp, `{"inputs":[]}`, map[string]string{"Inference-Header-Content-Length": "-5"}, 400, "Inference-Header-Content-Length"},
		{"binary size mismatch", mlp, binHeader + "abcd", // 4 bytes where 3136 are declared
			map[string]string{"Inference-Header-Content-Length": strconv.Itoa(len(binHeader))}, 400, "binary"},
		{"gzip bomb", mlp, gz.String(), map[string]string{"Content-Encoding": "gzip"}, 413, "limit"},
		{"corrupt gzip", mlp, "\x1f\x8b\x08\x00garbage", map[string]string{"Content-Encoding": "gzip"}, 400, "gzip"},
		{"GET on infer", "", "", nil, 405, "POST"},
		{"unknown endpoint", "/v3/whatever", "{}", nil, 404, "no such endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var code int
			var body []byte
			var header http.Header
			if tt.path == "" {
				resp, err := http.Get(in.http + mlp)
				if err != nil {
					t.Fatal(err)
				}
				body, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				code, header = resp.StatusCode, resp.Header
			} else {
				code, header, body = in.post(t, tt.path, []byte(tt.body), tt.header)
			}
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
				t.Errorf("body %q is not {\"error\": ...}", body)
			}
			if code != tt.code || !strings.Contains(e.Error, tt.want) {
				t.Errorf("got %d %q; want %d with %q", code, e.Error, tt.code, tt.want)
			}
			if ct := header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			in.live(t)
		})
	}
	t.Run("body over the limit", func(t *testing.T) {
		// The server answers as soon as it reads Content-Length and closes
		// the connection, so send the headers alone and read the answer.
		conn, err := net.Dial("tcp", strings.TrimPrefix(in.http, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", mlp, 2<<20)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 413 || !strings.Contains(string(body), `"error":"request body exceeds the limit of 1048576 bytes`) {
			t.Errorf("got %d %s; want 413 with a JSON error", resp.StatusCode, body)
		}
		in.live(t)
	})
	// A connection that never sends a request is closed without an answer
	// (a 400 there reached Go's http.Transport as an "unsolicited
	// response" on a connection it held idle); one that stops mid-request
	// gets 408.
	for _, tt := range []struct {
		name, send string
		code       int
	}{
		{"silent connection", "", 0},
		{"request cut short", "POST " + mlp + " HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{", 408},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(in.http, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			io.WriteString(conn, tt.send)
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(conn)
			if err != nil {
				t.Fatalf("read: %v (the server should have closed the connection after 1 s)", err)
			}
			if tt.code == 0 {
				if len(got) != 0 {
					t.Errorf("the server wrote %q; want the connection closed without an answer", got)
				}
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(got)), nil)
			if err != nil {
				t.Fatalf("%q: %v", got, err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code || !strings.Contains(string(body), `{"error":"the request did not arrive in full in time"}`) {
				t.Errorf("got %d %s; want %d with a JSON error", resp.StatusCode, body, tt.code)
			}
		})
	}
	in.live(t)
}

// TestBadInputSDK sends malformed requests over the ZeroMQ client endpoint:
// each gets a typed error and the server stays live.
func TestBadInputSDK(t *testing.T) {
	in := startServe(t)
	in.waitReady(t)
	c := in.dial(t)
	good := fp32Tensor("input", []int64{1, 1, 28, 28}, make([]float32, 784))
	tests := []struct {
		name   string
		model  string
		inputs []client.Tensor
		opts   []client.InferOption
		kind   wire.Kind
		want   string
	}{
		{"unknown model", "nope", []client.Tensor{good}, nil, wire.KindNotFound, "unknown model"},
		{"wrong shape", "fashion-mnist-mlp", []client.Tensor{fp32Tensor("input", []int64{1, 784}, make([]float32, 784))}, nil, wire.KindInvalid, "shape"},
		{"no inputs", "fashion-mnist-mlp", nil, nil, wire.KindInvalid, "expects 1 inputs"},
		{"unknown output", "fashion-mnist-mlp", []client.Tensor{good}, []client.InferOption{client.WithOutputs("probs")}, wire.KindInvalid, "no output"},
		{"duplicate outputs", "fashion-mnist-mlp", []client.Tensor{good}, []client.InferOption{client.WithOutputs("logits", "logits")}, wire.KindInvalid, "more than once"},
		{"unknown version", "fashion-mnist-mlp", []client.Tensor{good}, []client.InferOption{client.WithVersion("3")}, wire.KindNotFound, "version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Infer(withTimeout(t, 10*time.Second), tt.model, tt.inputs, tt.opts...)
			e, ok := err.(*client.Error)
			if !ok || e.Kind != tt.kind || !strings.Contains(e.Msg, tt.want) {
				t.Fatalf("err = %v; want kind %v with %q", err, tt.kind, tt.want)
			}
			in.live(t)
		})
	}
	// After all that, a good request still works.
	outs, err := c.Infer(withTimeout(t, 10*time.Second), "fashion-mnist-mlp", []client.Tensor{good})
	if err != nil || len(outs) != 1 {
		t.Fatalf("good request after bad ones: %v %v", outs, err)
	}
}
