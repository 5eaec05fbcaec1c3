package exporter

import (
	"context"
	"errors"
	"fmt"
	"sync"

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
}

var _ sdktrace.SpanProcessor = (*Processor)(nil)

// NewProcessor returns a Processor with no runs attached.
func NewProcessor() *Processor {
	return &Processor{runs: make(map[trace.TraceID]*Run)}
}

// Result is the outcome of committing one boundary span.
type Result struct {
	// Seq is the boundary's position in its run.
	Seq int64
	// Err is non-nil when the boundary is not durably and wholly stored.
	Err error
}

// Run is one run attached to the processor: its boundary spans go to W.
type Run struct {
	w *spanlog.RunWriter

	mu      sync.Mutex
	results map[trace.SpanID]Result
}

// Attach routes the boundary spans of trace id to w until Detach.
func (p *Processor) Attach(id trace.TraceID, w *spanlog.RunWriter) *Run {
	r := &Run{w: w, results: make(map[trace.SpanID]Result)}
	p.mu.Lock()
	p.runs[id] = r
	p.mu.Unlock()
	return r
}

// Detach stops routing spans of trace id.
func (p *Processor) Detach(id trace.TraceID) {
	p.mu.Lock()
	delete(p.runs, id)
	p.mu.Unlock()
}

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
		return
	}
	sc := s.SpanContext()
	p.mu.RLock()
	r := p.runs[sc.TraceID()]
	p.mu.RUnlock()
	if r == nil {
		return
	}
	damage := damageOf(s)
	seq, err := r.w.Append(func(seq int64) ([]byte, error) {
		extra := []attribute.KeyValue{attribute.Int64(boundary.AttrSeq, seq)}
		if damage != "" {
			extra = append(extra, attribute.String(boundary.AttrDamage, damage))
		}
		return (&ptrace.ProtoMarshaler{}).MarshalTraces(Traces(s, extra...))
	})
	if err == nil && damage != "" {
		err = &PayloadCutError{Seq: seq, Reason: damage}
	}
	r.mu.Lock()
	r.results[sc.SpanID()] = Result{Seq: seq, Err: err}
	r.mu.Unlock()
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

// damageOf says what span limits took from a boundary span, or "".
// String attributes cut by a value length limit are found by comparing with
// the recorded lengths; attributes dropped by the count limit show in
// DroppedAttributes.
func damageOf(s sdktrace.ReadOnlySpan) string {
	var req, resp *string
	reqLen, respLen := int64(-1), int64(-1)
	var sawSig, sawHash bool
	for _, kv := range s.Attributes() {
		switch kv.Key {
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
			sawSig = true
		case boundary.AttrPayloadHash:
			sawHash = true
		}
	}
	switch {
	case req != nil && reqLen >= 0 && int64(len(*req)) != reqLen:
		return fmt.Sprintf("request cut from %d to %d bytes by an attribute value length limit", reqLen, len(*req))
	case resp != nil && respLen >= 0 && int64(len(*resp)) != respLen:
		return fmt.Sprintf("response cut from %d to %d bytes by an attribute value length limit", respLen, len(*resp))
	case s.DroppedAttributes() > 0 && (req == nil || !sawSig || !sawHash):
		return fmt.Sprintf("%d attributes dropped by the attribute count limit, among them boundary attributes", s.DroppedAttributes())
	}
	return ""
}

// Shutdown closes the writers of runs still attached (their agents never
// ended them): they read back as truncated. Ended runs are already closed.
func (p *Processor) Shutdown(context.Context) error {
	p.mu.Lock()
	runs := p.runs
	p.runs = make(map[trace.TraceID]*Run)
	p.mu.Unlock()
	var errs []error
	for _, r := range runs {
		errs = append(errs, r.w.Close())
	}
	return errors.Join(errs...)
}

// ForceFlush does nothing: every boundary is already durable when OnEnd returns.
func (p *Processor) ForceFlush(context.Context) error { return nil }
