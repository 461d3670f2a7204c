package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/gannet-ml/gannet/wire"
)

// HTTPConfig configures an HTTP transport.
type HTTPConfig struct {
	URL    string // the server's base URL, e.g. http://localhost:8000
	Model  string
	Binary bool // the binary tensor extension instead of JSON data
	// Inputs are the distinct requests' tensors; request i sends
	// Inputs[i % len(Inputs)].
	Inputs [][]wire.Tensor
	// TimeoutMicros > 0 is sent as the request parameter timeout.
	TimeoutMicros int64
	// MaxConns bounds the connections; it should be at least the
	// generator's MaxInflight so that no request waits for one.
	MaxConns int
	// AuthToken, if set, is sent as Authorization: Bearer <AuthToken>.
	AuthToken string
}

// httpTransport posts prebuilt bodies with one fasthttp HostClient.
type httpTransport struct {
	hc      *fasthttp.HostClient
	uri     string
	bodies  [][]byte
	hdrLens [][]byte // Inference-Header-Content-Length per body (binary only)
	auth    string
}

// NewHTTP returns an HTTP transport. Bodies are built here, once.
func NewHTTP(cfg HTTPConfig) (Transport, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--url %q: want http://host:port", cfg.URL)
	}
	if len(cfg.Inputs) == 0 {
		return nil, errors.New("http transport: no inputs")
	}
	host := u.Host
	if u.Port() == "" {
		host += map[string]string{"http": ":80", "https": ":443"}[u.Scheme]
	}
	t := &httpTransport{
		hc: &fasthttp.HostClient{
			Addr:                          host,
			IsTLS:                         u.Scheme == "https",
			MaxConns:                      max(cfg.MaxConns, 1),
			MaxIdleConnDuration:           time.Minute,
			NoDefaultUserAgentHeader:      true,
			DisableHeaderNamesNormalizing: true,
		},
		uri: u.Scheme + "://" + u.Host + strings.TrimRight(u.Path, "/") + "/v2/models/" + url.PathEscape(cfg.Model) + "/infer",
	}
	if cfg.AuthToken != "" {
		t.auth = "Bearer " + cfg.AuthToken
	}
	for _, in := range cfg.Inputs {
		if cfg.Binary {
			body, n := BinaryBody(in, cfg.TimeoutMicros)
			t.bodies = append(t.bodies, body)
			t.hdrLens = append(t.hdrLens, strconv.AppendInt(nil, int64(n), 10))
			continue
		}
		body, err := JSONBody(in, cfg.TimeoutMicros)
		if err != nil {
			return nil, err
		}
		t.bodies = append(t.bodies, body)
	}
	return t, nil
}

func (t *httpTransport) NewSender() (Sender, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI(t.uri)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	if t.hdrLens != nil {
		req.Header.SetContentType("application/octet-stream")
	}
	if t.auth != "" {
		req.Header.Set("Authorization", t.auth)
	}
	return &httpSender{t: t, req: req, resp: resp}, nil
}

func (t *httpTransport) Close() error {
	t.hc.CloseIdleConnections()
	return nil
}

// httpSender owns one request and one response, reused for every send.
type httpSender struct {
	t    *httpTransport
	req  *fasthttp.Request
	resp *fasthttp.Response
}

var hdrLenKey = []byte("Inference-Header-Content-Length")

func (s *httpSender) Send(i int, deadline time.Time) (string, []byte) {
	k := i % len(s.t.bodies)
	s.req.SetBodyRaw(s.t.bodies[k])
	if s.t.hdrLens != nil {
		s.req.Header.SetBytesKV(hdrLenKey, s.t.hdrLens[k])
	}
	err := s.t.hc.DoDeadline(s.req, s.resp, deadline)
	switch {
	case errors.Is(err, fasthttp.ErrTimeout):
		return "timeout", nil
	case err != nil:
		return transportKind(err), nil
	}
	status := s.resp.StatusCode()
	if status == fasthttp.StatusOK {
		return "", nil
	}
	kind := statusKind(status)
	if status != fasthttp.StatusServiceUnavailable {
		return kind, nil
	}
	return kind, ErrorMessage(s.resp.Body())
}

// transportKind names a failure to get an answer.
func transportKind(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "conn_refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "conn_reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no_local_port" // ephemeral ports exhausted
	case errors.Is(err, fasthttp.ErrConnectionClosed):
		return "conn_closed"
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return "no_free_conns"
	}
	return "transport"
}

// statusKind names an HTTP status as an error kind.
func statusKind(status int) string {
	switch status {
	case 400:
		return "http_400"
	case 404:
		return "http_404"
	case 413:
		return "http_413"
	case 429:
		return "http_429"
	case 500:
		return "http_500"
	case 501:
		return "http_501"
	case 503:
		return "http_503"
	case 504:
		return "http_504"
	}
	return "http_" + strconv.Itoa(status)
}

var errorKey = []byte(`"error"`)

// maxReason bounds a reason's length.
const maxReason = 160

// ErrorMessage returns the message of an OIP error body ({"error":
// "..."}, still JSON-escaped), or the body itself if it is not one. It
// returns a part of body.
func ErrorMessage(body []byte) []byte {
	i := bytes.Index(body, errorKey)
	if i < 0 {
		return body
	}
	rest := body[i+len(errorKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return body
	}
	rest = rest[j+1:]
	end := 0
	for end < len(rest) && rest[end] != '"' {
		if rest[end] == '\\' {
			end++
		}
		end++
	}
	return rest[:min(end, len(rest))]
}

// Reason appends to dst a refusal's reason from an OIP error body or an
// SDK error message, with runs of digits replaced by "N" so that reasons
// that differ by numbers only (ids, sizes, times) count together.
func Reason(dst, body []byte) []byte {
	return normalize(dst, ErrorMessage(body))
}

func normalize(dst, msg []byte) []byte {
	digits := false
	for _, c := range msg {
		if len(dst) >= maxReason {
			break
		}
		switch {
		case c >= '0' && c <= '9':
			if !digits {
				dst = append(dst, 'N')
			}
			digits = true
			continue
		case c == '\\':
			continue
		case c < ' ':
			c = ' '
		}
		digits = false
		dst = append(dst, c)
	}
	if len(dst) == 0 {
		dst = append(dst, "(no reason given)"...)
	}
	return dst
}
