//go:build linux

package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTheWaitToBeReadCountsAgainstTheSLO pipelines two requests on one
// connection, in one write: one to a model that takes 150 ms, then one to
// a model with a 20 ms SLO. The second waits in the server's buffer for
// the first to be answered. Its SLO runs from when the kernel received it,
// so it is refused at once, saying how long it waited to be read, not run
// 150 ms late; the same request sent alone is answered. The wait shows in
// gannet_request_intake_seconds.
func TestTheWaitToBeReadCountsAgainstTheSLO(t *testing.T) {
	dir := t.TempDir()
	for name, cfg := range map[string]string{
		"slow": "platform: synthetic\nsynthetic: {base: 150ms, per_item: 0ms}\ninput: {name: x, datatype: FP32, shape: [-1, 4]}\nmax_batch_size: 4\nslo: 10s at p99\n",
		"fast": "platform: synthetic\nsynthetic: {base: 1ms, per_item: 0ms}\ninput: {name: x, datatype: FP32, shape: [-1, 4]}\nmax_batch_size: 4\nslo: 20ms at p99\n",
	} {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "config.yaml"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	in := startServe(t, "--model-repository", dir)
	in.waitReady(t)
	body := `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`
	request := func(model string) string {
		return "POST /v2/models/" + model + "/infer HTTP/1.1\r\nHost: gannet\r\nContent-Type: application/json\r\n" +
			"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}

	c, err := net.Dial("tcp", strings.TrimPrefix(in.http, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	// Alone, the fast model answers well within its SLO. (This also has the
	// server accept the connection and turn on its timestamps before the
	// bytes below arrive.)
	if _, err := io.WriteString(c, request("fast")); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.ReadResponse(r, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("fast alone: %v, %v", resp, err)
	} else {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	if _, err := io.WriteString(c, request("slow")+request("fast")); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{200, 503} {
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("pipelined request %d: %d %s, want %d", i+1, resp.StatusCode, b, want)
		}
		if want == 503 && (!strings.Contains(string(b), "deadline passed on arrival") || !strings.Contains(string(b), "to be read")) {
			t.Fatalf("refusal %s: want it to say the deadline passed while the request waited to be read", b)
		}
	}

	m := scrape(t, in)
	fast := map[string]string{"model": "fast"}
	if n, s := value(m, "gannet_request_intake_seconds", fast), sum(m, "gannet_request_intake_seconds", fast); n != 2 || s < 0.1 {
		t.Fatalf("gannet_request_intake_seconds{model=fast}: %v requests, %vs in all; want 2, one of them about 150ms", n, s)
	}
}
