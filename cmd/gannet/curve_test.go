package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gannet-ml/gannet/client"
)

// keygen runs `gannet keygen --out dir/name` and returns the public key.
func keygen(t *testing.T, dir, name string) string {
	t.Helper()
	out, err := exec.Command(gannetBinary(t), "keygen", "--out", filepath.Join(dir, name)).CombinedOutput()
	if err != nil {
		t.Fatalf("keygen: %v %s", err, out)
	}
	pub, err := os.ReadFile(filepath.Join(dir, name+".pub"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, name+".key")); fi.Mode().Perm() != 0o600 {
		t.Errorf("secret key file mode %v", fi.Mode().Perm())
	}
	return strings.TrimSpace(string(pub))
}

func secret(t *testing.T, dir, name string) string {
	b, err := os.ReadFile(filepath.Join(dir, name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestCurve secures both ZeroMQ endpoints: workers and SDK clients whose
// public key is authorized get in; unknown keys, and clients without CURVE,
// never get an answer or a model.
func TestCurve(t *testing.T) {
	dir := t.TempDir()
	serverPub := keygen(t, dir, "server")
	workerPub := keygen(t, dir, "worker")
	clientPub := keygen(t, dir, "client")
	keygen(t, dir, "stranger")
	auth := filepath.Join(dir, "authorized")
	os.WriteFile(auth, []byte("# who may connect\n"+workerPub+" worker\n"+clientPub+" client\n"), 0o644)
	secure := []string{"--curve-secret-key", filepath.Join(dir, "server.key"), "--authorized-keys", auth}

	t.Run("clients", func(t *testing.T) {
		in := startServe(t, secure...) // local workers get keys of their own
		in.waitReady(t)
		image := fp32Tensor("input", []int64{1, 1, 28, 28}, make([]float32, 784))
		infer := func(opts client.Options, wait time.Duration) error {
			c, err := client.Dial(context.Background(), in.zmq, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			_, err = c.Infer(ctx, "fashion-mnist-mlp", []client.Tensor{image})
			return err
		}
		if err := infer(client.Options{CurveServerKey: serverPub, CurveSecretKey: secret(t, dir, "client")}, 10*time.Second); err != nil {
			t.Fatalf("authorized client: %v", err)
		}
		for name, opts := range map[string]client.Options{
			"unknown key":      {CurveServerKey: serverPub, CurveSecretKey: secret(t, dir, "stranger")},
			"no CURVE":         {},
			"wrong server key": {CurveServerKey: workerPub, CurveSecretKey: secret(t, dir, "client")},
		} {
			if err := infer(opts, time.Second); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: %v, want no answer at all", name, err)
			}
		}
		in.live(t)
	})

	t.Run("workers", func(t *testing.T) {
		in := startServe(t, append(secure, "--local-workers", "0")...)
		startWorker := func(key string) {
			w := exec.Command(gannetBinary(t), "worker", "--connect", in.workerAddr, "--model", "fashion-mnist-mlp",
				"--curve-server-key", serverPub, "--curve-secret-key", filepath.Join(dir, key+".key"))
			w.Stdout, w.Stderr = in.log, in.log
			if err := w.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { w.Process.Kill(); w.Wait() })
		}
		startWorker("stranger")
		time.Sleep(2 * time.Second) // several connection attempts
		in.waitStatus(t, "/v2/models/fashion-mnist-mlp/ready", 400, time.Second)
		if strings.Contains(in.log.String(), "worker joined") {
			t.Fatal("a worker with an unknown key joined")
		}
		startWorker("worker")
		in.waitStatus(t, "/v2/models/fashion-mnist-mlp/ready", 200, 30*time.Second)
		if code, _, body := in.post(t, "/v2/models/fashion-mnist-mlp/infer", jsonImage(make([]float32, 784)), nil); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
	})
}

// TestBearerToken: with --auth-token-file, HTTP requests need a listed
// token, except health checks.
func TestBearerToken(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(file, []byte("# clients\nsecret-token-number-one\nsecret-token-number-two\n"), 0o600)
	in := startServe(t, "--auth-token-file", file)
	in.waitReady(t) // health endpoints need no token
	path := "/v2/models/fashion-mnist-mlp/infer"
	body := jsonImage(make([]float32, 784))
	for _, h := range []map[string]string{nil, {"Authorization": "Bearer wrong-token-of-some-length"}, {"Authorization": "secret-token-number-one"}} {
		code, header, resp := in.post(t, path, body, h)
		if code != 401 || !strings.Contains(string(resp), "bearer token") || header.Get("WWW-Authenticate") == "" {
			t.Errorf("%v: %d %s", h, code, resp)
		}
	}
	for _, tok := range []string{"secret-token-number-one", "secret-token-number-two"} {
		if code, _, resp := in.post(t, path, body, map[string]string{"Authorization": "Bearer " + tok}); code != 200 {
			t.Errorf("token %s: %d %s", tok, code, resp)
		}
	}
	req, _ := http.NewRequest("GET", in.http+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("/metrics without a token: %d", resp.StatusCode)
	}
}
