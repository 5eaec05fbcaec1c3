package otelrr

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/exporter"
	"github.com/agentrr/agentrr/internal/recording"
	"github.com/agentrr/agentrr/internal/redact"
	"github.com/agentrr/agentrr/internal/replaylink"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// Recorder records runs into an agentrr store, and replays them. It is an
// OpenTelemetry span processor: register it, first, on the tracer provider
// your program already has, wrap that provider's sampler with Sampler, and
// start runs with StartRun:
//
//	rec, err := otelrr.NewRecorder(otelrr.FromEnv())
//	…
//	tp := sdktrace.NewTracerProvider(
//		sdktrace.WithSpanProcessor(rec),
//		sdktrace.WithSampler(otelrr.Sampler(yourSampler)),
//		sdktrace.WithBatcher(yourExporter),
//	)
//	ctx, run, err := rec.StartRun(ctx, tp, "support")
//
// Your exporter then receives every span, the boundary spans included,
// after they are durably stored and carrying their place in the run
// (agentrr.seq, agentrr.branch.index). NewTracerProvider builds such a
// provider for programs with no OpenTelemetry setup of their own.
type Recorder struct {
	*exporter.Processor

	redact  *redact.Redactor   // WithRedaction, AGENTRR_REDACT_KEYS; nil: none
	session replaylink.Session // replay from options/env; nil when recording
	errs    *errorNames        // WithError
}

var _ sdktrace.SpanProcessor = (*Recorder)(nil)

// NewRecorder returns a Recorder recording into the store (WithStore, or
// $AGENTRR_STORE, or .agentrr) and, with WithReplay or FromEnv under
// `agentrr replay`, replaying. Options that configure a tracer provider
// (WithServiceName, WithResource, WithSampler, WithSpanProcessor,
// WithSpanLimits, WithForwarding) are NewTracerProvider's: NewRecorder
// refuses them, since your provider has its own.
func NewRecorder(opts ...Option) (*Recorder, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if len(cfg.providerOnly) > 0 {
		return nil, fmt.Errorf("otelrr: NewRecorder: %s configure the tracer provider NewTracerProvider builds; with your own provider set them there (the sampler wrapped with otelrr.Sampler)", cfg.providerOnly)
	}
	return newRecorder(cfg, nil)
}

// newRecorder builds the Recorder of cfg; limits are the span limits of the
// provider it will be registered on, when known.
func newRecorder(cfg config, limits *sdktrace.SpanLimits) (*Recorder, error) {
	if cfg.envErr != nil {
		return nil, fmt.Errorf("otelrr: %w", cfg.envErr)
	}
	store, err := spanlog.Open(spanlog.Dir(cfg.storeDir))
	if err != nil {
		return nil, fmt.Errorf("otelrr: %w", err)
	}
	var popts []exporter.ProcessorOption
	if limits != nil {
		popts = append(popts, exporter.WithAttributeValueLengthLimit(limits.AttributeValueLengthLimit))
	}
	rec := &Recorder{Processor: exporter.NewProcessor(store, popts...), errs: cfg.errors}
	if rec.redact, err = newRedactor(cfg.redaction); err != nil {
		return nil, err
	}
	switch {
	case cfg.replay != nil:
		rec.session = replaylink.NewSession(cfg.replay, cfg.replayOpts)
	case cfg.replayID != "":
		mode, err := replayer.ParseMode(string(cfg.replayMode))
		if err != nil {
			return nil, fmt.Errorf("otelrr: %w", err)
		}
		r, err := loadReplay(store, cfg)
		if err != nil {
			return nil, fmt.Errorf("otelrr: replay %s: %w", cfg.replayID, err)
		}
		rec.session = replaylink.NewSession(r, cfg.sessionOptions(mode))
	}
	if rec.session != nil {
		if err := rec.session.Check(); err != nil {
			return nil, fmt.Errorf("otelrr: replay %s: %w", rec.session.Original().ID, err)
		}
	}
	return rec, nil
}

// Replaying reports whether the recorder was put into replay mode by
// WithReplay or FromEnv.
func (rec *Recorder) Replaying() bool { return rec.session != nil }

// StartRun starts a run named name on the tracer provider tp, which must
// have rec registered as a span processor, and returns a context carrying
// it: pass that context to the boundary helpers. The run's header is
// durably stored before StartRun returns.
//
// The run's root span is a child of the span in ctx, if any, so that the run
// stays in the caller's trace (one trace in Jaeger); otherwise it starts a
// new trace. The run id is the trace id, unless that trace already holds
// another run: then the run gets an id of its own (see boundary.RunID) that
// its spans carry as agentrr.run.id. Commands accept the trace id for
// either, when it names one run.
//
// If ctx carries a replayer session (replayer.Replay), or rec is in replay
// mode (WithReplay, FromEnv), the run replays the recording instead of
// calling out, and is itself recorded as a new run, in a new trace linked to
// the original. A replay serves one run: starting a second run on the same
// session fails.
func (rec *Recorder) StartRun(ctx context.Context, tp trace.TracerProvider, name string) (context.Context, *Run, error) {
	sess := replaylink.FromContext(ctx)
	if sess == nil {
		sess = rec.session
	}
	var replayOf, mode string
	opts := []trace.SpanStartOption{}
	if sess != nil {
		if err := sess.Begin(); err != nil {
			return ctx, nil, err
		}
		replayOf, mode = sess.Original().ID, sess.Mode()
		// A replay is another execution: a trace of its own, linked to
		// what it replays (and to the caller's span, if any).
		opts = append(opts, trace.WithNewRoot(), trace.WithLinks(replayLink(sess.Original())))
		if parent := trace.SpanContextFromContext(ctx); parent.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: parent}))
		}
		if store := sess.ReplayStore(); store != nil {
			ctx = recording.WithStore(ctx, store)
		}
	}
	opts = append(opts, trace.WithAttributes(boundary.RunStartAttributes(name, replayOf, mode)...))
	tracer := tp.Tracer(ScopeName)
	ctx, span := tracer.Start(ctx, name, opts...)
	rr, err := recording.Claim(span.SpanContext().SpanID())
	switch {
	case !span.IsRecording():
		err = errors.New("otelrr: the run's root span was not sampled: wrap the tracer provider's sampler with otelrr.Sampler, which keeps every run and boundary (or the provider is shut down)")
	case errors.Is(err, recording.ErrNotRegistered):
		err = errors.New("otelrr: the tracer provider does not pass its spans to this Recorder: register it with sdktrace.WithSpanProcessor(rec), or use the provider otelrr.NewTracerProvider builds")
	case err != nil:
		err = fmt.Errorf("otelrr: start run: %w", err)
	case rr.Owner != rec.Processor:
		err = errors.New("otelrr: the run was started on a tracer provider whose agentrr Recorder is not this one: start it with that Recorder")
		span.SetAttributes(boundary.RunEndAttributes(boundary.RunEnd{Error: err.Error()})...)
	}
	if err != nil {
		span.End()
		return ctx, nil, err
	}
	r := &Run{rec: rec, tracer: tracer, span: span, rr: rr, session: sess}
	r.root = &branch{run: r, path: boundary.RootBranch}
	if rr.Meta.Trace != "" {
		r.runAttr = []attribute.KeyValue{attribute.String(boundary.AttrRunID, rr.ID)}
	}
	if sess != nil {
		sess.SetReplayTrace(rr.ID)
		desc, changed := codeChange(sess.Original().Resource, rr.Meta.Resource)
		if changed && replaylink.IsWithinTest(ctx) && !bothRevisions(sess.Original().Resource, rr.Meta.Resource) {
			// A test binary is not the agent's own executable: only VCS
			// revisions on both sides say whether the code changed.
			desc, changed = "agent code not compared: replayed from a test binary, and the builds do not both name a VCS revision", false
		}
		sess.SetCodeChange(desc, changed)
		if c := sess.Report().Chaos; c != "" {
			span.SetAttributes(attribute.String(boundary.AttrReplayChaos, c))
		}
	}
	return context.WithValue(ctx, runKey{}, r), r, nil
}

// Sampler returns a sampler that records every agentrr run root span and
// boundary span, whatever inner decides (a dropped boundary would make
// replay impossible), and asks inner about every other span. A nil inner
// is sdktrace.ParentBased(sdktrace.AlwaysSample()), the SDK's default.
// Wrap your provider's sampler with it when you register a Recorder.
func Sampler(inner sdktrace.Sampler) sdktrace.Sampler {
	if inner == nil {
		inner = sdktrace.ParentBased(sdktrace.AlwaysSample())
	}
	return boundarySampler{inner: inner}
}
