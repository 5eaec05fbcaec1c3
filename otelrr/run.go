package otelrr

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/recording"
	"github.com/agentrr/agentrr/internal/replaylink"
)

// Run is one recorded (or replayed) agent run: a root span, whose trace id
// is the run id (see Recorder.StartRun), and the boundaries made under it.
type Run struct {
	rec     *Recorder
	tracer  trace.Tracer
	span    trace.Span
	rr      *recording.Run
	session replaylink.Session
	report  *analyze.Report
	ended   bool
	root    *branch
	// runAttr names the run on its boundary spans, when the run id is not
	// the trace id.
	runAttr []attribute.KeyValue
}

type runKey struct{}

// ErrNoRun is returned by a boundary helper called with a context that does
// not carry a run.
var ErrNoRun = errors.New("otelrr: no agentrr run in the context: start one with StartRun and pass its context to the helpers")

func runFromContext(ctx context.Context) *Run {
	r, _ := ctx.Value(runKey{}).(*Run)
	return r
}

// ErrRunEnded is returned by a boundary helper called with the context of a
// run that has ended, or whose provider was shut down: the boundary could not
// be recorded, so the call was not made.
var ErrRunEnded = errors.New("the run has ended or its tracer provider was shut down: the boundary cannot be recorded, so the call was not made")

// RunFromContext returns the run carried by ctx, or nil.
func RunFromContext(ctx context.Context) *Run { return runFromContext(ctx) }

// StartRun starts a run named name on the provider: see Recorder.StartRun.
func (tp *TracerProvider) StartRun(ctx context.Context, name string) (context.Context, *Run, error) {
	return tp.rec.StartRun(ctx, tp, name)
}

// TraceID returns the run id: 32 hex digits, the run's trace id unless its
// trace holds another run (see Recorder.StartRun).
func (r *Run) TraceID() string { return r.rr.ID }

// Replaying reports whether the run replays a recording.
func (r *Run) Replaying() bool { return r.session != nil }

// Report returns the replay report once a replaying run has ended (nil
// before, and for a recorded run).
func (r *Run) Report() *analyze.Report { return r.report }

// End ends the run. agentErr is the error the agent's work ended with (nil
// on success); it is recorded with the run. End ends the run's root span,
// and the recorder writes the run's end record with a synced write before
// End returns; a run that never ends reads back as truncated. For a
// replaying run End also finishes the replay: recorded boundaries the agent
// never requested are reported as divergences, and the verdict is recorded.
// End returns an error only if the end record could not be written.
func (r *Run) End(agentErr error) error {
	if r.ended {
		return nil
	}
	r.ended = true
	end := boundary.RunEnd{Boundaries: r.rr.W.Next()}
	if agentErr != nil {
		end.Error = agentErr.Error()
		r.span.SetStatus(codes.Error, agentErr.Error())
	}
	if r.session != nil {
		r.report = r.session.Finish(agentErr)
		end.Verdict = r.report.Verdict()
		end.Divergences = len(r.report.Divergences)
		if !r.report.Faithful() {
			r.span.SetStatus(codes.Error, "replay diverged")
		}
		if f := r.report.Fork; f != nil {
			seq := f.Seq
			end.ForkSeq, end.Live = &seq, r.report.Live
		}
	}
	r.span.SetAttributes(boundary.RunEndAttributes(end)...)
	r.span.End()
	err, done := r.rr.EndResult()
	if !done {
		err = errors.New("its root span never reached the recorder (was the tracer provider shut down?): the run reads back as truncated")
	}
	if err != nil {
		return fmt.Errorf("otelrr: end run %s: %w", r.rr.ID, err)
	}
	return nil
}
