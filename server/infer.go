package server

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/gannet-ml/gannet/batching"
	"github.com/gannet-ml/gannet/server/oip"
	"github.com/gannet-ml/gannet/wire"
)

// call is a pooled batching request with the channel its handler waits on.
type call struct {
	req  batching.Request
	done chan struct{} // cap 1: the batcher never blocks on it
}

var callPool = sync.Pool{New: func() any {
	c := &call{done: make(chan struct{}, 1)}
	c.req.Done = c.finish // bound once per pooled call, not per request
	return c
}}

func (c *call) finish(*batching.Request) { c.done <- struct{}{} }

func (c *call) release() {
	done := c.req.Done
	c.req = batching.Request{Done: done}
	callPool.Put(c)
}

// infer handles POST /v2/models/{m}[/versions/{v}]/infer: decode, validate,
// submit, wait, encode.
func (h *httpHandler) infer(ctx *fasthttp.RequestCtx, m *model) {
	start := time.Now()
	at := arrived(ctx, start)
	m.http.intake.Observe(start.Sub(at).Seconds())
	code := h.doInfer(ctx, m, at)
	m.http.count(code)
	m.http.duration.Observe(time.Since(start).Seconds())
}

// doInfer answers one request that reached the host at arrived: its
// deadline and the SLO run from then.
func (h *httpHandler) doInfer(ctx *fasthttp.RequestCtx, m *model, arrived time.Time) int {
	s := h.s
	body, err := h.body(ctx)
	if err != nil {
		return writeErr(ctx, err)
	}
	headerLen := int64(-1)
	if v := ctx.Request.Header.Peek("Inference-Header-Content-Length"); v != nil {
		if headerLen, err = strconv.ParseInt(string(v), 10, 64); err != nil || headerLen < 0 {
			return writeErr(ctx, wire.Errorf(wire.KindInvalid, "Inference-Header-Content-Length %q is not a non-negative integer", v))
		}
	}
	if err := precheck(m, body, headerLen, arrived, s.deadline(arrived, 0)); err != nil {
		return writeErr(ctx, err)
	}
	req, err := oip.DecodeRequest(body, headerLen, m.Meta, oip.Limits{MaxTensorBytes: s.cfg.MaxRequestBytes})
	if err != nil {
		return writeErr(ctx, err)
	}
	inputs, rows, err := validateInputs(m.Meta, req.Inputs)
	if err == nil {
		err = validateOutputs(m.Meta, outputNames(req.Outputs))
	}
	if err != nil {
		return writeErr(ctx, err)
	}

	c := callPool.Get().(*call)
	c.req.Inputs, c.req.Rows, c.req.Priority = inputs, rows, req.Priority
	c.req.Deadline = s.deadline(arrived, req.TimeoutMicros)
	c.req.Arrived = arrived
	if err := m.Queue.Submit(&c.req); err != nil {
		c.release()
		return writeErr(ctx, err)
	}
	<-c.done // the queue and the dispatcher answer every request they take
	defer c.release()
	if c.req.Err != nil {
		return writeErr(ctx, c.req.Err)
	}

	bp := bufPool.Get().(*[]byte)
	defer putBuf(bp)
	out, jsonLen, err := oip.AppendResponse((*bp)[:0], m.Meta.Name, m.Meta.Version, req, c.req.Outputs)
	*bp = out
	if err != nil {
		return writeErr(ctx, err)
	}
	if jsonLen >= 0 {
		ctx.Response.Header.Set("Inference-Header-Content-Length", strconv.Itoa(jsonLen))
		ctx.SetContentType("application/octet-stream")
	} else {
		ctx.SetContentType("application/json")
	}
	h.writeBody(ctx, out)
	return http.StatusOK
}

// precheck refuses, before the body is decoded, a request the queue would
// refuse anyway (batching.Queue.Precheck): under overload most requests
// are refused, and decoding them (JSON above all) took the CPU the
// accepted ones needed. Only a request whose JSON names no priority and
// no timeout is prechecked: either could move it ahead in the queue. A
// byte search over the JSON (the whole body, or the binary extension's
// header) is enough to tell; a false match only skips the precheck.
func precheck(m *model, body []byte, headerLen int64, arrived, deadline time.Time) error {
	head := body
	if headerLen >= 0 && headerLen <= int64(len(body)) {
		head = body[:headerLen]
	}
	if bytes.Contains(head, []byte(`"priority"`)) || bytes.Contains(head, []byte(`"timeout"`)) {
		return nil
	}
	pc, ok := m.Queue.(Prechecker)
	if !ok {
		return nil
	}
	return pc.Precheck(arrived, deadline)
}

// body returns the request body, decompressed per Content-Encoding.
func (h *httpHandler) body(ctx *fasthttp.RequestCtx) ([]byte, error) {
	body := ctx.PostBody()
	enc := ctx.Request.Header.ContentEncoding()
	if len(enc) == 0 {
		return body, nil
	}
	return oip.Decompress(string(enc), body, h.s.cfg.MaxRequestBytes)
}

// writeBody sets the response body, compressed if the client accepts it.
func (h *httpHandler) writeBody(ctx *fasthttp.RequestCtx, body []byte) {
	ctx.SetStatusCode(http.StatusOK)
	enc := oip.NegotiateEncoding(ctx.Request.Header.Peek("Accept-Encoding"))
	if enc == "" {
		ctx.SetBody(body)
		return
	}
	zp := bufPool.Get().(*[]byte)
	defer putBuf(zp)
	z, err := oip.Compress((*zp)[:0], enc, body)
	*zp = z
	if err != nil {
		ctx.SetBody(body)
		return
	}
	ctx.Response.Header.Set("Content-Encoding", enc)
	ctx.SetBody(z)
}

// deadline is arrived plus the request's timeout, capped by RequestTimeout.
func (s *Server) deadline(arrived time.Time, timeoutMicros int64) time.Time {
	d := s.cfg.RequestTimeout
	if timeoutMicros > 0 && timeoutMicros < d.Microseconds() {
		d = time.Duration(timeoutMicros) * time.Microsecond
	}
	return arrived.Add(d)
}

func outputNames(outs []oip.Output) []string {
	if len(outs) == 0 {
		return nil
	}
	names := make([]string, len(outs))
	for i := range outs {
		names[i] = outs[i].Name
	}
	return names
}
