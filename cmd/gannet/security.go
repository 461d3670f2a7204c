package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	zmq "github.com/pebbe/zmq4"

	"github.com/gannet-ml/gannet/internal/curve"
)

// security is `gannet serve`'s CurveZMQ set-up: nil options when off.
type security struct {
	keys     curve.KeyPair
	local    curve.KeyPair // for the local workers, made afresh each start
	localKey string        // the file holding local.Secret (0600), removed by close
	stopAuth func()
}

// setUpSecurity reads --curve-secret-key and --authorized-keys (both or
// neither) and starts the ZAP handler, before any socket binds.
func setUpSecurity(secretFile, authorizedFile string) (*security, error) {
	if secretFile == "" && authorizedFile == "" {
		return nil, nil
	}
	if secretFile == "" || authorizedFile == "" {
		return nil, errors.New("serve: --curve-secret-key and --authorized-keys go together")
	}
	keys, err := curve.ReadSecret(secretFile)
	if err != nil {
		return nil, err
	}
	authorized, err := curve.ReadAuthorized(authorizedFile)
	if err != nil {
		return nil, err
	}
	s := &security{keys: keys}
	if s.local, err = curve.Generate(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "gannet-keys")
	if err != nil {
		return nil, err
	}
	s.localKey = filepath.Join(dir, "local-worker.key")
	if err := os.WriteFile(s.localKey, []byte(s.local.Secret+"\n"), 0o600); err != nil {
		return nil, err
	}
	if s.stopAuth, err = curve.StartAuth(append(authorized, s.local.Public)); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// serverOptions secures a ROUTER socket; nil when security is off.
func (s *security) serverOptions() func(*zmq.Socket) error {
	if s == nil {
		return nil
	}
	return curve.Server(s.keys.Secret)
}

// workerArgs are the flags that let a local worker in.
func (s *security) workerArgs() []string {
	if s == nil {
		return nil
	}
	return []string{"--curve-server-key", s.keys.Public, "--curve-secret-key", s.localKey}
}

func (s *security) close() {
	if s != nil {
		s.stopAuth()
		os.RemoveAll(filepath.Dir(s.localKey))
	}
}

// workerSecurity reads `gannet worker`'s CURVE flags (both or neither).
func workerSecurity(serverKey, secretFile string) (func(*zmq.Socket) error, error) {
	if serverKey == "" && secretFile == "" {
		return nil, nil
	}
	if serverKey == "" || secretFile == "" {
		return nil, errors.New("worker: --curve-server-key and --curve-secret-key go together")
	}
	server, err := curve.ReadPublic(serverKey)
	if err != nil {
		return nil, err
	}
	kp, err := curve.ReadSecret(secretFile)
	if err != nil {
		return nil, err
	}
	return curve.Client(server, kp), nil
}

// keygenCmd makes a CURVE key pair: NAME.key (secret, mode 0600) and
// NAME.pub, or both printed when no --out is given.
func keygenCmd(args []string) error {
	fs := flag.NewFlagSet("gannet keygen", flag.ExitOnError)
	out := fs.String("out", "", "write NAME.key (secret) and NAME.pub (public) instead of printing")
	fs.Parse(args)
	kp, err := curve.Generate()
	if err != nil {
		return err
	}
	if *out == "" {
		fmt.Printf("public-key %s\nsecret-key %s\n", kp.Public, kp.Secret)
		return nil
	}
	if err := os.WriteFile(*out+".key", []byte(kp.Secret+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(*out+".pub", []byte(kp.Public+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s.key (secret) and %s.pub (public: %s)\n", *out, *out, kp.Public)
	return nil
}

// readTokens reads --auth-token-file: one bearer token per line; blank
// lines and # comments are ignored. "" means no file, no tokens.
func readTokens(path string) ([]string, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tokens []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			if len(line) < 16 {
				return nil, fmt.Errorf("%s: a token shorter than 16 characters", path)
			}
			tokens = append(tokens, line)
		}
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("%s: no tokens", path)
	}
	return tokens, nil
}
