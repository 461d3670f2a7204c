package supervise

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A child that exits is started again, with backoff; Stop ends it.
func TestRestartsAChildThatExits(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "starts")
	// Each start appends a line, then the child exits at once.
	p, err := Start(Config{Name: "flaky", Path: "/bin/sh", Args: []string{"-c", "echo x >> " + log},
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runs := func() int {
		b, _ := os.ReadFile(log)
		return strings.Count(string(b), "x")
	}
	deadline := time.Now().Add(10 * time.Second)
	for runs() < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("child ran %d times in 10s", runs())
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.Stop(time.Second)
	if p.Restarts() < 3 {
		t.Fatalf("%d restarts counted for %d runs", p.Restarts(), runs())
	}
	n := p.Restarts()
	time.Sleep(50 * time.Millisecond)
	if p.Restarts() != n {
		t.Fatal("restarted after Stop")
	}
}

// Stop sends SIGTERM and, to a child that ignores it, SIGKILL after the
// grace period.
func TestStopKillsAStubbornChild(t *testing.T) {
	p, err := Start(Config{Name: "stubborn", Path: "/bin/sh", Args: []string{"-c", "trap '' TERM; while :; do sleep 0.05; done"}})
	if err != nil {
		t.Fatal(err)
	}
	pid := p.Pid()
	if pid == 0 {
		t.Fatal("no pid")
	}
	time.Sleep(100 * time.Millisecond) // let the shell install its trap
	start := time.Now()
	p.Stop(200 * time.Millisecond)
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Fatalf("Stop returned after %v, before the grace period", took)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("child %d still alive after Stop", pid)
	}
	if p.Pid() != 0 {
		t.Fatal("Pid after Stop")
	}
}

func TestStartFailsForAMissingProgram(t *testing.T) {
	if _, err := Start(Config{Path: "/nonexistent/program"}); err == nil {
		t.Fatal("started a program that does not exist")
	}
	if _, err := Start(Config{}); err == nil {
		t.Fatal("started nothing")
	}
}
