package exporter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/spanlog"
)

// Processor is the durable span processor. Boundary spans of an attached run
// are written to the run's spanlog in OnEnd, synced, before OnEnd returns.
// Other spans pass through untouched (other processors registered on the
// provider, such as an OTLP forwarder, still see them).
//
// Unlike the SDK's simple span processor, Processor holds no lock across the
// write, so boundaries ended concurrently share fsyncs.
type Processor struct {
	mu   sync.RWMutex
	runs map[trace.TraceID]*Run

	// fwd, when set, gets a copy of every span: boundary spans of attached
	// runs after their synced write, with their seq (see SetForwarder).
	fwd *Forwarder

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

// NewProcessor returns a Processor with no runs attached.
func NewProcessor(opts ...ProcessorOption) *Processor {
	p := &Processor{runs: make(map[trace.TraceID]*Run), valueLimit: 0}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Result is the outcome of committing one boundary span.
type Result struct {
	// Seq is the boundary's position in its run, Index in its branch.
	Seq   int64
	Index int64
	// Err is non-nil when the boundary is not durably and wholly stored.
	Err error
}

// Run is one run attached to the processor: its boundary spans go to W.
type Run struct {
	w *spanlog.RunWriter
	// replayed is true for the run a replay records: its boundaries'
	// overlaps are not the agent author's to fix, and are not warned about.
	replayed bool

	mu       sync.Mutex
	results  map[trace.SpanID]Result
	detached atomic.Bool

	// Boundaries in flight, by span and by branch (see flight.go).
	flights                        map[trace.SpanID]*flight
	branches                       map[string]*branchFlights
	groups                         int64
	warnedOverlap, warnedAmbiguous bool
}

// Attach routes the boundary spans of trace id to w until Detach.
func (p *Processor) Attach(id trace.TraceID, w *spanlog.RunWriter) *Run {
	r := &Run{
		w:        w,
		replayed: w.Replayed(),
		results:  make(map[trace.SpanID]Result),
		flights:  make(map[trace.SpanID]*flight),
		branches: make(map[string]*branchFlights),
	}
	p.mu.Lock()
	p.runs[id] = r
	p.mu.Unlock()
	return r
}

// Detach stops routing spans of trace id.
func (p *Processor) Detach(id trace.TraceID) {
	p.mu.Lock()
	if r := p.runs[id]; r != nil {
		r.detached.Store(true)
	}
	delete(p.runs, id)
	p.mu.Unlock()
}

// Attached reports whether the run's boundaries are still being recorded:
// false once the run was detached (ended) or the processor shut down. A
// boundary helper checks it before running the real call, so that no side
// effect happens that cannot be recorded.
func (r *Run) Attached() bool { return !r.detached.Load() }

// Take returns, and forgets, the commit result of the boundary span id. ok
// is false when the span never reached OnEnd (it was not sampled, or it
// ended after the provider shut down): that boundary is not recorded.
func (r *Run) Take(id trace.SpanID) (res Result, ok bool) {
	r.mu.Lock()
	res, ok = r.results[id]
	delete(r.results, id)
	r.mu.Unlock()
	return res, ok
}

// OnStart does nothing: a boundary is written when it ends, whole.
func (p *Processor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd writes s to its run's store if it is a boundary span of an attached
// run, with a synced write, and records the outcome for Run.Take.
func (p *Processor) OnEnd(s sdktrace.ReadOnlySpan) {
	if !isBoundary(s) {
		p.fwd.Forward(s)
		return
	}
	sc := s.SpanContext()
	p.mu.RLock()
	r := p.runs[sc.TraceID()]
	p.mu.RUnlock()
	if r == nil {
		p.fwd.Forward(s)
		return
	}
	b := readBoundary(s, p.valueLimit >= 0)
	var extra []attribute.KeyValue
	pos, err := r.w.AppendBranch(b.branch, func(pos spanlog.Pos) ([]byte, error) {
		extra = append(extra[:0], attribute.Int64(boundary.AttrSeq, pos.Seq), attribute.Int64(boundary.AttrBranchIndex, pos.Index))
		if kv, ok := r.landed(sc.SpanID(), b.sig, b.hash); ok {
			extra = append(extra, kv)
		}
		if b.damage != "" {
			extra = append(extra, attribute.String(boundary.AttrDamage, b.damage))
		}
		return (&ptrace.ProtoMarshaler{}).MarshalTraces(Traces(s, extra...))
	})
	if err != nil {
		// Not written: forget the span's flight, if it was never encoded.
		r.landed(sc.SpanID(), "", "")
	}
	if err == nil && b.damage != "" {
		err = &PayloadCutError{Seq: pos.Seq, Reason: b.damage}
	}
	r.mu.Lock()
	r.results[sc.SpanID()] = Result{Seq: pos.Seq, Index: pos.Index, Err: err}
	r.mu.Unlock()
	p.forwardBoundary(s, extra, b.damage, err)
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

func (e *PayloadCutError) Is(target error) bool { return target == ErrPayloadCut }

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
	branch, sig, hash string
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

// Shutdown closes the writers of runs still attached (their agents never
// ended them): they read back as truncated. Ended runs are already closed.
// Then it shuts the forwarder down, if any (bounded wait).
func (p *Processor) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	runs := p.runs
	p.runs = make(map[trace.TraceID]*Run)
	p.mu.Unlock()
	var errs []error
	for _, r := range runs {
		r.detached.Store(true)
		errs = append(errs, r.w.Close())
	}
	errs = append(errs, p.fwd.Shutdown(ctx))
	return errors.Join(errs...)
}

// ForceFlush flushes the forwarder, if any, with a bounded wait. Every
// boundary is already durable when OnEnd returns.
func (p *Processor) ForceFlush(ctx context.Context) error { return p.fwd.ForceFlush(ctx) }
