// Package curve sets up CurveZMQ on Gannet's sockets: key files, the ZAP
// handler that admits only authorized public keys, and the socket options of
// servers and clients.
//
// libzmq's CURVE server admits any client key when no ZAP handler is bound
// in the socket's context; pebbe/zmq4's handler (AuthStart) binds in the
// default context, which is the one every Gannet socket uses, and StartAuth
// must run before any secured socket is bound. There is one ZAP handler per
// process: StartAuth fails if it is already running.
package curve

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	zmq "github.com/pebbe/zmq4"
)

// Domain is the ZAP domain of Gannet's secured sockets.
const Domain = "gannet"

// KeyPair is a CURVE key pair, each key in Z85 (40 characters).
type KeyPair struct {
	Public, Secret string
}

// ErrBadKey is wrapped by every key parsing error.
var ErrBadKey = errors.New("not a CURVE key (40 Z85 characters)")

// Generate makes a new key pair.
func Generate() (KeyPair, error) {
	pub, sec, err := zmq.NewCurveKeypair()
	return KeyPair{Public: pub, Secret: sec}, err
}

// check validates a Z85 key.
func check(key string) error {
	if len(key) != 40 || len(zmq.Z85decode(key)) != 32 {
		return fmt.Errorf("%q: %w", key, ErrBadKey)
	}
	return nil
}

// ParseSecret returns the key pair of a Z85 secret key.
func ParseSecret(secret string) (KeyPair, error) {
	secret = strings.TrimSpace(secret)
	if err := check(secret); err != nil {
		return KeyPair{}, fmt.Errorf("secret key: %w", errors.Unwrap(err))
	}
	pub, err := zmq.AuthCurvePublic(secret)
	if err != nil {
		return KeyPair{}, fmt.Errorf("secret key: %w", err)
	}
	return KeyPair{Public: pub, Secret: secret}, nil
}

// ReadSecret reads a secret key file (the Z85 key, as `gannet keygen`
// writes it) and derives the public key.
func ReadSecret(path string) (KeyPair, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return KeyPair{}, err
	}
	kp, err := ParseSecret(firstKey(b))
	if err != nil {
		return KeyPair{}, fmt.Errorf("%s: %w", path, err)
	}
	return kp, nil
}

// ReadPublic takes a Z85 public key, or the path of a file holding one.
func ReadPublic(keyOrPath string) (string, error) {
	if check(keyOrPath) == nil {
		return keyOrPath, nil
	}
	b, err := os.ReadFile(keyOrPath)
	if err != nil {
		return "", fmt.Errorf("public key: neither a key nor a readable file: %w", err)
	}
	key := firstKey(b)
	if err := check(key); err != nil {
		return "", fmt.Errorf("%s: %w", keyOrPath, err)
	}
	return key, nil
}

// ReadAuthorized reads an authorized-keys file: one Z85 public key per
// line; blank lines and lines starting with # are ignored.
func ReadAuthorized(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, _, _ := strings.Cut(line, " ") // a comment may follow the key
		if err := check(key); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no keys", path)
	}
	return keys, nil
}

// firstKey is the first line of a key file that is not blank or a comment.
func firstKey(b []byte) string {
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			return line
		}
	}
	return ""
}

// StartAuth starts the process's ZAP handler admitting the given public
// keys (and no others) to CURVE servers of Domain. The returned function
// stops it.
func StartAuth(authorized []string) (stop func(), err error) {
	for _, k := range authorized {
		if err := check(k); err != nil {
			return nil, err
		}
	}
	if err := zmq.AuthStart(); err != nil {
		return nil, fmt.Errorf("curve: ZAP handler: %w", err)
	}
	zmq.AuthCurveAdd(Domain, authorized...)
	return func() {
		zmq.AuthCurveRemoveAll(Domain)
		zmq.AuthStop()
	}, nil
}

// Server makes a socket a CURVE server with this secret key; clients are
// checked by the ZAP handler of StartAuth.
func Server(secret string) func(*zmq.Socket) error {
	return func(s *zmq.Socket) error { return s.ServerAuthCurve(Domain, secret) }
}

// Client makes a socket a CURVE client of the server with this public key.
func Client(serverPublic string, kp KeyPair) func(*zmq.Socket) error {
	return func(s *zmq.Socket) error {
		if err := s.ClientAuthCurve(serverPublic, kp.Public, kp.Secret); err != nil {
			return err
		}
		return s.SetCurveSecretkey(kp.Secret) // ClientAuthCurve ignores this error
	}
}
