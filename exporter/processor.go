package exporter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/recording"
	"github.com/agentrr/agentrr/spanlog"
)

// Processor is the durable span processor: register it on a tracer
// provider (sdktrace.WithSpanProcessor), first, and it records every run
// started on that provider into its store.
//
//   - When a run's root span starts (a span carrying agentrr.run, as
//     otelrr's StartRun makes), OnStart creates the run in the store and
//     writes its header with a synced write.
//   - When a boundary span of a run ends, OnEnd encodes it as OTLP
//     protobuf and commits it with a synced write, on the goroutine that
//     ended the span, before span.End returns. otelrr's helpers give each
//     boundary its place (agentrr.seq, agentrr.branch.index) before its
//     span ends, so the span every processor and exporter sees carries it.
//   - When the root span ends, OnEnd writes the run's end record, synced.
//
// Other spans pass through untouched: processors registered after this one
// (a batch processor exporting to an OTLP backend) see every span, boundary
// spans after they are durable. Unlike the SDK's simple span processor,
// Processor holds no lock across a write, so boundaries ended concurrently
// share fsyncs.
type Processor struct {
	store *spanlog.Store

	mu   sync.RWMutex
	runs map[string]*recording.Run // by run id
	// live maps trace ids to the runs recorded in them, for boundary spans
	// that do not name their run.
	live map[trace.TraceID][]*recording.Run

	// valueLimit is the provider's attribute value length limit (-1: none).
	// With a limit, any string attribute may have been cut, so every
	// boundary is checked against its signature and payload hash.
	valueLimit int
}

var _ sdktrace.SpanProcessor = (*Processor)(nil)

// ProcessorOption configures NewProcessor.
type ProcessorOption func(*Processor)

// WithAttributeValueLengthLimit tells the processor the span limit its
// provider applies to attribute values (sdktrace.SpanLimits, -1 for none).
// Without this option the processor assumes a limit may apply and checks
// every boundary's signature and payload hash against its attributes, which
// costs a hash of the payload per boundary.
func WithAttributeValueLengthLimit(n int) ProcessorOption {
	return func(p *Processor) { p.valueLimit = n }
}

// NewProcessor returns a Processor recording into store.
func NewProcessor(store *spanlog.Store, opts ...ProcessorOption) *Processor {
	p := &Processor{store: store, runs: make(map[string]*recording.Run), live: make(map[trace.TraceID][]*recording.Run)}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Store returns the store the processor records into.
func (p *Processor) Store() *spanlog.Store { return p.store }

// OnStart creates the run of a run root span. The outcome goes to otelrr's
// StartRun through the run registry (internal/recording).
func (p *Processor) OnStart(ctx context.Context, s sdktrace.ReadWriteSpan) {
	if !isRunRoot(s) {
		return
	}
	sc := s.SpanContext()
	r, err := p.startRun(ctx, s)
	recording.Register(sc.SpanID(), r, err)
}

func (p *Processor) startRun(ctx context.Context, s sdktrace.ReadWriteSpan) (*recording.Run, error) {
	sc := s.SpanContext()
	meta, _, err := boundary.ParseRootSpan(rootSpan(s), resourceOf(s))
	if err != nil {
		return nil, err
	}
	meta.PID = os.Getpid()
	store := p.store
	if st := recording.StoreFrom(ctx); st != nil {
		store = st
	}
	if c := recording.CommandFrom(ctx); c != nil && meta.Command == nil {
		meta.Command = c
	}
	w, err := store.CreateRun(meta)
	if errors.Is(err, spanlog.ErrRunExists) && s.Parent().IsValid() {
		// The trace is shared with another run (two agents in one request):
		// this run gets an id of its own, and says so on its spans.
		meta.Trace = meta.TraceID
		meta.TraceID = boundary.RunID(sc.TraceID(), sc.SpanID(), true)
		s.SetAttributes(attribute.String(boundary.AttrRunID, meta.TraceID))
		w, err = store.CreateRun(meta)
	}
	if err != nil {
		return nil, err
	}
	r := recording.New(meta.TraceID, sc.TraceID(), sc.SpanID(), meta, w, p)
	p.mu.Lock()
	p.runs[meta.TraceID] = r
	p.live[sc.TraceID()] = append(p.live[sc.TraceID()], r)
	p.mu.Unlock()
	return r, nil
}

// OnEnd writes a boundary span of a run, or the end record of a run whose
// root span ended.
func (p *Processor) OnEnd(s sdktrace.ReadOnlySpan) {
	sc := s.SpanContext()
	if isRunRoot(s) {
		p.endRun(s)
		return
	}
	if !isBoundary(s) {
		return
	}
	b := readBoundary(s, p.valueLimit >= 0)
	r := p.runOf(sc.TraceID(), b.runID)
	if r == nil {
		return
	}
	pos, placed, abandoned := r.Placed(sc.SpanID())
	if abandoned {
		return
	}
	var extra []attribute.KeyValue
	if b.damage != "" {
		extra = append(extra, attribute.String(boundary.AttrDamage, b.damage))
	}
	var err error
	if placed {
		var val []byte
		if val, err = (&ptrace.ProtoMarshaler{}).MarshalTraces(Traces(s, extra...)); err != nil {
			err = fmt.Errorf("encode boundary seq %d: %w", pos.Seq, err)
			r.W.Fail(err) // its place can never be filled
		} else {
			err = r.W.Commit(pos, val)
		}
	} else {
		// A boundary span made without otelrr's helpers: placed as it
		// ends, its place in the stored copy only.
		pos, err = r.W.AppendBranch(b.branch, func(pos spanlog.Pos) ([]byte, error) {
			more := append([]attribute.KeyValue{attribute.Int64(boundary.AttrSeq, pos.Seq), attribute.Int64(boundary.AttrBranchIndex, pos.Index)}, extra...)
			return (&ptrace.ProtoMarshaler{}).MarshalTraces(Traces(s, more...))
		})
	}
	if err == nil && b.damage != "" {
		err = &PayloadCutError{Seq: pos.Seq, Reason: b.damage}
	}
	r.Done(sc.SpanID(), recording.Result{Pos: pos, Err: err})
}

// runOf returns the run a boundary span of trace tid belongs to: the one
// runID names, else the trace's only run.
func (p *Processor) runOf(tid trace.TraceID, runID string) *recording.Run {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if runID != "" {
		return p.runs[runID]
	}
	for _, r := range p.live[tid] {
		if r.Meta.Trace == "" {
			return r
		}
	}
	return nil
}

// endRun writes the end record of the run whose root span s ended.
func (p *Processor) endRun(s sdktrace.ReadOnlySpan) {
	r := p.detach(s.SpanContext().TraceID(), s.SpanContext().SpanID())
	if r == nil {
		return
	}
	_, end, err := boundary.ParseRootSpan(rootSpan(s), resourceOf(s))
	if err == nil && end == nil {
		err = fmt.Errorf("the root span of run %s ended without %s: the run is left truncated", r.ID, boundary.AttrBoundaries)
		r.W.Close()
	} else if err == nil {
		err = r.W.Finish(*end)
	} else {
		r.W.Close()
	}
	r.SetEnd(err)
}

// detach stops routing spans to the run whose root span is root.
func (p *Processor) detach(tid trace.TraceID, root trace.SpanID) *recording.Run {
	p.mu.Lock()
	defer p.mu.Unlock()
	runs := p.live[tid]
	for i, r := range runs {
		if r.Root != root {
			continue
		}
		r.MarkEnded()
		delete(p.runs, r.ID)
		if runs = append(runs[:i:i], runs[i+1:]...); len(runs) == 0 {
			delete(p.live, tid)
		} else {
			p.live[tid] = runs
		}
		return r
	}
	return nil
}

// PayloadCutError is returned for a boundary whose payload span limits cut
// before it reached the processor. The boundary is stored marked damaged and
// will not be replayed.
type PayloadCutError struct {
	Seq    int64
	Reason string
}

func (e *PayloadCutError) Error() string {
	return fmt.Sprintf("agentrr: boundary seq %d not recorded whole: %s; raise or unset OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT / OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", e.Seq, e.Reason)
}

// ErrPayloadCut matches any *PayloadCutError with errors.Is.
var ErrPayloadCut = errors.New("boundary payload cut by span limits")

// Is reports whether target is ErrPayloadCut or boundary.ErrDamaged: the
// boundary is stored damaged.
func (e *PayloadCutError) Is(target error) bool {
	return target == ErrPayloadCut || target == boundary.ErrDamaged
}

// isRunRoot reports whether s is a run root span.
func isRunRoot(s sdktrace.ReadOnlySpan) bool {
	root := false
	for _, kv := range s.Attributes() {
		switch kv.Key {
		case boundary.AttrKind:
			return false
		case boundary.AttrRun:
			root = true
		}
	}
	return root
}

// rootSpan is s as a pdata span, for boundary.ParseRootSpan.
func rootSpan(s sdktrace.ReadOnlySpan) ptrace.Span {
	return Traces(s).ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
}

// resourceOf is the resource of s as pdata.
func resourceOf(s sdktrace.ReadOnlySpan) pcommon.Resource {
	res := pcommon.NewResource()
	if r := s.Resource(); r != nil {
		for _, kv := range r.Attributes() {
			putAttr(res.Attributes(), kv)
		}
	}
	return res
}

func isBoundary(s sdktrace.ReadOnlySpan) bool {
	for _, kv := range s.Attributes() {
		if kv.Key == boundary.AttrKind {
			return true
		}
	}
	return false
}

// spanBoundary is what the processor reads off a boundary span.
type spanBoundary struct {
	branch, runID, sig, hash string
	// damage says what span limits took from the span, or "".
	damage string
}

// readBoundary reads a boundary span's branch, signature and payload hash,
// and what span limits took from it (see damageOf).
func readBoundary(s sdktrace.ReadOnlySpan, mayBeCut bool) spanBoundary {
	var b spanBoundary
	for _, kv := range s.Attributes() {
		switch kv.Key {
		case boundary.AttrBranch:
			b.branch = kv.Value.AsString()
		case boundary.AttrRunID:
			b.runID = kv.Value.AsString()
		case boundary.AttrSignature:
			b.sig = kv.Value.AsString()
		case boundary.AttrPayloadHash:
			b.hash = kv.Value.AsString()
		}
	}
	b.damage = damageOf(s, mayBeCut)
	return b
}

// damageOf says what span limits took from a boundary span, or "".
// String attributes cut by a value length limit are found by comparing with
// the recorded lengths; attributes dropped by the count limit show in
// DroppedAttributes.
func damageOf(s sdktrace.ReadOnlySpan, mayBeCut bool) string {
	var req, resp *string
	reqLen, respLen := int64(-1), int64(-1)
	var kind, name, errText, sig, hash string
	var sawSig, sawHash bool
	for _, kv := range s.Attributes() {
		switch kv.Key {
		case boundary.AttrKind:
			kind = kv.Value.AsString()
		case boundary.AttrName:
			name = kv.Value.AsString()
		case boundary.AttrError:
			errText = kv.Value.AsString()
		case boundary.AttrRequest:
			v := kv.Value.AsString()
			req = &v
		case boundary.AttrResponse:
			v := kv.Value.AsString()
			resp = &v
		case boundary.AttrRequestLength:
			reqLen = kv.Value.AsInt64()
		case boundary.AttrResponseLength:
			respLen = kv.Value.AsInt64()
		case boundary.AttrSignature:
			sawSig, sig = true, kv.Value.AsString()
		case boundary.AttrPayloadHash:
			sawHash, hash = true, kv.Value.AsString()
		}
	}
	switch {
	case req != nil && reqLen >= 0 && int64(len(*req)) != reqLen:
		return fmt.Sprintf("request cut from %d to %d bytes by an attribute value length limit", reqLen, len(*req))
	case resp != nil && respLen >= 0 && int64(len(*resp)) != respLen:
		return fmt.Sprintf("response cut from %d to %d bytes by an attribute value length limit", respLen, len(*resp))
	case s.DroppedAttributes() > 0 && (req == nil || !sawSig || !sawHash):
		return fmt.Sprintf("%d attributes dropped by the attribute count limit, among them boundary attributes", s.DroppedAttributes())
	case !mayBeCut:
		return ""
	}
	// A value length limit may also have cut the error text, the name, or
	// the signature and hash themselves: they no longer agree.
	var reqB, respB []byte
	if req != nil {
		reqB = []byte(*req)
	}
	if resp != nil {
		respB = []byte(*resp)
	}
	switch {
	case sawHash && boundary.PayloadHash(reqB, respB, errText) != hash:
		return "error text or payload hash cut by an attribute value length limit (the payload hash does not match)"
	case sawSig && boundary.Signature(boundary.Kind(kind), name, reqB) != sig:
		return "name or signature cut by an attribute value length limit (the signature does not match)"
	}
	return ""
}

// Shutdown closes the writers of runs still being recorded (their agents
// never ended them): they read back as truncated. Ended runs are closed
// already.
func (p *Processor) Shutdown(context.Context) error {
	p.mu.Lock()
	runs := p.runs
	p.runs = make(map[string]*recording.Run)
	p.live = make(map[trace.TraceID][]*recording.Run)
	p.mu.Unlock()
	var errs []error
	for _, r := range runs {
		r.MarkEnded()
		errs = append(errs, r.W.Close())
	}
	return errors.Join(errs...)
}

// ForceFlush does nothing: every boundary is durable when OnEnd returns.
func (p *Processor) ForceFlush(context.Context) error { return nil }
