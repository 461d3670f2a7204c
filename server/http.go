package server

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/gannet-ml/gannet/server/oip"
)

// Extensions are the OIP v2 extensions GET /v2 lists, as Triton does.
var Extensions = []string{"binary_tensor_data", "schedule_policy", "parameters"}

func (s *Server) newHTTP() *fasthttp.Server {
	var metrics fasthttp.RequestHandler
	if s.cfg.Gatherer != nil {
		metrics = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}))
	}
	h := &httpHandler{s: s, metrics: metrics}
	return &fasthttp.Server{
		Name:    "gannet",
		Handler: h.serve,
		// fasthttp's default body limit is 4 MiB and its default error for
		// an oversized body is 400 with plain text: both are set here.
		MaxRequestBodySize:            int(s.cfg.MaxRequestBytes),
		ErrorHandler:                  errorHandler(s.cfg.MaxRequestBytes),
		IdleTimeout:                   2 * time.Minute,
		ReadTimeout:                   s.cfg.HTTPReadTimeout,
		DisablePreParseMultipartForm:  true,
		NoDefaultContentType:          true,
		DisableHeaderNamesNormalizing: false,
		Logger:                        fasthttpLogger{s.log},
	}
}

// readListener hands fasthttp connections that remember whether they have
// read anything: fasthttp's error for a connection that never sent a byte
// is the same as for one cut short mid-request.
type readListener struct{ net.Listener }

func (l readListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	rc := &readConn{Conn: c}
	if raw := stampConn(c); raw != nil {
		rc.st = newStamped(raw)
	}
	return rc, nil
}

// readConn is an accepted connection; only its fasthttp goroutine (which
// also runs errorHandler and the handler) uses it.
type readConn struct {
	net.Conn
	read bool     // a byte has arrived
	st   *stamped // nil: no receive timestamps (not Linux, not TCP)
	rxAt int64    // kernel receive time (Unix ns) of the bytes last read; 0 unknown
}

func (c *readConn) Read(b []byte) (n int, err error) {
	if c.st == nil {
		n, err = c.Conn.Read(b)
	} else {
		var at int64
		if n, at, err = c.st.read(c.Conn, b); n > 0 {
			c.rxAt = at
		}
	}
	if n > 0 {
		c.read = true
	}
	return n, err
}

// maxIntake bounds the wait a receive timestamp may claim: a larger one
// (the wall clock stepped) is not believed.
const maxIntake = time.Minute

// arrived is when the request being handled reached the host: the kernel's
// receive time of the last bytes read, which for a request read in one go
// (the usual case, and always with one request in flight per connection)
// is the request's own. It returns now when that is unknown or not
// believable, and never a time after now. On the monotonic clock, like now.
func arrived(ctx *fasthttp.RequestCtx, now time.Time) time.Time {
	c, ok := ctx.Conn().(*readConn)
	if !ok || c.rxAt == 0 {
		return now
	}
	wait := time.Duration(now.UnixNano() - c.rxAt)
	if wait <= 0 || wait > maxIntake {
		return now
	}
	return now.Add(-wait)
}

type fasthttpLogger struct {
	log interface{ Debug(string, ...any) }
}

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Debug("fasthttp", "msg", format, "args", args)
}

// errorHandler answers what fasthttp could not read as a request. A
// read timeout is either a connection that never sent a byte (readConn
// tells) or one that stopped mid-request. The first is closed without
// an answer, as net/http and nginx do: a 400 written to a connection the
// client holds idle in its pool arrives as an unsolicited response (Go's
// http.Transport logs it, and it can be mistaken for the answer to the
// next request sent on it). The second gets 408.
func errorHandler(limit int64) func(*fasthttp.RequestCtx, error) {
	return func(ctx *fasthttp.RequestCtx, err error) {
		if errors.Is(err, fasthttp.ErrBodyTooLarge) {
			writeError(ctx, http.StatusRequestEntityTooLarge, "request body exceeds the limit of "+strconv.FormatInt(limit, 10)+" bytes (--max-request-bytes)")
			return
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if c, ok := ctx.Conn().(*readConn); ok && !c.read {
				ctx.Conn().Close() // fasthttp's write of the response then fails, unseen
				return
			}
			writeError(ctx, http.StatusRequestTimeout, "the request did not arrive in full in time")
			return
		}
		writeError(ctx, http.StatusBadRequest, "cannot parse the HTTP request: "+err.Error())
	}
}

type httpHandler struct {
	s       *Server
	metrics fasthttp.RequestHandler
}

var (
	pathLive   = []byte("/v2/health/live")
	pathReady  = []byte("/v2/health/ready")
	pathV2     = []byte("/v2")
	pathMetric = []byte("/metrics")
	prefModels = []byte("/v2/models/")
	prefHealth = []byte("/v2/health/")
	bearer     = []byte("Bearer ")
)

// authorized checks the request's bearer token, in constant time for each
// configured token.
func (h *httpHandler) authorized(ctx *fasthttp.RequestCtx) bool {
	token, ok := bytes.CutPrefix(ctx.Request.Header.Peek("Authorization"), bearer)
	if !ok {
		return false
	}
	good := 0
	for _, t := range h.s.cfg.AuthTokens {
		good |= subtle.ConstantTimeCompare(token, []byte(t))
	}
	return good == 1
}

// serve routes a request. Paths follow OIP v2:
// /v2/models/{m}[/versions/{v}][/ready|/infer|/stats].
func (h *httpHandler) serve(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	if len(h.s.cfg.AuthTokens) > 0 && !bytes.HasPrefix(path, prefHealth) && !h.authorized(ctx) {
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="gannet"`)
		writeError(ctx, http.StatusUnauthorized, "missing or invalid bearer token (Authorization: Bearer <token>)")
		return
	}
	switch {
	case bytes.HasPrefix(path, prefModels):
		h.model(ctx, path[len(prefModels):])
	case bytes.Equal(path, pathLive):
		if h.get(ctx) {
			ctx.SetStatusCode(http.StatusOK)
		}
	case bytes.Equal(path, pathReady):
		if h.get(ctx) {
			ctx.SetStatusCode(h.serverReady())
		}
	case bytes.Equal(path, pathV2):
		if h.get(ctx) {
			writeJSON(ctx, http.StatusOK, oip.AppendServerMetadata(nil, "gannet", h.s.cfg.Version, Extensions))
		}
	case bytes.Equal(path, pathMetric) && h.metrics != nil:
		if h.get(ctx) {
			h.metrics(ctx)
		}
	default:
		writeError(ctx, http.StatusNotFound, "no such endpoint: "+string(path))
	}
}

// get checks the method of a read-only endpoint (HEAD is fine too).
func (h *httpHandler) get(ctx *fasthttp.RequestCtx) bool {
	if ctx.IsGet() || ctx.IsHead() {
		return true
	}
	writeError(ctx, http.StatusMethodNotAllowed, "method "+string(ctx.Method())+" not allowed here; use GET")
	return false
}

// serverReady is 200 when every model has a replica (Triton: 400 if not).
func (h *httpHandler) serverReady() int {
	for _, name := range h.s.names {
		if ok, _ := h.s.cfg.Ready.Ready(name); !ok {
			return http.StatusBadRequest
		}
	}
	return http.StatusOK
}

func (h *httpHandler) model(ctx *fasthttp.RequestCtx, rest []byte) {
	name, rest, _ := bytes.Cut(rest, []byte("/"))
	m := h.s.models[string(name)]
	version, action := "", rest
	if v, ok := bytes.CutPrefix(rest, []byte("versions/")); ok {
		var ver []byte
		ver, action, _ = bytes.Cut(v, []byte("/"))
		version = string(ver)
	}
	if len(action) > 0 && !bytes.Equal(action, []byte("ready")) && !bytes.Equal(action, []byte("infer")) && !bytes.Equal(action, []byte("stats")) {
		writeError(ctx, http.StatusNotFound, "no such endpoint: "+string(ctx.Path()))
		return
	}
	if m == nil {
		if string(action) == "infer" {
			h.s.cfg.Metrics.requests.WithLabelValues("", "404", "http").Inc()
		}
		writeError(ctx, http.StatusNotFound, "unknown model: "+strconv.Quote(string(name)))
		return
	}
	if version != "" && version != m.Meta.Version {
		writeError(ctx, http.StatusNotFound, "model "+strconv.Quote(m.Meta.Name)+" has no version "+strconv.Quote(version)+" being served (serving "+m.Meta.Version+")")
		return
	}
	switch string(action) {
	case "":
		if h.get(ctx) {
			writeJSON(ctx, http.StatusOK, oip.AppendModelMetadata(nil, m.Meta))
		}
	case "ready":
		if h.get(ctx) {
			ok, why := h.s.cfg.Ready.Ready(m.Meta.Name)
			if ok {
				ctx.SetStatusCode(http.StatusOK)
			} else {
				writeError(ctx, http.StatusBadRequest, "model "+strconv.Quote(m.Meta.Name)+" is not ready: "+why)
			}
		}
	case "stats":
		if h.get(ctx) {
			h.stats(ctx, m)
		}
	case "infer":
		if !ctx.IsPost() {
			writeError(ctx, http.StatusMethodNotAllowed, "method "+string(ctx.Method())+" not allowed here; use POST")
			return
		}
		h.infer(ctx, m)
	}
}

// bufPool holds response buffers; putBuf keeps only those of ordinary size,
// so one large response does not pin its memory.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func putBuf(b *[]byte) {
	if cap(*b) <= 1<<20 {
		bufPool.Put(b)
	}
}

func writeJSON(ctx *fasthttp.RequestCtx, code int, body []byte) {
	ctx.SetStatusCode(code)
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
}

func writeError(ctx *fasthttp.RequestCtx, code int, msg string) {
	bp := bufPool.Get().(*[]byte)
	*bp = oip.AppendError((*bp)[:0], msg)
	writeJSON(ctx, code, *bp)
	putBuf(bp)
}

// writeErr writes err with the status of its kind; a full queue also gets
// Retry-After.
func writeErr(ctx *fasthttp.RequestCtx, err error) int {
	code := statusOf(err)
	if code == http.StatusServiceUnavailable {
		ctx.Response.Header.Set("Retry-After", "1")
	}
	writeError(ctx, code, err.Error())
	return code
}
