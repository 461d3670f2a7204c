package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestMain runs the program itself when a test starts it as a child
// (startChild runs os.Executable, the test binary here).
func TestMain(m *testing.M) {
	if os.Getenv("RTTFLOOR_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestFloors: each floor starts its do-nothing server in a child process
// and measures every request it was asked for.
func TestFloors(t *testing.T) {
	t.Setenv("RTTFLOOR_AS_MAIN", "1")
	for name, floor := range map[string]func(time.Duration, int) (string, []int64, error){
		"http": func(gap time.Duration, n int) (string, []int64, error) { return run(gap, n, "") },
		"zmq":  runZMQ,
	} {
		what, lat, err := floor(time.Millisecond, 20)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(lat) != 20 || what == "" {
			t.Fatalf("%s: %q, %d latencies", name, what, len(lat))
		}
		for _, ns := range lat {
			if d := time.Duration(ns); d <= 0 || d > 10*time.Second {
				t.Errorf("%s: latency %v", name, d)
			}
		}
	}
}

// TestServeAnswersGETsWithTheFile: gannet bench reads the model's
// metadata with a GET before it loads the server; POSTs get an empty 200.
func TestServeAnswersGETsWithTheFile(t *testing.T) {
	t.Setenv("RTTFLOOR_AS_MAIN", "1")
	meta := filepath.Join(t.TempDir(), "meta.json")
	want := `{"name":"m","inputs":[]}`
	if err := os.WriteFile(meta, []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	addr, stop, err := startChild("--serve", "127.0.0.1:0", "--get-body", meta)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	status, body, err := fasthttp.Get(nil, "http://"+addr+"/v2/models/m")
	if err != nil || status != 200 || string(body) != want {
		t.Errorf("GET: %d %q %v", status, body, err)
	}
	status, body, err = fasthttp.Post(nil, "http://"+addr+"/v2/models/m/infer", nil)
	if err != nil || status != 200 || len(body) != 0 {
		t.Errorf("POST: %d %q %v", status, body, err)
	}
}
