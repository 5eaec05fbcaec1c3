package otelrr_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentrr/agentrr/internal/storetest"
	"github.com/agentrr/agentrr/rrtest"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/exporter"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// recordFn records one run of fn with a provider built with opts and
// returns its id and fn's error (the run is ended with it).
func recordFn(t *testing.T, dir string, fn func(ctx context.Context, tp *otelrr.TracerProvider) error, opts ...otelrr.Option) (string, error) {
	t.Helper()
	tp := newTP(t, dir, opts...)
	ctx, run, err := tp.StartRun(context.Background(), "edge")
	if err != nil {
		t.Fatal(err)
	}
	agentErr := fn(ctx, tp)
	if err := run.End(agentErr); err != nil {
		t.Fatal(err)
	}
	return run.TraceID(), agentErr
}

// replayFn replays run id with fn, in-process, with a provider built with
// tpOpts.
func replayFn(t *testing.T, dir, id string, fn func(ctx context.Context, tp *otelrr.TracerProvider) error, tpOpts []otelrr.Option, opts ...replayer.Option) *analyze.Report {
	t.Helper()
	rec := rrtest.Load(t, dir, id)
	rep, err := replayer.Replay(context.Background(), rec, func(ctx context.Context) error {
		tp := newTP(t, dir, tpOpts...)
		ctx, run, err := tp.StartRun(ctx, "edge")
		if err != nil {
			return err
		}
		agentErr := fn(ctx, tp)
		if err := run.End(agentErr); err != nil {
			return err
		}
		return agentErr
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// divergingReplay records agent{prompt: "p"} into a new store and replays
// the run with rp; it returns the store, the report and the report's one
// divergence, failing t unless there is exactly one.
func divergingReplay(t *testing.T, rp *agent) (dir string, rep *analyze.Report, d analyze.Divergence) {
	t.Helper()
	dir = t.TempDir()
	id, _ := record(t, dir, &agent{prompt: "p"})
	rep, _ = replay(t, dir, id, rp)
	if len(rep.Divergences) != 1 {
		t.Fatalf("%d divergences, want 1: %+v", len(rep.Divergences), rep.Divergences)
	}
	return dir, rep, rep.Divergences[0]
}

func TestReorderedClockReadDiverges(t *testing.T) {
	rp := &agent{prompt: "p", reorder: true}
	_, rep, d := divergingReplay(t, rp)
	if d.Seq != 0 || d.Reason != analyze.ReasonKind {
		t.Fatalf("divergence at seq %d (%s), want seq 0 %s", d.Seq, d.Reason, analyze.ReasonKind)
	}
	if d.ExpectedKind != boundary.KindLLM || d.ObservedKind != boundary.KindClock || d.ExpectedName != "fake-gpt" || d.ObservedName != "now" {
		t.Errorf("divergence expected %s %s, observed %s %s", d.ExpectedKind, d.ExpectedName, d.ObservedKind, d.ObservedName)
	}
	if !rep.Halted || rp.llmCalls.Load()+rp.toolCalls.Load() != 0 {
		t.Errorf("halted %v, %d live calls", rep.Halted, rp.llmCalls.Load()+rp.toolCalls.Load())
	}
	if !strings.Contains(rep.AgentError, "diverged at seq 0") {
		t.Errorf("the agent did not get the divergence: %q", rep.AgentError)
	}
}

func TestExtraBoundaryAtTheEnd(t *testing.T) {
	rp := &agent{prompt: "p", extra: true}
	_, rep, d := divergingReplay(t, rp)
	if d.Seq != 7 || d.Reason != analyze.ReasonExtra {
		t.Fatalf("divergence at seq %d (%s), want seq 7 %s", d.Seq, d.Reason, analyze.ReasonExtra)
	}
	if d.ObservedKind != boundary.KindTool || d.ObservedName != "lookup_order" || d.ExpectedKind != "" {
		t.Errorf("divergence = %+v", d)
	}
	if rep.RecordingTruncated || rep.Served != 7 || rep.Requested != 8 {
		t.Errorf("report truncated %v, served %d, requested %d; want false, 7, 8", rep.RecordingTruncated, rep.Served, rep.Requested)
	}
	if rp.toolCalls.Load() != 0 {
		t.Errorf("the extra tool call ran live during replay")
	}
}

func TestMissingTail(t *testing.T) {
	dir, rep, d := divergingReplay(t, &agent{prompt: "p", skipLast: true})
	if d.Reason != analyze.ReasonMissing || d.Count != 1 || d.Seq != 6 {
		t.Fatalf("divergence %+v, want missing-boundary at seq 6 with count 1", d)
	}
	if d.ExpectedKind != boundary.KindLLM || rep.Halted || !rep.Finished {
		t.Errorf("divergence expected %s; halted %v finished %v", d.ExpectedKind, rep.Halted, rep.Finished)
	}
	// The replayed run records its verdict.
	replayed := storetest.ReadRun(t, dir, rep.ReplayTrace)
	if e := replayed.Info.Ended; e == nil || e.Verdict != "diverged" || e.Divergences != 1 {
		t.Errorf("replayed run end = %+v, want verdict diverged with 1 divergence", e)
	}
}

type chargeArgs struct {
	Card   string `json:"card"`
	Amount int    `json:"amount"`
}

var errDeclined = errors.New("card declined")

// A failing tool returns the same error on record and on replay: a
// *otelrr.RecordedError with the same text, matching (errors.Is) the same
// sentinels, registered with WithError; an unregistered sentinel matches on
// neither, so the agent takes the same path on both.
func TestToolErrorsReplayTheSame(t *testing.T) {
	dir := t.TempDir()
	var live atomic.Int64
	errUnregistered := errors.New("retry later")
	charge := func(_ context.Context, a chargeArgs) (map[string]string, error) {
		live.Add(1)
		if a.Amount > 1000 {
			return nil, fmt.Errorf("charge %d: %w", a.Amount, errUnregistered)
		}
		return nil, fmt.Errorf("charge %d on %s: %w (insufficient funds)", a.Amount, a.Card, errDeclined)
	}
	opts := []otelrr.Option{otelrr.WithError("card_declined", errDeclined)}
	type seen struct {
		text                   string
		declined, unregistered bool
		recordedErr            bool
	}
	agent := func(got *[]seen) func(ctx context.Context, _ *otelrr.TracerProvider) error {
		return func(ctx context.Context, _ *otelrr.TracerProvider) error {
			for _, amount := range []int{300, 5000} {
				res, err := otelrr.Tool(ctx, "charge", chargeArgs{"4242", amount}, charge)
				if res != nil || err == nil {
					t.Errorf("charge %d: result %v, error %v", amount, res, err)
					continue
				}
				var re *otelrr.RecordedError
				*got = append(*got, seen{err.Error(), errors.Is(err, errDeclined), errors.Is(err, errUnregistered), errors.As(err, &re)})
			}
			return nil
		}
	}
	var recorded, replayed []seen
	id, _ := recordFn(t, dir, agent(&recorded), opts...)
	if live.Load() != 2 {
		t.Fatalf("tool ran %d times while recording", live.Load())
	}
	want := []seen{
		{"charge 300 on 4242: card declined (insufficient funds)", true, false, true},
		{"charge 5000: retry later", false, false, true},
	}
	if !slices.Equal(recorded, want) {
		t.Errorf("recording, the agent saw %+v, want %+v", recorded, want)
	}
	run := storetest.ReadRun(t, dir, id)
	if len(run.Records) != 2 || !run.Records[0].Failed || run.Records[0].Error != want[0].text || !slices.Equal(run.Records[0].ErrorIs, []string{"card_declined"}) {
		t.Fatalf("stored %+v, want a failed boundary classified card_declined", run.Records[0])
	}

	rep := replayFn(t, dir, id, agent(&replayed), opts)
	if !rep.Faithful() {
		t.Errorf("replay diverged: %+v", rep.Divergences)
	}
	if !slices.Equal(replayed, recorded) {
		t.Errorf("replaying, the agent saw %+v; recording, %+v", replayed, recorded)
	}
	if live.Load() != 2 {
		t.Errorf("tool ran on replay")
	}
}

func TestStrictHaltHoldsForEveryLaterBoundary(t *testing.T) {
	dir := t.TempDir()
	id, _ := record(t, dir, &agent{prompt: "You are helpful."})
	rp := &agent{prompt: "You are terse."}
	var errs []error
	rep := replayFn(t, dir, id, func(ctx context.Context, _ *otelrr.TracerProvider) error {
		// An agent that swallows every error and keeps calling.
		_, err := otelrr.LLM(ctx, "fake", "fake-gpt", chatReq{Model: "fake-gpt", Messages: []msg{{"system", rp.prompt}, {"user", "where is order 42?"}}}, rp.llm)
		errs = append(errs, err)
		_, err = otelrr.Tool(ctx, "lookup_order", map[string]string{"order": "42"}, rp.lookup)
		errs = append(errs, err)
		_, err = otelrr.Now(ctx)
		errs = append(errs, err)
		_, err = otelrr.Rand(ctx)
		errs = append(errs, err)
		_, err = otelrr.NewID(ctx)
		errs = append(errs, err)
		_, err = otelrr.Intn(ctx, 10)
		errs = append(errs, err)
		_, err = otelrr.Float64(ctx)
		errs = append(errs, err)
		_, err = otelrr.LLM(ctx, "fake", "fake-gpt", chatReq{Model: "fake-gpt"}, rp.llm)
		errs = append(errs, err)
		return nil
	}, nil)

	var first *replayer.DivergenceError
	if !errors.As(errs[0], &first) || first.Seq != 0 || first.Reason != analyze.ReasonSignature {
		t.Fatalf("first call: %v, want a signature divergence at seq 0", errs[0])
	}
	for i, err := range errs[1:] {
		var de *replayer.DivergenceError
		if !errors.As(err, &de) || de != first {
			t.Errorf("call %d after the halt: %v, want the same *DivergenceError", i+1, err)
		}
	}
	if n := rp.llmCalls.Load() + rp.toolCalls.Load(); n != 0 {
		t.Errorf("%d real calls ran after the halt", n)
	}
	if !rep.Halted || len(rep.Divergences) != 1 || rep.Served != 0 {
		t.Errorf("report: halted %v, %d divergences, served %d", rep.Halted, len(rep.Divergences), rep.Served)
	}
}

func TestNeverSampledAgentSpansStillRecordBoundaries(t *testing.T) {
	check := func(t *testing.T, opts ...otelrr.Option) {
		dir := t.TempDir()
		// The agent wraps its work in a span of its own.
		agentWork := func(a *agent, out *string) func(ctx context.Context, tp *otelrr.TracerProvider) error {
			return func(ctx context.Context, tp *otelrr.TracerProvider) error {
				ctx, own := tp.Tracer("x").Start(ctx, "agent step")
				if own.SpanContext().IsSampled() || own.IsRecording() {
					t.Errorf("the agent's own span is sampled under a never-sample sampler")
				}
				var err error
				*out, err = a.work(ctx)
				own.End()
				return err
			}
		}

		rec := tracetest.NewSpanRecorder()
		var want string
		id, err := recordFn(t, dir, agentWork(&agent{prompt: "p"}, &want), append(append([]otelrr.Option{}, opts...), otelrr.WithSpanProcessor(rec))...)
		if err != nil {
			t.Fatal(err)
		}
		stored := storetest.ReadRun(t, dir, id)
		if stored.Info.Status != spanlog.StatusComplete || len(stored.Records) != 7 {
			t.Fatalf("stored %s (%s) with %d boundaries, want complete with 7", stored.Info.Status, stored.Info.Reason, len(stored.Records))
		}
		var names []string
		for _, s := range rec.Ended() {
			names = append(names, s.Name())
		}
		if len(names) != 8 || slices.Contains(names, "agent step") { // 7 boundaries and the run root
			t.Errorf("exported spans %v, want the 7 boundaries and the run root only", names)
		}

		// Replay, under the same sampler.
		var got string
		rp := &agent{prompt: "p"}
		rep := replayFn(t, dir, id, agentWork(rp, &got), opts)
		if !rep.Faithful() || got != want {
			t.Errorf("replay: faithful %v (%+v), output %q, recorded %q", rep.Faithful(), rep.Divergences, got, want)
		}
		if rp.llmCalls.Load()+rp.toolCalls.Load() != 0 {
			t.Errorf("replay made live calls")
		}
	}
	t.Run("WithSampler", func(t *testing.T) { check(t, otelrr.WithSampler(sdktrace.NeverSample())) })
	t.Run("OTEL_TRACES_SAMPLER", func(t *testing.T) {
		t.Setenv("OTEL_TRACES_SAMPLER", "always_off")
		check(t)
	})
}

func TestPayloadCutBySpanLimits(t *testing.T) {
	check := func(t *testing.T, opts ...otelrr.Option) {
		dir := t.TempDir()
		var live atomic.Int64
		big := strings.Repeat("0123456789abcdef", 64) // 1 KB
		id, agentErr := recordFn(t, dir, func(ctx context.Context, _ *otelrr.TracerProvider) error {
			if _, err := otelrr.Now(ctx); err != nil {
				return err
			}
			res, err := otelrr.Tool(ctx, "summarise", map[string]string{"text": big}, func(_ context.Context, a map[string]string) (string, error) {
				live.Add(1)
				return "short", nil
			})
			if res != "" {
				t.Errorf("cut boundary returned result %q", res)
			}
			return err
		}, opts...)
		if !errors.Is(agentErr, exporter.ErrPayloadCut) {
			t.Fatalf("helper returned %v, want an error matching exporter.ErrPayloadCut", agentErr)
		}
		run := storetest.ReadRun(t, dir, id)
		if run.Info.Status != spanlog.StatusDamaged || !strings.Contains(run.Info.Reason, "seq 1") {
			t.Errorf("stored run is %s (%s), want damaged at seq 1", run.Info.Status, run.Info.Reason)
		}
		store, _ := spanlog.OpenExisting(dir)
		if _, err := replayer.Load(store, id); !errors.Is(err, replayer.ErrDamaged) {
			t.Errorf("Load of the cut run: %v, want ErrDamaged", err)
		}
	}
	t.Run("WithSpanLimits", func(t *testing.T) {
		l := sdktrace.NewSpanLimits()
		l.AttributeValueLengthLimit = 64
		check(t, otelrr.WithSpanLimits(l))
	})
	t.Run("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", func(t *testing.T) {
		t.Setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "64")
		check(t)
	})
}

// Span limits can cut any boundary attribute, not only the request and
// response: a long error text or a long tool name is cut the same way. The
// helper must then fail with ErrPayloadCut, as for a cut request, instead of
// handing the agent an outcome whose stored record cannot be replayed.
func TestErrorTextAndNameCutBySpanLimits(t *testing.T) {
	l := sdktrace.NewSpanLimits()
	l.AttributeValueLengthLimit = 64
	for name, makeBoundary := range map[string]func(ctx context.Context) error{
		"error text": func(ctx context.Context) error {
			_, err := otelrr.Tool(ctx, "fetch", map[string]int{"page": 1}, func(context.Context, map[string]int) (string, error) {
				return "", errors.New("upstream said: " + strings.Repeat("service unavailable; ", 20))
			})
			return err
		},
		"tool name": func(ctx context.Context) error {
			_, err := otelrr.Tool(ctx, "mcp__"+strings.Repeat("very_long_server_name_", 4)+"search", map[string]int{"page": 1},
				func(context.Context, map[string]int) (string, error) { return "ok", nil })
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			id, agentErr := recordFn(t, dir, func(ctx context.Context, _ *otelrr.TracerProvider) error { return makeBoundary(ctx) }, otelrr.WithSpanLimits(l))
			run := storetest.ReadRun(t, dir, id)
			if run.Info.Status != spanlog.StatusDamaged {
				t.Fatalf("stored run is %s (%s); this case no longer cuts anything", run.Info.Status, run.Info.Reason)
			}
			if !errors.Is(agentErr, exporter.ErrPayloadCut) {
				t.Errorf("the stored boundary is damaged (%s) but the helper returned %.80v; want an error matching exporter.ErrPayloadCut", run.Info.Reason, agentErr)
			}
		})
	}
}

func TestHelperWithoutRun(t *testing.T) {
	ran := false
	ctx := context.Background()
	if _, err := otelrr.Tool(ctx, "t", 1, func(context.Context, int) (int, error) { ran = true; return 1, nil }); !errors.Is(err, otelrr.ErrNoRun) {
		t.Errorf("Tool: %v, want ErrNoRun", err)
	}
	if _, err := otelrr.LLM(ctx, "p", "m", 1, func(context.Context, int) (int, error) { ran = true; return 1, nil }); !errors.Is(err, otelrr.ErrNoRun) {
		t.Errorf("LLM: %v, want ErrNoRun", err)
	}
	if ran {
		t.Error("a helper without a run called the real function")
	}
	for name, f := range map[string]func(context.Context) error{
		"Now":     func(ctx context.Context) error { _, err := otelrr.Now(ctx); return err },
		"Rand":    func(ctx context.Context) error { _, err := otelrr.Rand(ctx); return err },
		"Intn":    func(ctx context.Context) error { _, err := otelrr.Intn(ctx, 3); return err },
		"Float64": func(ctx context.Context) error { _, err := otelrr.Float64(ctx); return err },
		"NewID":   func(ctx context.Context) error { _, err := otelrr.NewID(ctx); return err },
	} {
		if err := f(ctx); !errors.Is(err, otelrr.ErrNoRun) {
			t.Errorf("%s: %v, want ErrNoRun", name, err)
		}
	}
	if otelrr.RunFromContext(ctx) != nil {
		t.Error("RunFromContext of a bare context is not nil")
	}
}

func TestBoundaryAfterShutdownFails(t *testing.T) {
	dir := t.TempDir()
	tp, err := otelrr.NewTracerProvider(context.Background(), otelrr.WithStore(dir))
	if err != nil {
		t.Fatal(err)
	}
	ctx, run, err := tp.StartRun(context.Background(), "shut")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := otelrr.Now(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	ran := false
	res, err := otelrr.Tool(ctx, "lookup", map[string]string{"q": "x"}, func(context.Context, map[string]string) (map[string]string, error) {
		ran = true
		return map[string]string{"a": "answer"}, nil
	})
	if !errors.Is(err, otelrr.ErrRunEnded) || res != nil {
		t.Fatalf("boundary after Shutdown returned %v, %v; want otelrr.ErrRunEnded and no result", res, err)
	}
	if ran {
		t.Error("the tool ran after Shutdown: a side effect that can never be recorded")
	}
	if now, err := otelrr.Now(ctx); err == nil || !now.IsZero() {
		t.Errorf("Now after Shutdown returned %v, %v; want an error", now, err)
	}
	// Shutdown closed the run before it ended: it reads back truncated,
	// holding only what was acknowledged.
	stored := storetest.ReadRun(t, dir, run.TraceID())
	if stored.Info.Status != spanlog.StatusTruncated || len(stored.Records) != 1 {
		t.Errorf("stored %s (%s), %d boundaries; want truncated, 1", stored.Info.Status, stored.Info.Reason, len(stored.Records))
	}
}

func TestBoundaryAfterEndFails(t *testing.T) {
	dir := t.TempDir()
	tp := newTP(t, dir)
	ctx, run, err := tp.StartRun(context.Background(), "ended")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := otelrr.Now(ctx); err != nil {
		t.Fatal(err)
	}
	if err := run.End(nil); err != nil {
		t.Fatal(err)
	}
	if err := run.End(nil); err != nil {
		t.Errorf("second End: %v", err)
	}
	if v, err := otelrr.Intn(ctx, 10); err == nil {
		t.Errorf("boundary after End returned %d, nil; want an error", v)
	}
	stored := storetest.ReadRun(t, dir, run.TraceID())
	if stored.Info.Status != spanlog.StatusComplete || len(stored.Records) != 1 {
		t.Errorf("stored %s (%s), %d boundaries; want complete with 1", stored.Info.Status, stored.Info.Reason, len(stored.Records))
	}
}

func TestSecondStartRunOnAReplayFails(t *testing.T) {
	dir := t.TempDir()
	id, _ := record(t, dir, &agent{prompt: "p"})
	store, _ := spanlog.OpenExisting(dir)

	t.Run("replayer.Replay", func(t *testing.T) {
		rec, err := replayer.Load(store, id)
		if err != nil {
			t.Fatal(err)
		}
		before, _ := store.TraceIDs()
		var secondErr error
		rep, err := replayer.Replay(context.Background(), rec, func(ctx context.Context) error {
			tp := newTP(t, dir)
			rctx, run, err := tp.StartRun(ctx, "first")
			if err != nil {
				return err
			}
			if _, r2, err := tp.StartRun(ctx, "second"); err == nil || r2 != nil {
				secondErr = errors.New("second StartRun succeeded")
			}
			_, err = (&agent{prompt: "p"}).work(rctx)
			if endErr := run.End(err); endErr != nil {
				return endErr
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if secondErr != nil {
			t.Fatal(secondErr)
		}
		if !rep.Faithful() {
			t.Errorf("the first run's replay diverged: %+v", rep.Divergences)
		}
		after, _ := store.TraceIDs()
		if len(after) != len(before)+1 {
			t.Errorf("store went from %d to %d runs; the refused run must not be stored", len(before), len(after))
		}
	})

	t.Run("WithReplay", func(t *testing.T) {
		store, err := spanlog.OpenExisting(dir)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := replayer.Load(store, id[:8])
		if err != nil {
			t.Fatal(err)
		}
		tp := newTP(t, dir, otelrr.WithReplay(rec, replayer.WithMode(replayer.Strict)))
		if !tp.Replaying() {
			t.Fatal("provider not replaying")
		}
		ctx, run, err := tp.StartRun(context.Background(), "first")
		if err != nil {
			t.Fatal(err)
		}
		if !run.Replaying() {
			t.Error("run not replaying")
		}
		if _, _, err := tp.StartRun(context.Background(), "second"); err == nil {
			t.Error("second StartRun on a replaying provider succeeded")
		}
		if _, err := (&agent{prompt: "p"}).work(ctx); err != nil {
			t.Fatal(err)
		}
		if err := run.End(nil); err != nil {
			t.Fatal(err)
		}
		if rep := run.Report(); rep == nil || !rep.Faithful() || rep.OriginalTrace != id {
			t.Errorf("report %+v", rep)
		}
	})
}

// A replay in which a recorded clock read is served: the agent sees the
// recorded time, not the current one.
func TestClockIsServedFromTheRecording(t *testing.T) {
	dir := t.TempDir()
	var recorded time.Time
	id, _ := recordFn(t, dir, func(ctx context.Context, _ *otelrr.TracerProvider) error {
		var err error
		recorded, err = otelrr.Now(ctx)
		return err
	})
	rep := replayFn(t, dir, id, func(ctx context.Context, _ *otelrr.TracerProvider) error {
		got, err := otelrr.Now(ctx)
		if err != nil {
			return err
		}
		if !got.Equal(recorded) {
			t.Errorf("replayed clock %v, recorded %v", got, recorded)
		}
		return nil
	}, nil)
	if !rep.Faithful() {
		t.Errorf("%+v", rep.Divergences)
	}
}
