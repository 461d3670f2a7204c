package curve

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
)

var allowed, stranger, serverKeys KeyPair

func TestMain(m *testing.M) {
	var err error
	for _, kp := range []*KeyPair{&allowed, &stranger, &serverKeys} {
		if *kp, err = Generate(); err != nil {
			panic(err)
		}
	}
	stop, err := StartAuth([]string{allowed.Public})
	if err != nil {
		panic(err)
	}
	code := m.Run()
	stop()
	os.Exit(code)
}

// reaches reports whether a message from a DEALER set up by setup reaches a
// CURVE ROUTER within the wait.
func reaches(t *testing.T, setup func(*zmq.Socket) error, wait time.Duration) bool {
	t.Helper()
	srv, _ := zmq.NewSocket(zmq.ROUTER)
	defer srv.Close()
	srv.SetLinger(0)
	if err := Server(serverKeys.Secret)(srv); err != nil {
		t.Fatal(err)
	}
	if err := srv.Bind("tcp://127.0.0.1:*"); err != nil {
		t.Fatal(err)
	}
	ep, _ := srv.GetLastEndpoint()
	cli, _ := zmq.NewSocket(zmq.DEALER)
	defer cli.Close()
	cli.SetLinger(0)
	if setup != nil {
		if err := setup(cli); err != nil {
			t.Fatal(err)
		}
	}
	cli.Connect(ep)
	cli.SendBytes([]byte("hello"), zmq.DONTWAIT)
	srv.SetRcvtimeo(wait)
	msg, err := srv.RecvMessageBytes(0)
	return err == nil && len(msg) == 2 && string(msg[1]) == "hello"
}

func TestOnlyAuthorizedKeysGetThrough(t *testing.T) {
	if !reaches(t, Client(serverKeys.Public, allowed), 5*time.Second) {
		t.Fatal("an authorized key was refused")
	}
	if reaches(t, Client(serverKeys.Public, stranger), 500*time.Millisecond) {
		t.Fatal("an unknown key got through")
	}
	if reaches(t, nil, 500*time.Millisecond) {
		t.Fatal("a client without CURVE (NULL mechanism) got through")
	}
	wrongServer, _ := Generate()
	if reaches(t, Client(wrongServer.Public, allowed), 500*time.Millisecond) {
		t.Fatal("a client that expects another server key got through")
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	sec := filepath.Join(dir, "w.key")
	os.WriteFile(sec, []byte("# worker\n"+allowed.Secret+"\n"), 0o600)
	kp, err := ReadSecret(sec)
	if err != nil || kp != allowed {
		t.Fatalf("ReadSecret = %+v, %v", kp, err)
	}
	if pub, err := ReadPublic(allowed.Public); err != nil || pub != allowed.Public {
		t.Fatalf("ReadPublic(key) = %q, %v", pub, err)
	}
	pubFile := filepath.Join(dir, "w.pub")
	os.WriteFile(pubFile, []byte(allowed.Public+"\n"), 0o644)
	if pub, err := ReadPublic(pubFile); err != nil || pub != allowed.Public {
		t.Fatalf("ReadPublic(file) = %q, %v", pub, err)
	}
	auth := filepath.Join(dir, "authorized")
	os.WriteFile(auth, []byte("# workers\n"+allowed.Public+" worker-1\n\n"+stranger.Public+"\n"), 0o644)
	keys, err := ReadAuthorized(auth)
	if err != nil || len(keys) != 2 || keys[0] != allowed.Public || keys[1] != stranger.Public {
		t.Fatalf("ReadAuthorized = %v, %v", keys, err)
	}
	for name, content := range map[string]string{"short": "abc\n", "empty": "# nothing\n"} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o644)
		if _, err := ReadAuthorized(p); err == nil {
			t.Errorf("%s authorized-keys file accepted", name)
		}
		if _, err := ReadSecret(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s secret file: %v", name, err)
		}
	}
}
