package otelrr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/replaylink"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// spec describes one boundary call.
type spec struct {
	kind     boundary.Kind
	name     string
	spanName string
	spanKind trace.SpanKind
	attrs    []attribute.KeyValue
}

// call makes one boundary: it opens the span, gets the answer (from the real
// function when recording, from the recording when replaying), stores the
// span durably and only then hands the answer back.
func call[Resp any](ctx context.Context, sp spec, req any, real func(context.Context) (Resp, error)) (Resp, error) {
	var zero Resp
	run := runFromContext(ctx)
	if run == nil {
		return zero, ErrNoRun
	}
	if run.rr.Ended() {
		return zero, fmt.Errorf("otelrr: %s %s: %w", sp.kind, sp.name, ErrRunEnded)
	}
	reqJSON, err := boundary.Canonical(req)
	if err != nil {
		return zero, fmt.Errorf("otelrr: %s %s: request cannot be recorded: %w", sp.kind, sp.name, err)
	}
	c := run.begin(ctx, sp, run.rec.redact.JSON(reqJSON))
	// In flight until the helper returns, its synced write included.
	defer c.release()

	var (
		resp     Resp
		respJSON []byte
		callErr  = c.replayErr
	)
	switch {
	case callErr != nil:
	case c.replayed != nil:
		respJSON = c.replayed.Response
		if err := json.Unmarshal(respJSON, &resp); err != nil {
			callErr = fmt.Errorf("otelrr: replay seq %d (%s %s): recorded response does not decode into %T: %w", c.replayed.Seq, sp.kind, sp.name, resp, err)
		}
	default:
		out, realErr := real(c.ctx)
		if realErr != nil {
			callErr = run.rec.errs.recorded(realErr, run.rec.redact.Text(realErr.Error()))
		} else if respJSON, err = run.rec.redact.Canonical(out); err != nil {
			callErr = fmt.Errorf("otelrr: %s %s: response cannot be recorded: %w", sp.kind, sp.name, err)
		} else if err := json.Unmarshal(respJSON, &resp); err != nil {
			// Hand the agent what replay will hand it: the decoded record.
			callErr = fmt.Errorf("otelrr: %s %s: response %T does not round-trip through JSON: %w", sp.kind, sp.name, out, err)
		}
	}

	var usage []attribute.KeyValue
	if u, ok := any(resp).(UsageReporter); ok && callErr == nil {
		in, out := u.Usage()
		usage = []attribute.KeyValue{attribute.Int64(boundary.GenAIInputTokens, in), attribute.Int64(boundary.GenAIOutputTokens, out)}
	}
	if _, err := c.finish(respJSON, callErr, usage...); err != nil {
		return zero, err
	}
	if callErr != nil {
		return zero, callErr
	}
	return resp, nil
}

// boundaryCall is one boundary between its two phases: begin, which opens
// its span and, when replaying, matches it against the recording; and
// finish, which stores it durably. Helpers that answer at once (call) run
// both back to back; the HTTP transport finishes a streamed response only
// when its body ends.
type boundaryCall struct {
	run     *Run
	sp      spec
	ctx     context.Context // carries the boundary span
	span    trace.Span
	branch  string
	request []byte // canonical JSON
	sig     string
	// held is true between the session's Next for this boundary and its
	// Release; released is true once the boundary stopped being in flight
	// on its branch (see release).
	held, released bool
	// live is true for a boundary of a replay past its fork point: it runs
	// for real, as when recording.
	live bool

	// When replaying: replayed is the recorded boundary matched (nil when
	// recording, or when the replay diverged and serves nothing), and
	// replayErr, when not nil, is the error the boundary returns instead of
	// an answer: the divergence, or the recorded call's own error.
	replayed  *boundary.Record
	replayErr error
}

// begin opens the span of a boundary with canonical request reqJSON and,
// when the run replays, matches it against the recording. The caller must
// call finish exactly once.
func (r *Run) begin(ctx context.Context, sp spec, reqJSON []byte) *boundaryCall {
	c := r.open(ctx, sp, reqJSON)
	if r.session != nil {
		c.match()
	}
	return c
}

// open opens the span of a boundary on the branch ctx is on; begin without
// the replay matching.
func (r *Run) open(ctx context.Context, sp spec, reqJSON []byte) *boundaryCall {
	sig := boundary.Signature(sp.kind, sp.name, reqJSON)
	br := branchOf(ctx, r).path
	attrs := make([]attribute.KeyValue, 0, 4+len(sp.attrs))
	attrs = append(attrs,
		attribute.String(boundary.AttrKind, string(sp.kind)),
		attribute.String(boundary.AttrName, sp.name))
	if br != boundary.RootBranch {
		attrs = append(attrs, attribute.String(boundary.AttrBranch, br))
	}
	attrs = append(attrs, sp.attrs...)
	attrs = append(attrs, r.runAttr...)
	ctx, span := r.tracer.Start(ctx, sp.spanName, trace.WithSpanKind(sp.spanKind), trace.WithAttributes(attrs...))
	r.rr.Begin(span.SpanContext().SpanID(), br, sp.kind, sp.name)
	return &boundaryCall{run: r, sp: sp, ctx: ctx, span: span, branch: br, request: reqJSON, sig: sig}
}

// release ends the boundary's time in flight on its branch (for the
// recording's concurrency groups, and the replay's check that a branch
// makes one boundary at a time): when its helper returns, or a streamed
// exchange's response arrives.
func (c *boundaryCall) release() {
	if !c.released {
		c.released = true
		c.run.rr.Release(c.span.SpanContext().SpanID())
	}
	c.unhold()
}

// unhold releases the session's hold on the boundary's branch, if any.
func (c *boundaryCall) unhold() {
	if c.held {
		c.held = false
		c.run.session.Release(c.branch)
	}
}

// match matches the boundary against the recording (the run replays):
// it sets replayed and replayErr, or live for a boundary past a fork point,
// which runs as when recording.
func (c *boundaryCall) match() {
	sp, span := c.sp, c.span
	c.held = true
	a := c.run.session.Next(replaylink.Query{Branch: c.branch, Kind: sp.kind, Name: sp.name, Signature: c.sig, Request: c.request})
	switch {
	case a.Live:
		c.live = true
		span.SetAttributes(attribute.Bool(boundary.AttrLiveBoundary, true))
	case a.Err != nil:
		// A replay stopped on request (--until-seq, step quit) did not
		// diverge here, nor did a fork that refused to run a tool live:
		// the boundary just was not served.
		if !errors.Is(a.Err, replayer.ErrStopped) && !errors.Is(a.Err, replayer.ErrLiveRefused) {
			span.SetAttributes(attribute.String(boundary.AttrDivergence, a.Err.Error()))
		}
		c.replayErr = a.Err
	case a.Rec.Failed:
		c.replayed, c.replayErr = a.Rec, c.run.rec.errs.recordedOf(a.Rec)
	default:
		c.replayed = a.Rec
	}
	if a.Div != nil {
		span.SetAttributes(attribute.String(boundary.AttrDivergence, string(a.Div.Reason)))
	}
}

// finish stores the boundary: with response resp (canonical JSON), or as
// failed with callErr's text when callErr is not nil. It sets the payload
// attributes and attrs, gives the boundary its place in the run (set on
// the span too), ends the span (which commits it with a synced write) and
// returns the boundary's seq, or an error when the boundary was not stored
// whole; only then may the answer reach the agent.
func (c *boundaryCall) finish(resp []byte, callErr error, attrs ...attribute.KeyValue) (int64, error) {
	var errText string
	if callErr != nil {
		errText, resp = callErr.Error(), nil
		var re *RecordedError
		if errors.As(callErr, &re) {
			attrs = append(attrs, attribute.StringSlice(boundary.AttrErrorIs, append([]string{}, re.Matches...)))
			if re.IsTimeout {
				attrs = append(attrs, attribute.Bool(boundary.AttrErrorTimeout, true))
			}
		} else {
			attrs = append(attrs, attribute.StringSlice(boundary.AttrErrorIs, []string{}))
		}
	}
	hash := setPayload(c.span, c.request, resp, callErr != nil, errText, c.sig)
	if len(attrs) > 0 {
		c.span.SetAttributes(attrs...)
	}
	if callErr != nil {
		c.span.SetStatus(codes.Error, errText)
	}
	rr, id := c.run.rr, c.span.SpanContext().SpanID()
	if c.released {
		// A stream whose body ends after its exchange returned: matched
		// (and held) only now.
		defer c.unhold()
	}
	if !c.span.IsRecording() {
		rr.Forget(id)
		c.span.End()
		return 0, fmt.Errorf("otelrr: %s %s was not recorded: its span was not sampled (wrap the tracer provider's sampler with otelrr.Sampler)", c.sp.kind, c.sp.name)
	}
	pos, place, err := rr.Reserve(id, c.branch, c.sig, hash)
	if err != nil {
		c.span.End()
		if errors.Is(err, spanlog.ErrRunClosed) {
			err = ErrRunEnded
		}
		return 0, fmt.Errorf("otelrr: %s %s was not recorded: %w", c.sp.kind, c.sp.name, err)
	}
	c.span.SetAttributes(place...)
	c.span.End()
	res, ok := rr.Take(id)
	if !ok {
		// Its place can never be filled: nothing later may be written.
		err := fmt.Errorf("boundary seq %d (%s %s) never reached the durable processor", pos.Seq, c.sp.kind, c.sp.name)
		rr.W.Fail(err)
		return 0, fmt.Errorf("otelrr: %s %s was not recorded: %w (was the tracer provider shut down?)", c.sp.kind, c.sp.name, err)
	}
	if res.Err != nil {
		return 0, fmt.Errorf("otelrr: %s %s: %w", c.sp.kind, c.sp.name, res.Err)
	}
	return res.Pos.Seq, nil
}

// setPayload sets the payload attributes on span and returns the payload
// hash.
func setPayload(span trace.Span, req, resp []byte, failed bool, errText, sig string) string {
	attrs := make([]attribute.KeyValue, 0, 7)
	attrs = append(attrs,
		attribute.String(boundary.AttrRequest, string(req)),
		attribute.Int(boundary.AttrRequestLength, len(req)),
		attribute.String(boundary.AttrSignature, sig),
	)
	if failed {
		attrs = append(attrs, attribute.String(boundary.AttrError, errText))
	} else {
		attrs = append(attrs,
			attribute.String(boundary.AttrResponse, string(resp)),
			attribute.Int(boundary.AttrResponseLength, len(resp)))
	}
	hash := boundary.PayloadHash(req, resp, errText)
	attrs = append(attrs, attribute.String(boundary.AttrPayloadHash, hash))
	span.SetAttributes(attrs...)
	return hash
}

// UsageReporter is implemented by LLM response types that know their token
// usage; LLM then sets the GenAI usage attributes on the boundary span.
type UsageReporter interface {
	Usage() (inputTokens, outputTokens int64)
}
