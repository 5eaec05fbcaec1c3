package exporter

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/trace"
)

func TestSpanKindsRoundTrip(t *testing.T) {
	for _, k := range []trace.SpanKind{trace.SpanKindUnspecified, trace.SpanKindInternal, trace.SpanKindServer,
		trace.SpanKindClient, trace.SpanKindProducer, trace.SpanKindConsumer} {
		if got := otelKind(spanKind(k)); got != k {
			t.Errorf("%v encoded as %v reads back as %v", k, spanKind(k), got)
		}
	}
	if got := spanKind(trace.SpanKind(99)); got != ptrace.SpanKindUnspecified {
		t.Errorf("an unknown SDK kind is encoded as %v, want unspecified", got)
	}
	if got := otelKind(ptrace.SpanKind(99)); got != trace.SpanKindInternal {
		t.Errorf("an unknown OTLP kind reads back as %v, want internal", got)
	}
}
