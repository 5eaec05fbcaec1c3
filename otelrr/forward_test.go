package otelrr_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentrr/agentrr/rrtest"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/exporter"
	"github.com/agentrr/agentrr/internal/handshake"
	"github.com/agentrr/agentrr/internal/storetest"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// fwdWork is a small agent body: an agent span, a tool call with a large
// argument, a clock read and an LLM call.
func fwdWork(tp *otelrr.TracerProvider, big string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		ctx, span := tp.Tracer("agent").Start(ctx, "plan")
		defer span.End()
		if _, err := otelrr.Tool(ctx, "search", map[string]string{"q": big}, func(_ context.Context, a map[string]string) (int, error) {
			return len(a["q"]), nil
		}); err != nil {
			return err
		}
		if _, err := otelrr.Now(ctx); err != nil {
			return err
		}
		_, err := otelrr.LLM(ctx, "fake", "fake-1", map[string]string{"prompt": "hi"}, func(context.Context, map[string]string) (string, error) {
			return "hello", nil
		})
		return err
	}
}

// recordForwarded records one run of fwdWork with forwarding options and
// returns its id, once the provider is shut down (and has flushed).
func recordForwarded(t *testing.T, dir, big string, fopts ...otelrr.ForwardOption) string {
	t.Helper()
	ctx := context.Background()
	tp, err := otelrr.NewTracerProvider(ctx, otelrr.WithStore(dir), otelrr.WithServiceName("fwd-test"), otelrr.WithForwarding(fopts...))
	if err != nil {
		t.Fatal(err)
	}
	ctx, run, err := tp.StartRun(ctx, "fwd")
	if err != nil {
		t.Fatal(err)
	}
	werr := fwdWork(tp, big)(ctx)
	if err := run.End(werr); err != nil {
		t.Fatal(err)
	}
	if werr != nil {
		t.Fatal(werr)
	}
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	return run.TraceID()
}

// otlpOf converts exported spans to OTLP as a backend receives them.
func otlpOf(spans tracetest.SpanStubs) ptrace.Traces {
	td := ptrace.NewTraces()
	for _, ro := range spans.Snapshots() {
		one := exporter.Traces(ro)
		rs := one.ResourceSpans().At(0)
		for _, kv := range ro.Resource().Attributes() {
			rs.Resource().Attributes().PutStr(string(kv.Key), kv.Value.String())
		}
		rs.MoveTo(td.ResourceSpans().AppendEmpty())
	}
	return td
}

func loadJSON(t *testing.T, td ptrace.Traces, id string) (*replayer.Recording, error) {
	t.Helper()
	b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	return replayer.LoadOTLPJSON(bytes.NewReader(b), id)
}

func TestForwardedBoundariesCarryTheirSeqAndReplay(t *testing.T) {
	dir := t.TempDir()
	mem := newMemExporter()
	id := recordForwarded(t, dir, strings.Repeat("x", 300), otelrr.ForwardExporter(mem))

	stored := storetest.ReadRun(t, dir, id)
	if stored.Info.Status != spanlog.StatusComplete || len(stored.Records) != 3 {
		t.Fatalf("stored run: %s, %d records", stored.Info.Status, len(stored.Records))
	}
	spans := mem.GetSpans()
	var root, agentSpan bool
	seqs := map[string]int64{}
	for _, s := range spans {
		attrs := map[attribute.Key]attribute.Value{}
		for _, kv := range s.Attributes {
			attrs[kv.Key] = kv.Value
		}
		switch {
		case attrs[boundary.AttrRun].AsString() == "fwd":
			root = true
			if n := attrs[boundary.AttrBoundaries].AsInt64(); n != 3 {
				t.Errorf("root span says %d boundaries, want 3", n)
			}
		case s.Name == "plan":
			agentSpan = true
		default:
			v, ok := attrs[boundary.AttrSeq]
			if !ok {
				t.Errorf("forwarded boundary %q has no %s", s.Name, boundary.AttrSeq)
			}
			seqs[s.SpanContext.SpanID().String()] = v.AsInt64()
		}
		if got := s.Resource.Set(); !got.HasValue("service.name") {
			t.Errorf("span %q forwarded without its resource", s.Name)
		}
	}
	if !root || !agentSpan {
		t.Errorf("forwarded: root %v, agent span %v; want both (every span is forwarded)", root, agentSpan)
	}
	for _, r := range stored.Records {
		if got, ok := seqs[r.SpanID.String()]; !ok || got != r.Seq {
			t.Errorf("stored seq %d (%s %s) forwarded with seq %d (found %v)", r.Seq, r.Kind, r.Name, got, ok)
		}
	}

	// What the backend got replays as the store's recording.
	rec, err := loadJSON(t, otlpOf(spans), id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Truncated || len(rec.Records) != len(stored.Records) {
		t.Fatalf("loaded from OTLP: truncated %v, %d records", rec.Truncated, len(rec.Records))
	}
	for i, r := range rec.Records {
		s := stored.Records[i]
		if r.Seq != s.Seq || r.Signature != s.Signature || !bytes.Equal(r.Response, s.Response) || r.PayloadHash != s.PayloadHash {
			t.Errorf("seq %d differs between the store and the forwarded copy", s.Seq)
		}
	}
	if rec.Info.Name != "fwd" || rec.Info.Service != "fwd-test" || rec.Info.Ended == nil || rec.Info.Ended.Boundaries != 3 {
		t.Errorf("run info from OTLP: %+v", rec.Info)
	}
}

func TestForwardingCutsOnlyTheForwardedCopy(t *testing.T) {
	dir := t.TempDir()
	mem := newMemExporter()
	big := strings.Repeat("é", 200) // 400 bytes; a cut must not split a rune
	id := recordForwarded(t, dir, big, otelrr.ForwardExporter(mem), otelrr.ForwardPayloadLimit(101))

	stored := storetest.ReadRun(t, dir, id)
	if stored.Info.Status != spanlog.StatusComplete || !strings.Contains(string(stored.Records[0].Request), big) {
		t.Fatalf("the store must keep the payload whole: %s, request %d bytes", stored.Info.Status, len(stored.Records[0].Request))
	}
	var cut bool
	for _, s := range mem.GetSpans() {
		for _, kv := range s.Attributes {
			if kv.Key == boundary.AttrRequest+exporter.TruncatedSuffix && kv.Value.AsBool() {
				cut = true
			}
			if kv.Key == boundary.AttrRequest && len(kv.Value.AsString()) > 101 {
				t.Errorf("forwarded request is %d bytes, over the 101-byte limit", len(kv.Value.AsString()))
			}
		}
	}
	if !cut {
		t.Fatal("no forwarded span is marked agentrr.request.truncated")
	}
	_, err := loadJSON(t, otlpOf(mem.GetSpans()), id)
	var inc *replayer.IncompleteError
	if !errors.As(err, &inc) || !errors.Is(err, replayer.ErrDamaged) {
		t.Fatalf("loading a trace with a cut payload: %v; want an *IncompleteError", err)
	}
	if !strings.Contains(err.Error(), "seq 0: request cut when forwarded") {
		t.Errorf("error does not name the cut boundary: %v", err)
	}
}

// otlpServer is an OTLP/HTTP receiver that keeps what it gets.
type otlpServer struct {
	*httptest.Server
	mu      sync.Mutex
	traces  []ptrace.Traces
	headers []http.Header
}

func newOTLPServer(t *testing.T) *otlpServer {
	s := &otlpServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.traces = append(s.traces, req.Traces())
		s.headers = append(s.headers, r.Header.Clone())
		s.mu.Unlock()
		out, _ := ptraceotlp.NewExportResponse().MarshalProto()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestFromEnvForwardsWithHeadersThatAreNeverStored(t *testing.T) {
	srv := newOTLPServer(t)
	const secret = "s3cret-token-value"
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20"+secret)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	dir := t.TempDir()
	ctx := context.Background()
	warnings := captureOTelErrors(t)
	tp, err := otelrr.NewTracerProvider(ctx, otelrr.FromEnv(), otelrr.WithStore(dir), otelrr.WithServiceName("env-test"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, run, err := tp.StartRun(ctx, "env")
	if err != nil {
		t.Fatal(err)
	}
	if err := fwdWork(tp, "q")(ctx); err != nil {
		t.Fatal(err)
	}
	run.End(nil)
	tp.Shutdown(ctx)

	srv.mu.Lock()
	defer srv.mu.Unlock()
	n := 0
	for _, td := range srv.traces {
		n += td.SpanCount()
	}
	if n != 5 { // root, agent span, 3 boundaries
		t.Fatalf("the endpoint from OTEL_EXPORTER_OTLP_ENDPOINT got %d spans, want 5", n)
	}
	for _, h := range srv.headers {
		if h.Get("Authorization") != "Bearer "+secret {
			t.Errorf("export sent without the OTEL_EXPORTER_OTLP_HEADERS header")
		}
	}
	if strings.Contains(warnings.text(), secret) {
		t.Error("an error report shows the header value")
	}
	storetest.NoSecrets(t, dir, secret)
	if storetest.ReadRun(t, dir, run.TraceID()).Info.Status != spanlog.StatusComplete {
		t.Error("run not complete")
	}
}

// closedURL returns the URL of a port nothing listens on.
func closedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestForwardingToADeadEndpointCostsOnlyAWarning(t *testing.T) {
	dir := t.TempDir()
	warnings := captureOTelErrors(t)
	id := recordForwarded(t, dir, "q",
		otelrr.ForwardEndpoint(closedURL(t)),
		otelrr.ForwardTuning(exporter.WithFlushTimeout(3*time.Second), exporter.WithExportTimeout(time.Second)))
	run := storetest.ReadRun(t, dir, id)
	if run.Info.Status != spanlog.StatusComplete || len(run.Records) != 3 {
		t.Fatalf("run with a dead forwarding endpoint: %s, %d records", run.Info.Status, len(run.Records))
	}
	// The SDK's batch processor reports the failed export through the
	// OpenTelemetry error handler (stderr by default).
	if w := warnings.text(); !strings.Contains(w, "127.0.0.1") {
		t.Errorf("no report of the failed export: %q", w)
	}
}

// captureOTelErrors installs an OpenTelemetry error handler that keeps
// what it is given, for the rest of the test.
func captureOTelErrors(t *testing.T) *captureHandler {
	h := &captureHandler{}
	prev := otel.GetErrorHandler()
	otel.SetErrorHandler(h)
	t.Cleanup(func() { otel.SetErrorHandler(prev) })
	return h
}

func TestReplayedRunLinksToTheOriginal(t *testing.T) {
	dir := t.TempDir()
	id := recordForwarded(t, dir, "q", otelrr.ForwardExporter(newMemExporter()))
	rec := rrtest.Load(t, dir, id)
	mem := newMemExporter()
	rep, err := replayer.Replay(context.Background(), rec, func(ctx context.Context) error {
		tp, err := otelrr.NewTracerProvider(ctx, otelrr.WithStore(dir), otelrr.WithServiceName("fwd-test"),
			otelrr.WithForwarding(otelrr.ForwardExporter(mem)))
		if err != nil {
			return err
		}
		defer tp.Shutdown(context.Background())
		ctx, run, err := tp.StartRun(ctx, "fwd")
		if err != nil {
			return err
		}
		werr := fwdWork(tp, "q")(ctx)
		if err := run.End(werr); err != nil {
			return err
		}
		return werr
	})
	if err != nil || !rep.Faithful() {
		t.Fatalf("replay: %v %+v", err, rep)
	}
	var found bool
	for _, s := range mem.GetSpans() {
		if s.Parent.IsValid() {
			continue
		}
		for _, l := range s.Links {
			if l.SpanContext.TraceID().String() != id {
				continue
			}
			found = true
			if !l.SpanContext.SpanID().IsValid() {
				t.Error("link to the original has no span id")
			}
			var attr bool
			for _, kv := range l.Attributes {
				attr = attr || (kv.Key == boundary.AttrReplayOf && kv.Value.AsString() == id)
			}
			if !attr {
				t.Errorf("link attributes %v lack %s", l.Attributes, boundary.AttrReplayOf)
			}
		}
	}
	if !found {
		t.Fatal("the replayed run's root span has no link to the original trace")
	}
}

// memExporter keeps its spans after Shutdown (the SDK's in-memory exporter
// forgets them).
type memExporter struct{ *tracetest.InMemoryExporter }

func (memExporter) Shutdown(context.Context) error { return nil }

func newMemExporter() memExporter { return memExporter{tracetest.NewInMemoryExporter()} }

func TestFromEnvReplaysARecordingFile(t *testing.T) {
	dir := t.TempDir()
	id := recordForwarded(t, dir, "q", otelrr.ForwardExporter(newMemExporter()))
	run := storetest.ReadRun(t, dir, id)
	b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(exporter.RunTraces(run.Info, run.Records))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "trace.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// The run is not in the store the replay records into.
	t.Setenv(handshake.EnvReplay, id)
	t.Setenv(handshake.EnvReplayFile, file)
	ctx := context.Background()
	tp, err := otelrr.NewTracerProvider(ctx, otelrr.FromEnv(), otelrr.WithStore(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Shutdown(ctx)
	if !tp.Replaying() {
		t.Fatal("AGENTRR_REPLAY with AGENTRR_REPLAY_FILE did not put the provider in replay mode")
	}
	ctx, r, err := tp.StartRun(ctx, "fwd")
	if err != nil {
		t.Fatal(err)
	}
	werr := fwdWork(tp, "q")(ctx)
	if err := r.End(werr); err != nil || werr != nil {
		t.Fatal(err, werr)
	}
	if rep := r.Report(); !rep.Faithful() || rep.Served != 3 {
		t.Errorf("replay from a file: %+v", rep)
	}
}

// The forwarding defaults fit a receiver with Jaeger's default OTLP/HTTP
// limit (20 MiB per request body): large runs are split over requests, and
// a payload over 4 MiB is cut in the copy.
func TestForwardingDefaultsFitJaegersReceiverLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("moves ~30 MB")
	}
	const jaegerLimit = 20 << 20
	var (
		mu       sync.Mutex
		refused  int
		received = map[string]int{} // span name → largest agentrr.response length
		cut      int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, jaegerLimit))
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			refused++
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rss := req.Traces().ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			sss := rss.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				for k := 0; k < sss.At(j).Spans().Len(); k++ {
					sp := sss.At(j).Spans().At(k)
					if v, ok := sp.Attributes().Get(boundary.AttrResponse); ok {
						received[sp.Name()] = max(received[sp.Name()], len(v.Str()))
					}
					if _, ok := sp.Attributes().Get(boundary.AttrResponse + exporter.TruncatedSuffix); ok {
						cut++
					}
				}
			}
		}
	}))
	defer srv.Close()

	dir := t.TempDir()
	ctx := context.Background()
	tp, err := otelrr.NewTracerProvider(ctx, otelrr.WithStore(dir), otelrr.WithServiceName("big"),
		otelrr.WithForwarding(otelrr.ForwardEndpoint(srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, run, err := tp.StartRun(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	sizes := []int{3 << 20, 3 << 20, 3 << 20, 3 << 20, 3 << 20, 3 << 20, 5 << 20}
	for i, n := range sizes {
		if _, err := otelrr.Tool(ctx, fmt.Sprintf("fetch%d", i), i, func(context.Context, int) (string, error) {
			return strings.Repeat("b", n), nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	run.End(nil)
	tp.Shutdown(ctx)

	mu.Lock()
	defer mu.Unlock()
	if refused > 0 {
		t.Errorf("%d requests over Jaeger's 20 MiB limit", refused)
	}
	if len(received) != len(sizes) || cut != 1 {
		t.Errorf("received %d of %d boundary spans, %d cut (want 1)", len(received), len(sizes), cut)
	}
	if n := received["execute_tool fetch6"]; n > exporter.DefaultPayloadLimit {
		t.Errorf("the 5 MiB response was forwarded with %d bytes", n)
	}
	if got := storetest.ReadRun(t, dir, run.TraceID()); len(got.Records[6].Response) != 5<<20+2 {
		t.Errorf("the store holds %d bytes of the 5 MiB response", len(got.Records[6].Response))
	}
}
