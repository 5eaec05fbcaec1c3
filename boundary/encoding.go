package boundary

import (
	"fmt"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Unmarshal decodes one stored boundary: an OTLP protobuf TracesData holding
// exactly one span. It returns an error for bytes that do not decode or that
// hold no span, several spans, or a span that is not a boundary.
func Unmarshal(b []byte) (Record, error) {
	td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b)
	if err != nil {
		return Record{}, fmt.Errorf("decode stored span: %w", err)
	}
	if n := td.SpanCount(); n != 1 {
		return Record{}, fmt.Errorf("decode stored span: holds %d spans, want 1", n)
	}
	var span ptrace.Span
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			if spans := sss.At(j).Spans(); spans.Len() > 0 {
				span = spans.At(0)
			}
		}
	}
	return FromSpan(span)
}
