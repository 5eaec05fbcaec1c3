package exporter_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentrr/agentrr/exporter"
)

// stubSpan returns a finished span with the given attributes.
func stubSpan(i int, attrs ...attribute.KeyValue) sdktrace.ReadOnlySpan {
	return tracetest.SpanStub{
		Name: "span",
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID{1}, SpanID: trace.SpanID{byte(i >> 8), byte(i), 1}, TraceFlags: trace.FlagsSampled,
		}),
		StartTime:  time.Unix(1, 0),
		EndTime:    time.Unix(2, 0),
		Attributes: attrs,
	}.Snapshot()
}

// stuckExporter never finishes an export before its context is done.
type stuckExporter struct{ calls atomic.Int64 }

func (e *stuckExporter) ExportSpans(ctx context.Context, _ []sdktrace.ReadOnlySpan) error {
	e.calls.Add(1)
	<-ctx.Done()
	return ctx.Err()
}
func (e *stuckExporter) Shutdown(context.Context) error { return nil }

// forward ends s through the forwarder, as a tracer provider would.
func forward(f *exporter.Forwarder, s sdktrace.ReadOnlySpan) { f.OnEnd(s) }

func TestForwarderNeverBlocksOnAStuckBackend(t *testing.T) {
	exp := &stuckExporter{}
	f := exporter.NewForwarder(exp,
		exporter.WithBatchOptions(sdktrace.WithMaxQueueSize(8), sdktrace.WithMaxExportBatchSize(4), sdktrace.WithBatchTimeout(time.Millisecond)),
		exporter.WithExportTimeout(50*time.Millisecond),
		exporter.WithFlushTimeout(200*time.Millisecond))
	const n = 1000
	start := time.Now()
	for i := range n {
		forward(f, stubSpan(i)) // would hang the test if it waited for the backend
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("queuing %d spans for a stuck backend took %s", n, d)
	}
	f.Shutdown(context.Background())
	if exp.calls.Load() == 0 {
		t.Error("the backend was never asked")
	}
	forward(f, stubSpan(0)) // after Shutdown: ignored, no panic
}

func TestForwarderCutsLongStringsInTheCopyOnly(t *testing.T) {
	mem := tracetest.NewInMemoryExporter()
	f := exporter.NewForwarder(mem, exporter.WithPayloadLimit(5))
	long := "ééé" // 6 bytes
	orig := stubSpan(1, attribute.String("agentrr.request", long), attribute.String("short", "ok"), attribute.Int64("agentrr.seq", 7))
	forward(f, orig)
	if err := f.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := mem.GetSpans()
	if len(got) != 1 {
		t.Fatalf("%d spans forwarded", len(got))
	}
	attrs := map[attribute.Key]attribute.Value{}
	for _, kv := range got[0].Attributes {
		attrs[kv.Key] = kv.Value
	}
	if v := attrs["agentrr.request"].AsString(); v != "éé" || !utf8.ValidString(v) {
		t.Errorf("cut value %q, want %q (cut at a rune boundary)", v, "éé")
	}
	if !attrs["agentrr.request"+exporter.TruncatedSuffix].AsBool() {
		t.Error("cut value not marked")
	}
	if attrs["short"].AsString() != "ok" || attrs["agentrr.seq"].AsInt64() != 7 {
		t.Errorf("other attributes: %v", got[0].Attributes)
	}
	if v := orig.Attributes()[0].Value.AsString(); v != long {
		t.Errorf("the original span was changed: %q", v)
	}
	f.Shutdown(context.Background())
}

// batchRecorder records the batches it is given.
type batchRecorder struct {
	mu      sync.Mutex
	batches [][]sdktrace.ReadOnlySpan
}

func (b *batchRecorder) ExportSpans(_ context.Context, s []sdktrace.ReadOnlySpan) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.batches = append(b.batches, s)
	return nil
}
func (b *batchRecorder) Shutdown(context.Context) error { return nil }

func TestForwarderSplitsBatchesBySize(t *testing.T) {
	rec := &batchRecorder{}
	f := exporter.NewForwarder(rec, exporter.WithMaxExportBytes(3000), exporter.WithPayloadLimit(0))
	for i := range 10 {
		forward(f, stubSpan(i, attribute.String("agentrr.response", strings.Repeat("x", 1000))))
	}
	f.Shutdown(context.Background())
	total := 0
	for _, b := range rec.batches {
		total += len(b)
		if len(b) > 2 {
			t.Errorf("a batch of %d 1 KB spans exceeds the 3000-byte export size", len(b))
		}
	}
	if total != 10 {
		t.Errorf("forwarded %d spans, want 10", total)
	}
}

// Export sends a stored run's traces through the SDK's OTLP/HTTP exporter:
// split, cut, with the headers, to the receiver.
func TestExportSplitsCutsAndSendsHeaders(t *testing.T) {
	var (
		mu       sync.Mutex
		requests []ptrace.Traces
		auth     []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := ptraceotlp.NewExportRequest()
		if r.URL.Path != "/v1/traces" || req.UnmarshalProto(body) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		mu.Lock()
		requests = append(requests, req.Traces())
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc")
	ss := rs.ScopeSpans().AppendEmpty()
	for i := range 6 {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{1})
		sp.SetSpanID(pcommon.SpanID{byte(i + 1)})
		sp.Attributes().PutStr("agentrr.response", strings.Repeat("y", 1000))
		sp.Attributes().PutInt("agentrr.seq", int64(i))
	}
	ss.Spans().At(5).Attributes().PutStr("agentrr.request", strings.Repeat("z", 5000))

	newExp := func(url string) *otlptrace.Exporter {
		exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(url),
			otlptracehttp.WithHeaders(map[string]string{"Authorization": "Bearer t"}), otlptracehttp.WithRetry(otlptracehttp.RetryConfig{}))
		if err != nil {
			t.Fatal(err)
		}
		return exp
	}
	res, err := exporter.Export(context.Background(), newExp(srv.URL+"/v1/traces"), td, exporter.ExportOptions{PayloadLimit: 2000, MaxRequestBytes: 2500})
	if err != nil {
		t.Fatal(err)
	}
	if res.Spans != 6 || res.Requests != len(requests) || res.Requests < 3 || res.Truncated != 1 {
		t.Errorf("result %+v with %d requests received", res, len(requests))
	}
	n := 0
	for i, r := range requests {
		n += r.SpanCount()
		if auth[i] != "Bearer t" {
			t.Errorf("request %d sent without the header", i)
		}
		if v, _ := r.ResourceSpans().At(0).Resource().Attributes().Get("service.name"); v.Str() != "svc" {
			t.Errorf("request %d lost the resource", i)
		}
		if v, ok := r.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().Get("agentrr.seq"); !ok || v.Type() != pcommon.ValueTypeInt {
			t.Errorf("request %d: agentrr.seq is not an integer any more", i)
		}
	}
	if n != 6 {
		t.Errorf("%d spans received, want 6", n)
	}
	if v, _ := ss.Spans().At(5).Attributes().Get("agentrr.request"); len(v.Str()) != 5000 {
		t.Error("Export changed its input")
	}

	if _, err := exporter.Export(context.Background(), newExp(srv.URL+"/elsewhere"), td, exporter.ExportOptions{}); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("export refused by the receiver: %v, want its status in the error", err)
	}
}
