package otelrr_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/rrtest"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// userProvider is a program's own OpenTelemetry setup with agentrr added:
// its exporter, its sampler (wrapped), and the Recorder.
func userProvider(t *testing.T, rec *otelrr.Recorder, sampler sdktrace.Sampler) (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(rec),
		sdktrace.WithSampler(otelrr.Sampler(sampler)),
		sdktrace.WithSyncer(exp),
	)
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return tp, exp
}

// handle is a request handler of the user's program: its own span, then an
// agent run inside it.
func handle(ctx context.Context, t *testing.T, tp *sdktrace.TracerProvider, rec *otelrr.Recorder) (string, error) {
	ctx, span := tp.Tracer("server").Start(ctx, "POST /support")
	defer span.End()
	ctx, run, err := rec.StartRun(ctx, tp, "support")
	if err != nil {
		t.Fatal(err)
	}
	out, err := otelrr.Tool(ctx, "lookup_order", map[string]string{"id": "42"}, func(context.Context, map[string]string) (string, error) {
		return "shipped", nil
	})
	if err == nil {
		_, err = otelrr.Now(ctx)
	}
	if endErr := run.End(err); endErr != nil {
		t.Fatal(endErr)
	}
	return out, err
}

// A program with its own provider adds recording with a Recorder and
// Sampler: its exporter sees its spans and the boundaries in one trace, the
// boundaries carrying their place; the run replays faithfully.
func TestRecorderOnTheUsersOwnProvider(t *testing.T) {
	dir := t.TempDir()
	rec, err := otelrr.NewRecorder(otelrr.WithStore(dir))
	if err != nil {
		t.Fatal(err)
	}
	tp, exp := userProvider(t, rec, sdktrace.ParentBased(sdktrace.AlwaysSample()))
	ctx, caller := tp.Tracer("client").Start(context.Background(), "caller")
	if _, err := handle(ctx, t, tp, rec); err != nil {
		t.Fatal(err)
	}
	caller.End()

	spans := exp.GetSpans()
	traces := map[string]bool{}
	var boundaries, root int
	runID := ""
	for _, s := range spans {
		traces[s.SpanContext.TraceID().String()] = true
		attrs := attribute.NewSet(s.Attributes...)
		if _, ok := attrs.Value(boundary.AttrKind); ok {
			boundaries++
			if v, ok := attrs.Value(boundary.AttrSeq); !ok || v.AsInt64() != int64(boundaries-1) {
				t.Errorf("exported boundary %q has seq %v (%v)", s.Name, v.AsInt64(), ok)
			}
			if _, ok := attrs.Value(boundary.AttrBranchIndex); !ok {
				t.Errorf("exported boundary %q has no %s", s.Name, boundary.AttrBranchIndex)
			}
		}
		if _, ok := attrs.Value(boundary.AttrRun); ok && s.Name == "support" {
			root++
			runID = s.SpanContext.TraceID().String()
			if !s.Parent.IsValid() {
				t.Error("the run's root span is not a child of the request span")
			}
		}
	}
	if len(traces) != 1 || boundaries != 2 || root != 1 || len(spans) != 5 {
		t.Fatalf("exported %d spans in %d traces, %d boundaries, %d run roots; want 5 spans in one trace", len(spans), len(traces), boundaries, root)
	}

	recording := rrtest.Load(t, dir, runID)
	if recording.Info.ParentSpan == "" || recording.Info.Status != spanlog.StatusComplete {
		t.Errorf("run header %+v: want the request span as its parent", recording.Info.RunMeta)
	}
	rep, err := replayer.Replay(context.Background(), recording, func(ctx context.Context) error {
		rrec, err := otelrr.NewRecorder(otelrr.WithStore(t.TempDir()))
		if err != nil {
			return err
		}
		// This time the program samples almost nothing: the run is
		// recorded and replayed all the same.
		rtp, _ := userProvider(t, rrec, sdktrace.TraceIDRatioBased(0.0001))
		out, err := handle(ctx, t, rtp, rrec)
		if out != "shipped" {
			t.Errorf("replay answered %q", out)
		}
		return err
	})
	if err != nil || !rep.Faithful() {
		t.Fatalf("replay: %v %+v", err, rep)
	}
}

// Two runs in one trace (two agents in one request) get two run ids.
func TestTwoRunsInOneTrace(t *testing.T) {
	dir := t.TempDir()
	rec, err := otelrr.NewRecorder(otelrr.WithStore(dir))
	if err != nil {
		t.Fatal(err)
	}
	tp, _ := userProvider(t, rec, nil)
	ctx, caller := tp.Tracer("client").Start(context.Background(), "caller")
	handle(ctx, t, tp, rec)
	handle(ctx, t, tp, rec)
	caller.End()
	store, _ := spanlog.OpenExisting(dir)
	runs, err := store.Runs()
	if err != nil || len(runs) != 2 {
		t.Fatalf("%d runs (%v), want 2", len(runs), err)
	}
	trace := caller.SpanContext().TraceID().String()
	var own int
	for _, r := range runs {
		if r.SpanTrace() != trace || r.Status != spanlog.StatusComplete || r.Boundaries != 2 {
			t.Errorf("run %+v", r)
		}
		if r.TraceID != trace {
			own++
			if !strings.HasPrefix(r.TraceID, trace[:16]) {
				t.Errorf("run id %s does not start like its trace %s", r.TraceID, trace)
			}
			if _, err := replayer.Load(store, r.TraceID); err != nil {
				t.Errorf("the second run does not load: %v", err)
			}
		}
	}
	if own != 1 {
		t.Errorf("%d runs with an id of their own, want 1", own)
	}
}

// A provider without the Recorder, or whose sampler drops the run, is a
// clear error at StartRun, not a run that silently records nothing.
func TestStartRunOnAProviderWithoutTheRecorder(t *testing.T) {
	rec, err := otelrr.NewRecorder(otelrr.WithStore(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	plain := sdktrace.NewTracerProvider()
	defer plain.Shutdown(context.Background())
	if _, _, err := rec.StartRun(context.Background(), plain, "x"); err == nil || !strings.Contains(err.Error(), "sdktrace.WithSpanProcessor(rec)") {
		t.Errorf("provider without the recorder: %v", err)
	}
	dropping := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sdktrace.NeverSample()))
	defer dropping.Shutdown(context.Background())
	if _, _, err := rec.StartRun(context.Background(), dropping, "x"); err == nil || !strings.Contains(err.Error(), "otelrr.Sampler") {
		t.Errorf("provider dropping the run: %v", err)
	}
	if _, err := otelrr.NewRecorder(otelrr.WithSampler(sdktrace.AlwaysSample())); err == nil || !strings.Contains(err.Error(), "WithSampler") {
		t.Errorf("NewRecorder with a provider option: %v", err)
	}
}

// An HTTP exchange that fails returns the same error recording and
// replaying: errors.Is on a standard sentinel answers alike.
func TestTransportErrorsReplayTheSame(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	url := srv.URL
	srv.Close() // nothing listens: the exchange fails to connect
	dir := t.TempDir()
	agent := func(got *[]string) func(ctx context.Context, _ *otelrr.TracerProvider) error {
		return func(ctx context.Context, _ *otelrr.TracerProvider) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/status", nil)
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			creq, _ := http.NewRequestWithContext(cctx, http.MethodGet, url+"/other", nil)
			client := otelrr.HTTPClient(nil)
			for _, r := range []*http.Request{req, creq} {
				_, err := client.Transport.RoundTrip(r)
				var re *otelrr.RecordedError
				*got = append(*got, strings.Join([]string{err.Error(), boolStr(errors.Is(err, context.Canceled)), boolStr(errors.As(err, &re))}, "|"))
			}
			return nil
		}
	}
	var recorded, replayed []string
	id, _ := recordFn(t, dir, agent(&recorded))
	rep := replayFn(t, dir, id, agent(&replayed), nil)
	if !rep.Faithful() {
		t.Fatalf("replay: %+v", rep.Divergences)
	}
	if len(recorded) != 2 || !strings.HasSuffix(recorded[1], "|true|true") || !strings.HasSuffix(recorded[0], "|false|true") {
		t.Errorf("recording saw %q", recorded)
	}
	if strings.Join(replayed, "\n") != strings.Join(recorded, "\n") {
		t.Errorf("replay saw %q, recording %q", replayed, recorded)
	}
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
