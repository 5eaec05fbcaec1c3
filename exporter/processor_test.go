package exporter_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/exporter"
	"github.com/agentrr/agentrr/internal/recording"
	"github.com/agentrr/agentrr/spanlog"
)

// setup is a provider whose durable processor is proc, with one run
// started: spans started from ctx belong to it.
type setup struct {
	store *spanlog.Store
	proc  *exporter.Processor
	tp    *sdktrace.TracerProvider
	tr    trace.Tracer
	ctx   context.Context
	root  trace.Span
	id    string
	run   *recording.Run
	w     *spanlog.RunWriter
}

func newSetup(t *testing.T, limits *sdktrace.SpanLimits, more ...sdktrace.SpanProcessor) *setup {
	t.Helper()
	s, err := spanlog.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	var popts []exporter.ProcessorOption
	if limits != nil {
		popts = append(popts, exporter.WithAttributeValueLengthLimit(limits.AttributeValueLengthLimit))
	}
	p := exporter.NewProcessor(s, popts...)
	opts := []sdktrace.TracerProviderOption{sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(p)}
	if limits != nil {
		opts = append(opts, sdktrace.WithRawSpanLimits(*limits))
	}
	for _, m := range more {
		opts = append(opts, sdktrace.WithSpanProcessor(m))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	tr := tp.Tracer("test")
	// A span carrying agentrr.run starts a run: the processor creates it.
	ctx, root := tr.Start(context.Background(), "run", trace.WithAttributes(boundary.RunStartAttributes("run", "", "")...))
	run, err := recording.Claim(root.SpanContext().SpanID())
	if err != nil {
		t.Fatal(err)
	}
	return &setup{store: s, proc: p, tp: tp, tr: tr, ctx: ctx, root: root, id: run.ID, run: run, w: run.W}
}

// finish ends the run: its root span ends, with the attributes of an ended
// run, and the processor writes the end record.
func (s *setup) finish(t *testing.T) {
	t.Helper()
	s.root.SetAttributes(boundary.RunEndAttributes(boundary.RunEnd{Boundaries: s.w.Next()})...)
	s.root.End()
	if err, done := s.run.EndResult(); err != nil || !done {
		t.Fatalf("end of the run: %v (done %v)", err, done)
	}
}

// boundaryAttrs returns the attributes of a whole tool boundary.
func boundaryAttrs(name, req, resp string) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String(boundary.AttrKind, string(boundary.KindTool)),
		attribute.String(boundary.AttrName, name),
		attribute.String(boundary.AttrRequest, req),
		attribute.Int(boundary.AttrRequestLength, len(req)),
		attribute.String(boundary.AttrResponse, resp),
		attribute.Int(boundary.AttrResponseLength, len(resp)),
		attribute.String(boundary.AttrSignature, boundary.Signature(boundary.KindTool, name, []byte(req))),
		attribute.String(boundary.AttrPayloadHash, boundary.PayloadHash([]byte(req), []byte(resp), "")),
	}
}

// end makes and ends one span with attrs under ctx and returns its id.
func (s *setup) end(ctx context.Context, name string, attrs ...attribute.KeyValue) trace.SpanID {
	_, sp := s.tr.Start(ctx, name)
	sp.SetAttributes(attrs...)
	sp.End()
	return sp.SpanContext().SpanID()
}

func TestBoundarySpansAreStoredWhenTheyEnd(t *testing.T) {
	s := newSetup(t, nil)
	var ids []trace.SpanID
	for i := range 3 {
		ids = append(ids, s.end(s.ctx, "execute_tool echo", boundaryAttrs("echo", fmt.Sprintf(`{"i":%d}`, i), `{"ok":true}`)...))
		// Durable when End returns: the writer has already counted it.
		if got := s.w.Next(); got != int64(i+1) {
			t.Fatalf("after span %d ended, the run holds %d boundaries", i, got)
		}
	}
	other := s.end(s.ctx, "agent step", attribute.String("x", "y"))

	for i, id := range ids {
		res, ok := s.run.Take(id)
		if !ok || res.Err != nil || res.Pos.Seq != int64(i) {
			t.Errorf("Take(span %d) = %+v, %v; want seq %d", i, res, ok, i)
		}
		if _, ok := s.run.Take(id); ok {
			t.Errorf("Take(span %d) twice: the result is not forgotten", i)
		}
	}
	if res, ok := s.run.Take(other); ok {
		t.Errorf("a non-boundary span has a commit result %+v", res)
	}

	s.finish(t)
	s.end(s.ctx, "execute_tool echo", boundaryAttrs("echo", `{"i":9}`, `{}`)...)
	if s.w.Next() != 3 {
		t.Errorf("a span ended after the run's root span was stored")
	}

	run, err := s.store.ReadRun(s.id)
	if err != nil {
		t.Fatal(err)
	}
	if run.Info.Status != spanlog.StatusComplete || len(run.Records) != 3 {
		t.Fatalf("status %s (%s), %d records", run.Info.Status, run.Info.Reason, len(run.Records))
	}
	for i, r := range run.Records {
		if r.Seq != int64(i) || string(r.Request) != fmt.Sprintf(`{"i":%d}`, i) || r.SpanID != [8]byte(ids[i]) {
			t.Errorf("record %d = seq %d request %s span %s", i, r.Seq, r.Request, r.SpanID)
		}
		if r.ParentSpanID != [8]byte(s.root.SpanContext().SpanID()) {
			t.Errorf("record %d: parent %s, want the run root", i, r.ParentSpanID)
		}
	}
}

func TestSpansOfOtherTracesAreNotStored(t *testing.T) {
	s := newSetup(t, nil)
	// A new root: another trace, not a run.
	ctx, other := s.tr.Start(context.Background(), "elsewhere")
	id := s.end(ctx, "execute_tool echo", boundaryAttrs("echo", `{}`, `{}`)...)
	other.End()
	if _, ok := s.run.Take(id); ok || s.w.Next() != 0 {
		t.Errorf("a boundary of an unattached trace was stored (next %d)", s.w.Next())
	}
}

func TestConcurrentBoundariesGetContiguousSeqs(t *testing.T) {
	s := newSetup(t, nil)
	const goroutines, each = 6, 25
	var mu sync.Mutex
	var seqs []int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				id := s.end(s.ctx, "execute_tool echo", boundaryAttrs("echo", fmt.Sprintf(`{"g":%d,"i":%d}`, g, i), `{}`)...)
				res, ok := s.run.Take(id)
				if !ok || res.Err != nil {
					t.Errorf("g%d i%d: %+v %v", g, i, res, ok)
					return
				}
				mu.Lock()
				seqs = append(seqs, res.Pos.Seq)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(seqs)
	for i, seq := range seqs {
		if seq != int64(i) {
			t.Fatalf("seqs are not 0..%d: %v", goroutines*each-1, seqs)
		}
	}
	s.finish(t)
	run, err := s.store.ReadRun(s.id)
	if err != nil || run.Info.Status != spanlog.StatusComplete || len(run.Records) != goroutines*each {
		t.Fatalf("read back: %v %s (%s) %d records", err, run.Info.Status, run.Info.Reason, len(run.Records))
	}
}

func TestPayloadCutBySpanLimits(t *testing.T) {
	l := sdktrace.NewSpanLimits()
	l.AttributeValueLengthLimit = 64
	s := newSetup(t, &l)
	big := `{"text":"` + strings.Repeat("x", 1000) + `"}`
	okID := s.end(s.ctx, "execute_tool small", boundaryAttrs("small", `{}`, `{}`)...)
	cutID := s.end(s.ctx, "execute_tool big", boundaryAttrs("big", big, `{}`)...)
	respID := s.end(s.ctx, "execute_tool big", boundaryAttrs("big", `{}`, big)...)

	if res, _ := s.run.Take(okID); res.Err != nil {
		t.Fatalf("small boundary: %v", res.Err)
	}
	for what, id := range map[string]trace.SpanID{"request": cutID, "response": respID} {
		res, ok := s.run.Take(id)
		if !ok {
			t.Fatalf("%s cut: no result", what)
		}
		var pc *exporter.PayloadCutError
		if !errors.Is(res.Err, exporter.ErrPayloadCut) || !errors.As(res.Err, &pc) {
			t.Fatalf("%s cut: err = %v, want a *PayloadCutError", what, res.Err)
		}
		if pc.Seq != res.Pos.Seq || !strings.Contains(pc.Reason, what+" cut from "+fmt.Sprint(len(big))+" to 64 bytes") {
			t.Errorf("%s cut: %+v", what, pc)
		}
		if !strings.Contains(res.Err.Error(), "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT") {
			t.Errorf("error %q does not say which setting cut it", res.Err)
		}
	}
	s.finish(t)
	run, err := s.store.ReadRun(s.id)
	if err != nil {
		t.Fatal(err)
	}
	if run.Info.Status != spanlog.StatusDamaged || !strings.Contains(run.Info.Reason, "seq 1") || !strings.Contains(run.Info.Reason, "request cut") {
		t.Errorf("status %s (%s), want damaged at seq 1 (request cut)", run.Info.Status, run.Info.Reason)
	}
	if len(run.Records) != 1 {
		t.Errorf("%d whole records before the damage, want 1", len(run.Records))
	}
}

// Any agentrr attribute a value length limit cuts makes the stored boundary
// unreplayable (its payload hash or signature no longer match), so OnEnd
// must report it as cut, not only when the request or response is cut.
func TestErrorTextOrNameCutBySpanLimits(t *testing.T) {
	l := sdktrace.NewSpanLimits()
	l.AttributeValueLengthLimit = 64
	longErr := "upstream said: " + strings.Repeat("service unavailable; ", 20)
	failed := []attribute.KeyValue{
		attribute.String(boundary.AttrKind, string(boundary.KindTool)),
		attribute.String(boundary.AttrName, "fetch"),
		attribute.String(boundary.AttrRequest, `{}`),
		attribute.Int(boundary.AttrRequestLength, 2),
		attribute.String(boundary.AttrSignature, boundary.Signature(boundary.KindTool, "fetch", []byte(`{}`))),
		attribute.String(boundary.AttrError, longErr),
		attribute.String(boundary.AttrPayloadHash, boundary.PayloadHash([]byte(`{}`), nil, longErr)),
	}
	longName := strings.Repeat("n", 100)
	for what, attrs := range map[string][]attribute.KeyValue{
		"error text": failed,
		"name":       boundaryAttrs(longName, `{}`, `{}`),
	} {
		t.Run(what, func(t *testing.T) {
			s := newSetup(t, &l)
			res, ok := s.run.Take(s.end(s.ctx, "execute_tool", attrs...))
			s.finish(t)
			run, err := s.store.ReadRun(s.id)
			if err != nil {
				t.Fatal(err)
			}
			if run.Info.Status != spanlog.StatusDamaged {
				t.Fatalf("stored %s (%s); this case no longer cuts anything", run.Info.Status, run.Info.Reason)
			}
			if !ok || !errors.Is(res.Err, exporter.ErrPayloadCut) {
				t.Errorf("stored boundary is damaged (%s) but its commit result is %+v; want ErrPayloadCut", run.Info.Reason, res)
			}
		})
	}
}

func TestBoundaryAttributesDroppedByCountLimit(t *testing.T) {
	l := sdktrace.NewSpanLimits()
	l.AttributeCountLimit = 3
	s := newSetup(t, &l)
	id := s.end(s.ctx, "execute_tool echo", boundaryAttrs("echo", `{}`, `{}`)...)
	res, ok := s.run.Take(id)
	if !ok || !errors.Is(res.Err, exporter.ErrPayloadCut) {
		t.Fatalf("boundary attributes dropped: %+v %v, want ErrPayloadCut", res, ok)
	}
	if !strings.Contains(res.Err.Error(), "attribute count limit") {
		t.Errorf("error %q does not name the count limit", res.Err)
	}
}

func TestShutdownLeavesAttachedRunsTruncated(t *testing.T) {
	s := newSetup(t, nil)
	s.end(s.ctx, "execute_tool echo", boundaryAttrs("echo", `{}`, `{}`)...)
	if err := s.proc.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.proc.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	run, err := s.store.ReadRun(s.id)
	if err != nil {
		t.Fatal(err)
	}
	if run.Info.Status != spanlog.StatusTruncated || len(run.Records) != 1 {
		t.Errorf("after Shutdown: %s (%s), %d records; want truncated, 1", run.Info.Status, run.Info.Reason, len(run.Records))
	}
	// A boundary ended afterwards is not stored and has no result.
	id := s.end(s.ctx, "execute_tool echo", boundaryAttrs("echo", `{}`, `{}`)...)
	if res, ok := s.run.Take(id); ok {
		t.Errorf("boundary after Shutdown has a result: %+v", res)
	}
}

func TestOtherProcessorsSeeEverySpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	s := newSetup(t, nil, rec)
	s.end(s.ctx, "execute_tool echo", boundaryAttrs("echo", `{}`, `{}`)...)
	s.end(s.ctx, "agent step")
	var names []string
	for _, sp := range rec.Ended() {
		names = append(names, sp.Name())
	}
	if !slices.Equal(names, []string{"execute_tool echo", "agent step"}) {
		t.Errorf("the next processor saw %v", names)
	}
	// A boundary span made without otelrr's helpers has no place before it
	// ends: the stored copy carries the seq it got, the span does not (the
	// helpers set it on the span, for every processor: see otelrr).
	for _, kv := range rec.Ended()[0].Attributes() {
		if kv.Key == boundary.AttrSeq {
			t.Errorf("forwarded span was modified: has %s", kv.Key)
		}
	}
}

func TestTracesCopiesTheSpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	tr := tp.Tracer("scope-name", trace.WithInstrumentationVersion("1.2.3"))
	ctx, parent := tr.Start(context.Background(), "parent")
	_, linked := tr.Start(context.Background(), "linked")
	_, sp := tr.Start(ctx, "chat gpt", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithLinks(trace.Link{SpanContext: linked.SpanContext(), Attributes: []attribute.KeyValue{attribute.String("why", "cause")}}))
	sp.SetAttributes(boundaryAttrs("gpt", `{"q":1}`, `{"a":2}`)...)
	sp.SetAttributes(
		attribute.Bool("b", true), attribute.Int64("i", -7), attribute.Float64("f", 1.5),
		attribute.StringSlice("ss", []string{"x", "y"}), attribute.Int64Slice("is", []int64{1, 2}),
		attribute.BoolSlice("bs", []bool{true}), attribute.Float64Slice("fs", []float64{0.5}),
	)
	sp.AddEvent("retry", trace.WithAttributes(attribute.Int("attempt", 2)))
	sp.SetStatus(codes.Error, "rate limited")
	sp.End()
	parent.End()
	linked.End()

	var ro sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "chat gpt" {
			ro = s
		}
	}
	td := exporter.Traces(ro, attribute.Int64(boundary.AttrSeq, 41))
	b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	r, err := boundary.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Check(); err != nil {
		t.Errorf("copied boundary does not check: %v", err)
	}
	if r.Seq != 41 || r.Name != "gpt" || r.SpanName != "chat gpt" ||
		r.TraceID != [16]byte(sp.SpanContext().TraceID()) || r.SpanID != [8]byte(sp.SpanContext().SpanID()) ||
		r.ParentSpanID != [8]byte(parent.SpanContext().SpanID()) ||
		!r.Start.Equal(ro.StartTime()) || !r.End.Equal(ro.EndTime()) {
		t.Errorf("record = %+v", r)
	}
	for k, want := range map[string]any{"b": true, "i": int64(-7), "f": 1.5, "ss": []any{"x", "y"}, "is": []any{int64(1), int64(2)}, "bs": []any{true}, "fs": []any{0.5}} {
		if got := fmt.Sprint(r.Attributes[k]); got != fmt.Sprint(want) {
			t.Errorf("attribute %s = %v, want %v", k, r.Attributes[k], want)
		}
	}
	span := td.ResourceSpans().At(0).ScopeSpans().At(0)
	if span.Scope().Name() != "scope-name" || span.Scope().Version() != "1.2.3" {
		t.Errorf("scope %s %s", span.Scope().Name(), span.Scope().Version())
	}
	ps := span.Spans().At(0)
	if ps.Kind() != ptrace.SpanKindClient || ps.Status().Code() != ptrace.StatusCodeError || ps.Status().Message() != "rate limited" {
		t.Errorf("kind %v status %v %q", ps.Kind(), ps.Status().Code(), ps.Status().Message())
	}
	if ps.Events().Len() != 1 || ps.Events().At(0).Name() != "retry" {
		t.Errorf("events not copied")
	}
	if ps.Links().Len() != 1 || ps.Links().At(0).SpanID() != [8]byte(linked.SpanContext().SpanID()) {
		t.Errorf("links not copied")
	} else if v, _ := ps.Links().At(0).Attributes().Get("why"); v.Str() != "cause" {
		t.Errorf("link attributes not copied")
	}
}
