package exporter_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/attribute"
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
type stuckExporter struct{ calls int }

func (e *stuckExporter) ExportSpans(ctx context.Context, _ []sdktrace.ReadOnlySpan) error {
	e.calls++
	<-ctx.Done()
	return ctx.Err()
}
func (e *stuckExporter) Shutdown(context.Context) error { return nil }

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestForwarderNeverBlocksOnAStuckBackend(t *testing.T) {
	var warnings lockedBuffer
	f := exporter.NewForwarder(&stuckExporter{},
		exporter.WithMaxQueue(8, 0),
		exporter.WithMaxBatch(4),
		exporter.WithBatchTimeout(time.Millisecond),
		exporter.WithFlushTimeout(200*time.Millisecond),
		exporter.WithWarnings(&warnings, time.Hour))
	const n = 1000
	for i := range n {
		f.Forward(stubSpan(i)) // would hang the test if it waited for the backend
	}
	if err := f.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := f.Stats()
	if st.Forwarded != 0 || st.Dropped+st.Failed != n {
		t.Errorf("stats %+v: every one of %d spans must be counted as not forwarded", st, n)
	}
	w := warnings.String()
	if lines := strings.Count(w, "\n"); lines < 1 || lines > 2 {
		t.Errorf("%d warning lines, want the first loss and a final summary:\n%s", lines, w)
	}
	if !strings.Contains(w, "dropped") {
		t.Errorf("warnings do not mention dropped spans:\n%s", w)
	}
	f.Forward(stubSpan(0)) // after Shutdown: ignored, no panic
}

func TestForwarderCutsLongStringsInTheCopyOnly(t *testing.T) {
	mem := tracetest.NewInMemoryExporter()
	f := exporter.NewForwarder(mem, exporter.WithPayloadLimit(5), exporter.WithWarnings(nil, 0))
	long := "ééé" // 6 bytes
	orig := stubSpan(1, attribute.String("agentrr.request", long), attribute.String("short", "ok"))
	f.Forward(orig, attribute.Int64("agentrr.seq", 7))
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
	f := exporter.NewForwarder(rec, exporter.WithMaxExportBytes(3000), exporter.WithPayloadLimit(0), exporter.WithWarnings(nil, 0))
	for i := range 10 {
		f.Forward(stubSpan(i, attribute.String("agentrr.response", strings.Repeat("x", 1000))))
	}
	f.Shutdown(context.Background())
	total := 0
	for _, b := range rec.batches {
		total += len(b)
		if len(b) > 2 {
			t.Errorf("a batch of %d 1 KB spans exceeds the 3000-byte export size", len(b))
		}
	}
	if total != 10 || f.Stats().Forwarded != 10 {
		t.Errorf("forwarded %d spans (stats %+v), want 10", total, f.Stats())
	}
}

func TestExportTracesSplitsCutsAndSendsHeaders(t *testing.T) {
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
	}
	ss.Spans().At(5).Attributes().PutStr("agentrr.request", strings.Repeat("z", 5000))

	res, err := exporter.ExportTraces(context.Background(), srv.URL, td, exporter.ExportOptions{
		Headers: map[string]string{"Authorization": "Bearer t"}, PayloadLimit: 2000, MaxRequestBytes: 2500,
	})
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
	}
	if n != 6 {
		t.Errorf("%d spans received, want 6", n)
	}
	if v, _ := ss.Spans().At(5).Attributes().Get("agentrr.request"); len(v.Str()) != 5000 {
		t.Error("ExportTraces changed its input")
	}

	if _, err := exporter.ExportTraces(context.Background(), srv.URL+"/elsewhere", td, exporter.ExportOptions{}); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("export refused by the receiver: %v, want its status in the error", err)
	}
}
