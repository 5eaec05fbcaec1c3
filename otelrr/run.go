package otelrr

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/exporter"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// Run is one recorded (or replayed) agent run: a root span whose trace id is
// the run id, and the boundaries made under it.
type Run struct {
	tp      *TracerProvider
	span    trace.Span
	id      trace.TraceID
	writer  *spanlog.RunWriter
	commits *exporter.Run
	session *replayer.Session
	report  *analyze.Report
	ended   bool
	root    *branch
}

type runKey struct{}

// ErrNoRun is returned by a boundary helper called with a context that does
// not carry a run.
var ErrNoRun = errors.New("otelrr: no agentrr run in the context: start one with TracerProvider.StartRun and pass its context to the helpers")

func runFromContext(ctx context.Context) *Run {
	r, _ := ctx.Value(runKey{}).(*Run)
	return r
}

// ErrRunEnded is returned by a boundary helper called with the context of a
// run that has ended, or whose provider was shut down: the boundary could not
// be recorded, so the real call is not made.
var ErrRunEnded = errors.New("the run has ended or its tracer provider was shut down: the boundary cannot be recorded, so the call was not made")

// RunFromContext returns the run carried by ctx, or nil.
func RunFromContext(ctx context.Context) *Run { return runFromContext(ctx) }

// StartRun starts a run named name and returns a context carrying it; pass
// that context to the boundary helpers. The run is a new trace (a span
// already in ctx becomes a link, not a parent) and its trace id is the run
// id. The run header is durably stored before StartRun returns.
//
// If ctx carries a replayer session (replayer.Replay), or the provider is in
// replay mode (WithReplay, FromEnv), the run replays the recording instead
// of calling out, and is itself recorded as a new run that refers to the
// original. A replay serves one run: starting a second run on the same
// session fails.
func (tp *TracerProvider) StartRun(ctx context.Context, name string) (context.Context, *Run, error) {
	sess := replayer.SessionFromContext(ctx)
	if sess == nil {
		sess = tp.session
	}
	attrs := []attribute.KeyValue{attribute.String(boundary.AttrRun, name)}
	if sess != nil {
		attrs = append(attrs,
			attribute.String(boundary.AttrReplayOf, sess.Recording().TraceID),
			attribute.String(boundary.AttrReplayMode, string(sess.Mode())))
	}
	startOpts := []trace.SpanStartOption{trace.WithNewRoot(), trace.WithAttributes(attrs...)}
	if parent := trace.SpanContextFromContext(ctx); parent.IsValid() {
		startOpts = append(startOpts, trace.WithLinks(trace.Link{SpanContext: parent}))
	}
	if sess != nil {
		// Link to the original trace, so a backend such as Jaeger leads from
		// the replay to what it replays.
		startOpts = append(startOpts, trace.WithLinks(replayLink(sess.Recording())))
	}
	ctx, span := tp.tracer.Start(ctx, name, startOpts...)
	id := span.SpanContext().TraceID()
	if !span.SpanContext().IsSampled() {
		span.End()
		return ctx, nil, fmt.Errorf("otelrr: run %s was not sampled (is the provider shut down?)", id)
	}
	if sess != nil {
		if err := sess.Begin(id.String()); err != nil {
			span.End()
			return ctx, nil, err
		}
		sess.SetCodeChange(codeChange(sess.Recording().Info.Resource, resourceStrings(tp.res)))
	}
	meta := spanlog.RunMeta{
		TraceID:  id.String(),
		Name:     name,
		Service:  serviceName(tp.res),
		Start:    time.Now().UTC(),
		PID:      os.Getpid(),
		Resource: resourceStrings(tp.res),
	}
	if sess != nil {
		meta.ReplayOf = sess.Recording().TraceID
		meta.ReplayMode = string(sess.Mode())
	}
	w, err := tp.store.CreateRun(meta)
	if err != nil {
		span.End()
		return ctx, nil, fmt.Errorf("otelrr: start run: %w", err)
	}
	r := &Run{tp: tp, span: span, id: id, writer: w, session: sess}
	r.root = &branch{run: r, path: boundary.RootBranch}
	r.commits = tp.proc.Attach(id, w)
	return context.WithValue(ctx, runKey{}, r), r, nil
}

// TraceID returns the run id: the run's 32 hex digit trace id.
func (r *Run) TraceID() string { return r.id.String() }

// Replaying reports whether the run replays a recording.
func (r *Run) Replaying() bool { return r.session != nil }

// Report returns the replay report once a replaying run has ended (nil
// before, and for a recorded run).
func (r *Run) Report() *analyze.Report { return r.report }

// End ends the run. agentErr is the error the agent's work ended with (nil
// on success); it is recorded with the run. End writes the run's end record
// with a synced write; a run that never ends reads back as truncated. For a
// replaying run End also finishes the replay: recorded boundaries the agent
// never requested are reported as divergences, and the verdict is recorded.
// End returns an error only if the end record could not be written.
func (r *Run) End(agentErr error) error {
	if r.ended {
		return nil
	}
	r.ended = true
	end := spanlog.RunEnd{End: time.Now().UTC()}
	if agentErr != nil {
		end.Error = agentErr.Error()
		r.span.SetStatus(codes.Error, agentErr.Error())
	}
	if r.session != nil {
		r.report = r.session.Finish(agentErr)
		end.Verdict = r.report.Verdict()
		end.Divergences = len(r.report.Divergences)
		r.span.SetAttributes(
			attribute.String(boundary.AttrReplayVerdict, end.Verdict),
			attribute.Int("agentrr.replay.divergences", end.Divergences))
		if !r.report.Faithful() {
			r.span.SetStatus(codes.Error, "replay diverged")
		}
	}
	r.span.SetAttributes(attribute.Int64(boundary.AttrBoundaries, r.writer.Next()))
	r.span.End()
	r.tp.proc.Detach(r.id)
	if err := r.writer.Finish(end); err != nil {
		return fmt.Errorf("otelrr: end run %s: %w", r.id, err)
	}
	return nil
}
