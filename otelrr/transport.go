package otelrr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/httpx"
)

// Transport returns an http.RoundTripper that makes every HTTP exchange
// one boundary of the run carried by the request's context, so that an
// LLM SDK (or any HTTP client) is recorded and replayed at the HTTP level.
// base sends the requests when recording (http.DefaultTransport when nil);
// on replay it is never called: the recorded response is returned in place,
// without any network access.
//
// Plug it into an SDK with option.WithHTTPClient(otelrr.HTTPClient(nil)),
// in github.com/openai/openai-go/v3 and github.com/anthropics/anthropic-sdk-go/v2
// alike, and pass the run's context to every SDK call.
//
// Exchanges with the OpenAI Chat Completions (POST …/chat/completions) and
// Responses (POST …/responses) APIs and the Anthropic Messages API
// (POST …/v1/messages) are llm boundaries named after the model, with the
// OpenTelemetry GenAI semantic-convention attributes (span "chat {model}",
// gen_ai.*); each tool call the model requests is a "gen_ai.tool.call" span
// event. Every other exchange is an http boundary named "METHOD /path".
//
// The signature covers the method, the path, the query and the canonical
// JSON body (and the Anthropic-Beta and OpenAI-Beta headers): not the host,
// and not the volatile headers SDKs add. Secrets — Authorization,
// Proxy-Authorization, X-Api-Key, Api-Key, cookies, and any header or query
// parameter whose name has a word such as key, token, secret, auth or
// session — are sent to base as they are but never stored, never set on a
// span, and their values are masked with '*' wherever else they appear (in
// bodies, error texts); Set-Cookie and other secret response headers are
// dropped, for the client too, so that it sees the same response when
// recording and replaying.
//
// A response is durably recorded before the client gets it, except a
// streamed one (Content-Type text/event-stream or application/x-ndjson):
// the client gets its bytes as they arrive, and the boundary is stored when
// the body ends — its end or an error is read, or it is closed. A failure to
// store it is returned by that last Read or by Close. A process that dies
// mid-stream leaves that boundary unrecorded (the run reads back truncated
// before it).
//
// A request whose context carries no run fails with an error wrapping
// ErrNoRun; nothing is sent. On replay a divergence fails the exchange with
// the *replayer.DivergenceError (SDKs treat it as a connection error and
// may retry it, getting the same error), and a recorded transport error
// returns an error with the recorded text.
//
// See docs/sdk.md for streaming, retry and replay details.
func Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{send: base.RoundTrip}
}

// Middleware is Transport in the form of an SDK middleware: pass it to
// option.WithMiddleware (openai-go v3, anthropic-sdk-go v2) to record the
// SDK's requests without replacing its HTTP client. next sends the request
// when recording and is never called on replay. Put it last among the
// client's middlewares: the ones after it do not run on replay. Unlike
// Transport, it sees a whole http.Client.Do (redirects included) as one
// exchange, and a recorded connection error's text includes the URL as
// http.Client reports it.
func Middleware(req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	return (&transport{send: next}).RoundTrip(req)
}

// HTTPClient returns a copy of base (a zero http.Client when nil) whose
// transport is Transport(base.Transport): hand it to an SDK with
// option.WithHTTPClient, or to any library that takes an *http.Client.
func HTTPClient(base *http.Client) *http.Client {
	c := &http.Client{}
	if base != nil {
		*c = *base
	}
	c.Transport = Transport(c.Transport)
	return c
}

type transport struct {
	send func(*http.Request) (*http.Response, error) // sends a request when recording
}

var _ http.RoundTripper = (*transport)(nil)

// errTransportNoRun is returned for requests without a run in their context.
var errTransportNoRun = fmt.Errorf("%w (otelrr.Transport got an HTTP request without one: pass the run's context to the SDK call)", ErrNoRun)

// RoundTrip makes one boundary of req.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	run := runFromContext(req.Context())
	if run == nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errTransportNoRun
	}
	if run.rr.Ended() {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("otelrr: %s %s: %w", req.Method, req.URL.Path, ErrRunEnded)
	}
	ex, err := captureRequest(req)
	if err != nil {
		return nil, err
	}
	c := run.open(req.Context(), ex.sp, ex.RequestJSON)
	ex.openedAt = run.rr.W.NextIndex(c.branch)
	// A response (a stream's headers) ends the exchange's time in flight
	// on its branch; a stream is stored later, when its body ends.
	defer c.release()
	if run.session == nil {
		return t.record(c, ex, req)
	}
	var deferred *boundary.Record
	if !run.session.Forked() {
		deferred = deferredStream(c, ex.openedAt)
	}
	if deferred != nil {
		// Served now, matched when it ends: see AttrHTTPStreamOpenedAt.
		c.replayed = deferred
	} else if c.match(); c.live {
		// Past a fork point: the exchange goes to the network.
		return t.record(c, ex, req)
	}
	return t.replay(c, ex, req, deferred != nil)
}

// deferredStream returns the recorded streamed boundary that the exchange
// c, opened when its branch's next index was openedAt, replays when the
// agent made other boundaries on the branch while that stream was open (so
// the stream was recorded after them), or nil when the exchange is matched
// in turn.
func deferredStream(c *boundaryCall, openedAt int64) *boundary.Record {
	recs := c.run.session.BranchRecords(c.branch)
	same := func(r *boundary.Record) bool {
		return r.Kind == c.sp.kind && r.Name == c.sp.name && r.Signature == c.sig
	}
	if openedAt < 0 || openedAt >= int64(len(recs)) || same(recs[openedAt]) {
		return nil
	}
	for j := openedAt + 1; j < int64(len(recs)); j++ {
		r := recs[j]
		if at, ok := r.Attributes[boundary.AttrHTTPStreamOpenedAt].(int64); ok && at == openedAt && same(r) && !r.Failed {
			return r
		}
	}
	return nil
}

// record sends req through base and stores the exchange.
func (t *transport) record(c *boundaryCall, ex *exchange, req *http.Request) (*http.Response, error) {
	out := req.Clone(c.ctx)
	if ex.Body != nil {
		body := ex.Body
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	var conn connTrace
	out = out.WithContext(httptrace.WithClientTrace(out.Context(), conn.hooks()))

	resp, err := t.send(out)
	if err != nil {
		var attrs []attribute.KeyValue
		if conn.failed() {
			attrs = append(attrs, attribute.Bool(boundary.AttrHTTPConnectFailed, true))
		}
		attrs = append(attrs, attribute.String("error.type", fmt.Sprintf("%T", err)))
		// The client gets what replay will give it: the error's text, with
		// any secret masked, and the sentinels it matches.
		retErr := c.run.rec.errs.recorded(err, ex.ErrorText(err))
		if _, serr := c.finish(nil, retErr, attrs...); serr != nil {
			return nil, serr
		}
		return nil, retErr
	}

	rec, client := ex.RecordResponse(resp, req)
	if rec.NoBody {
		if resp.Body != nil {
			resp.Body.Close()
		}
		client.Body = http.NoBody
		if err := t.store(c, ex, rec); err != nil {
			return nil, err
		}
		return client, nil
	}
	if httpx.IsStreamed(resp.Header) {
		rec.Stream = true
		ex.streamAttrs = []attribute.KeyValue{attribute.Int64(boundary.AttrHTTPStreamOpenedAt, ex.openedAt)}
		client.Body = httpx.NewRecordingBody(resp.Body, func(data []byte, chunks []int, readErr error, closedEarly bool) error {
			// The client already has these bytes: a stream is redacted
			// only in what is stored (see WithRedaction).
			rec.SetBody(ex.StreamBody(data))
			rec.Chunks = chunks
			rec.ClosedEarly = closedEarly
			var endErr error
			if readErr != nil {
				re := c.run.rec.errs.recorded(readErr, ex.ErrorText(readErr))
				rec.SetBodyError(re.Text, re.Matches, re.IsTimeout)
				endErr = re
			}
			if err := t.store(c, ex, rec); err != nil {
				return err
			}
			return endErr
		})
		return client, nil
	}

	// A whole body is read before the client sees any of it, so that the
	// boundary is durable before the client gets the response.
	data, readErr := io.ReadAll(resp.Body)
	resp.Body.Close()
	data = ex.RecordBody(rec, client, data)
	var endErr error = io.EOF
	if readErr != nil {
		re := c.run.rec.errs.recorded(readErr, ex.ErrorText(readErr))
		rec.SetBodyError(re.Text, re.Matches, re.IsTimeout)
		endErr = re
	}
	if err := t.store(c, ex, rec); err != nil {
		return nil, err
	}
	client.Body = httpx.NewReplayBody(data, nil, endErr, nil)
	return client, nil
}

// store finishes the boundary of a response: its payload, the GenAI and
// HTTP attributes, and the durable commit.
func (t *transport) store(c *boundaryCall, ex *exchange, rec *httpx.Response) error {
	respJSON, err := boundary.Canonical(rec)
	if err != nil {
		_, serr := c.finish(nil, fmt.Errorf("otelrr: %s %s: response cannot be recorded: %w", c.sp.kind, c.sp.name, err))
		return errors.Join(err, serr)
	}
	_, err = c.finish(respJSON, nil, append(responseAttrs(c, ex, rec), ex.streamAttrs...)...)
	return err
}

// responseAttrs sets the span status and events of a response and returns
// its attributes.
func responseAttrs(c *boundaryCall, ex *exchange, rec *httpx.Response) []attribute.KeyValue {
	s := ex.ResponseSpan(rec)
	if s.Error != "" {
		c.span.SetStatus(codes.Error, s.Error)
	}
	for _, ev := range s.ToolCalls {
		c.span.AddEvent(boundary.EventGenAIToolCall, trace.WithAttributes(ev...))
	}
	return s.Attrs
}

// replay answers req from the recording, without any network access.
//
// A deferred exchange (a stream the recording shows was stored after
// boundaries made while it was open) is served from c.replayed at once and
// matched against the session when its body ends.
func (t *transport) replay(c *boundaryCall, ex *exchange, req *http.Request, deferred bool) (*http.Response, error) {
	if c.replayErr != nil {
		err := c.replayErr
		if c.replayed != nil && c.replayed.Failed {
			err = c.run.rec.errs.recordedOf(c.replayed)
			if v, ok := c.replayed.Attributes[boundary.AttrHTTPConnectFailed].(bool); ok && v {
				// The recorded attempt looked for a connection and got none:
				// tell the request's trace hooks the same (SDKs decide from
				// them whether resending is safe).
				if tr := httptrace.ContextClientTrace(req.Context()); tr != nil && tr.GetConn != nil {
					tr.GetConn(ex.HostPort)
				}
			}
		}
		if _, serr := c.finish(nil, err); serr != nil {
			return nil, serr
		}
		return nil, err
	}
	recorded := c.replayed
	var rec httpx.Response
	if err := json.Unmarshal(recorded.Response, &rec); err != nil {
		err = fmt.Errorf("otelrr: replay seq %d (%s %s): the recorded response is not an HTTP response: %w", recorded.Seq, c.sp.kind, c.sp.name, err)
		if _, serr := c.finish(nil, err); serr != nil {
			return nil, serr
		}
		return nil, err
	}

	header := rec.CloneHeader()
	var skipped []attribute.KeyValue
	if t.retriedNext(c, &rec) {
		// The client retried this response at once in the recording (the
		// next boundary is the same request): serve it without a wait.
		skipped = append(skipped, attribute.String(boundary.AttrHTTPRetryWaitSkipped, httpx.ZeroRetryWait(header)))
	}
	resp := rec.HTTPResponse(req, header)

	respJSON := recorded.Response
	finish := func() error {
		if deferred {
			c.replayed, c.replayErr = nil, nil
			c.match()
			if c.replayErr == nil && c.replayed.Seq != recorded.Seq {
				c.replayErr = fmt.Errorf("otelrr: replay: the stream %s %s was recorded as seq %d, after the boundaries made while it was open, but it ends at seq %d: the agent made other boundaries during the stream", c.sp.kind, c.sp.name, recorded.Seq, c.replayed.Seq)
			}
			if c.replayErr != nil {
				_, serr := c.finish(nil, c.replayErr)
				return errors.Join(c.replayErr, serr)
			}
		}
		attrs := append(responseAttrs(c, ex, &rec), skipped...)
		if rec.Stream {
			attrs = append(attrs, attribute.Int64(boundary.AttrHTTPStreamOpenedAt, ex.openedAt))
		}
		_, err := c.finish(respJSON, nil, attrs...)
		return err
	}
	if rec.NoBody {
		if err := finish(); err != nil {
			return nil, err
		}
		resp.Body = http.NoBody
		return resp, nil
	}
	data := rec.BodyBytes()
	var endErr error = io.EOF
	switch {
	case rec.BodyError != "":
		endErr = c.run.rec.errs.replayed(rec.BodyError, rec.BodyErrorIs, rec.BodyErrorTimeout, rec.BodyErrorIs != nil)
	case rec.ClosedEarly:
		endErr = fmt.Errorf("otelrr: replay seq %d (%s %s): the recording ends here: the client closed this response body after %d bytes when recording", recorded.Seq, c.sp.kind, c.sp.name, len(data))
	}
	if !rec.Stream {
		if err := finish(); err != nil {
			return nil, err
		}
		resp.Body = httpx.NewReplayBody(data, nil, endErr, nil)
		return resp, nil
	}
	resp.Body = httpx.NewReplayBody(data, rec.Chunks, endErr, finish)
	return resp, nil
}

// retriedNext reports whether the recorded response is one the client
// retried: its status is one SDKs retry (408, 409, 429, ≥ 500, or
// x-should-retry: true) and the next recorded boundary is the same request.
func (t *transport) retriedNext(c *boundaryCall, rec *httpx.Response) bool {
	if !rec.Retryable() {
		return false
	}
	recs := c.run.session.BranchRecords(c.branch)
	next := c.replayed.Index + 1
	if next < 0 || next >= int64(len(recs)) {
		return false
	}
	n := recs[next]
	return n.Kind == c.sp.kind && n.Name == c.sp.name && n.Signature == c.sig
}

// connTrace observes whether an attempt looked for a connection and got one.
type connTrace struct {
	getting, got atomic.Bool
}

func (t *connTrace) hooks() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GetConn: func(string) { t.getting.Store(true) },
		GotConn: func(httptrace.GotConnInfo) { t.got.Store(true) },
	}
}

// failed reports whether the attempt looked for a connection and got none.
func (t *connTrace) failed() bool { return t.getting.Load() && !t.got.Load() }
