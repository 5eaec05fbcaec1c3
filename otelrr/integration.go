package otelrr

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentrr/agentrr/boundary"
)

// Spec describes a boundary made with Call: its kind, name and span, which
// the helpers (LLM, Tool, …) fix for their own boundaries. It is for
// integrations that record a protocol of their own (otelrr/mcprr records
// Model Context Protocol sessions) and need the span to follow that
// protocol's conventions.
type Spec struct {
	// Kind is the boundary's kind; it must be one of boundary's kinds.
	Kind boundary.Kind
	// Name is the boundary's name (agentrr.name): what replay matches, with
	// the kind and the signature of the request. It must not be empty.
	Name string
	// SpanName is the span's name; "{Kind} {Name}" when empty. The run's
	// redaction patterns apply to it.
	SpanName string
	// SpanKind is the span's kind (trace.SpanKindInternal when zero).
	SpanKind trace.SpanKind
	// Attributes are set on the span when it starts. They describe the
	// boundary (for Jaeger and the OpenTelemetry conventions); they are not
	// part of the signature or the payload hash. The run's redaction rules
	// apply to their string values. Keys of agentrr's own format
	// (agentrr.kind, agentrr.request, agentrr.run, …) are refused; an
	// integration's own keys may use agentrr.<integration>.
	Attributes []attribute.KeyValue
}

// SpanDescriber is implemented by response types that add to their
// boundary's span what only the response knows: attributes (a session id,
// an error code), and an error status for a response that reports a
// failure in its payload while the call itself succeeded (a JSON-RPC error
// response, an MCP tool result flagged isError). Call applies it to the
// response the agent gets, recording and replaying alike, before the span
// ends; the same rules as Spec.Attributes apply to the attributes.
type SpanDescriber interface {
	// DescribeSpan returns the attributes to set and, when not empty, the
	// description of the span's error status.
	DescribeSpan() (attrs []attribute.KeyValue, errorStatus string)
}

// Call makes one boundary described by s: the request req, answered by fn
// when recording, from the recording when replaying (fn is then never
// called). It is what the helpers are made of, with the same guarantees:
// the boundary is stored with a synced write before Call returns, the
// answer is the JSON-decoded copy of what is stored (redaction applied),
// and a failed call returns a *RecordedError, recording and replaying
// alike. It returns an error without calling fn when s is not a valid
// description.
func Call[Req, Resp any](ctx context.Context, s Spec, req Req, fn func(context.Context, Req) (Resp, error)) (Resp, error) {
	var zero Resp
	if !s.Kind.Valid() {
		return zero, fmt.Errorf("otelrr.Call: %w", errUnknownKind(s.Kind))
	}
	if s.Name == "" {
		return zero, errors.New("otelrr.Call: a boundary needs a name")
	}
	for _, kv := range s.Attributes {
		if reservedAttribute(string(kv.Key)) {
			return zero, fmt.Errorf("otelrr.Call: attribute %s is agentrr's own", kv.Key)
		}
	}
	spanName := s.SpanName
	if spanName == "" {
		spanName = string(s.Kind) + " " + s.Name
	}
	spanKind := s.SpanKind
	if spanKind == trace.SpanKindUnspecified {
		spanKind = trace.SpanKindInternal
	}
	attrs := s.Attributes
	if run := runFromContext(ctx); run != nil {
		attrs, spanName = run.rec.redact.Attributes(attrs), run.rec.redact.Text(spanName)
	}
	return call(ctx, spec{kind: s.Kind, name: s.Name, spanName: spanName, spanKind: spanKind, attrs: attrs},
		req, func(ctx context.Context) (Resp, error) { return fn(ctx, req) })
}

func errUnknownKind(k boundary.Kind) error {
	_, err := boundary.ParseKind(string(k))
	return err
}

// reservedSegments are the first segments, after "agentrr.", of the
// attribute keys agentrr's boundary and run format uses.
var reservedSegments = map[string]bool{
	"kind": true, "seq": true, "branch": true, "concurrent": true, "name": true,
	"request": true, "response": true, "error": true, "signature": true,
	"payload": true, "damage": true, "run": true, "replay_of": true, "replay": true,
	"divergence": true, "boundaries": true, "build": true, "http": true,
}

// reservedAttribute reports whether key belongs to agentrr's own format.
func reservedAttribute(key string) bool {
	rest, ok := strings.CutPrefix(key, "agentrr.")
	if !ok {
		return false
	}
	seg, _, _ := strings.Cut(rest, ".")
	return reservedSegments[seg]
}

// describe returns what resp's SpanDescriber adds to its span: the
// attributes (redacted, agentrr's own keys dropped) and the error status.
func (r *Run) describe(resp any) ([]attribute.KeyValue, string) {
	d, ok := resp.(SpanDescriber)
	if !ok {
		return nil, ""
	}
	attrs, status := d.DescribeSpan()
	kept := attrs[:0:0]
	for _, kv := range attrs {
		if !reservedAttribute(string(kv.Key)) {
			kept = append(kept, kv)
		}
	}
	return r.rec.redact.Attributes(kept), r.rec.redact.Text(status)
}
