package exporter_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/exporter"
	"github.com/agentrr/agentrr/internal/recording"
	"github.com/agentrr/agentrr/spanlog"
)

// benchAttrs are the attributes of a ~1 KB tool boundary (request and
// response of ~512 bytes of JSON text each).
func benchAttrs() []attribute.KeyValue {
	text := strings.Repeat("the parcel arrived damaged ", 19)
	return boundaryAttrs("search", `{"q":"`+text+`"}`, `{"a":"`+text+`"}`)
}

// BenchmarkEncode is the conversion of one ended boundary span to OTLP
// protobuf bytes, as stored: Traces plus the proto marshaling.
func BenchmarkEncode(b *testing.B) {
	s := tracetest.SpanStub{
		Name:        "execute_tool search",
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled}),
		StartTime:   time.Now(),
		EndTime:     time.Now(),
		Attributes:  benchAttrs(),
	}.Snapshot()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(exporter.Traces(s, attribute.Int64(boundary.AttrSeq, 7))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOnEnd is one boundary span ended through the SDK into the
// durable processor: encode and synced write, one goroutine.
func BenchmarkOnEnd(b *testing.B) {
	store, err := spanlog.Open(filepath.Join(b.TempDir(), "store"))
	if err != nil {
		b.Fatal(err)
	}
	p := exporter.NewProcessor(store)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(p))
	defer tp.Shutdown(context.Background())
	tr := tp.Tracer("bench")
	ctx, root := tr.Start(context.Background(), "run", trace.WithAttributes(boundary.RunStartAttributes("bench", "", "")...))
	run, err := recording.Claim(root.SpanContext().SpanID())
	if err != nil {
		b.Fatal(err)
	}
	attrs := benchAttrs()
	b.ReportAllocs()
	for b.Loop() {
		_, sp := tr.Start(ctx, "execute_tool search", trace.WithAttributes(attrs...))
		sp.End()
		if res, ok := run.Take(sp.SpanContext().SpanID()); !ok || res.Err != nil {
			b.Fatalf("boundary not stored: %v", res.Err)
		}
	}
	b.StopTimer()
	root.SetAttributes(boundary.RunEndAttributes(boundary.RunEnd{Boundaries: run.W.Next()})...)
	root.End()
	if err, _ := run.EndResult(); err != nil {
		b.Fatal(err)
	}
}
