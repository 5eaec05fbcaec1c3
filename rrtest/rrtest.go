// Package rrtest records agent runs and replays them from a go test, as
// net/http/httptest and the OpenTelemetry SDK's tracetest do for their
// parts: a recorded production failure becomes a regression test.
//
//	func TestRefundAgent(t *testing.T) {
//		rec, answer, err := rrtest.Record(t, "support", agent.Work) // once, for real
//		…
//		report, replayed := rrtest.Replay(t, rec, agent.Work)        // offline, exact
//		rrtest.RequireFaithful(t, report)
//	}
//
// Record runs work inside one run of a provider recording into a store of
// its own under t.TempDir(); Replay runs it again against the recording,
// the replayed run recorded into another one. Work is the agent's own
// code: it gets a context carrying the run, and makes its boundaries with
// otelrr's helpers (and SDK calls through otelrr.HTTPClient) as always.
// ReplayAgent replays an agent that builds its own provider and starts its
// own run, as a main package does. Failures to set up, record or load fail
// the test; divergences are in the report, which RequireFaithful turns into
// a failure that prints the divergence table.
//
// ReplayFolder (and ReplayFolderAgent) replay every bundle of a folder,
// testdata/agentrr by convention, one subtest each: recorded runs exported
// there (agentrr export <id> --fixture testdata/agentrr) are a regression
// suite, which `agentrr test testdata/agentrr -- <agent>` runs from the
// command line too.
package rrtest

import (
	"context"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/internal/replaylink"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// Record runs work as one run named name, recorded into a new store under
// t.TempDir(), and returns the recording (read back from the store and
// checked whole), work's result and work's error (recorded with the run).
// opts configure the provider (otelrr.WithRedaction, otelrr.WithError, …).
func Record[T any](t testing.TB, name string, work func(ctx context.Context) (T, error), opts ...otelrr.Option) (*replayer.Recording, T, error) {
	t.Helper()
	return RecordIn(t, t.TempDir(), name, work, opts...)
}

// RecordIn is Record into the store at dir (created if need be).
func RecordIn[T any](t testing.TB, dir, name string, work func(ctx context.Context) (T, error), opts ...otelrr.Option) (*replayer.Recording, T, error) {
	t.Helper()
	id, out, err := Run(context.Background(), t, dir, name, work, opts...)
	return Load(t, dir, id), out, err
}

// Replay replays rec in-process: work runs inside a run that serves every
// boundary from the recording (no network, no tool runs), recorded itself
// into a new store under t.TempDir(). It returns the report and work's
// result; work's error is the report's AgentError. opts are replay options
// (replayer.WithMode, WithChaos, WithUntilSeq, …).
func Replay[T any](t testing.TB, rec *replayer.Recording, work func(ctx context.Context) (T, error), opts ...replayer.Option) (*analyze.Report, T) {
	t.Helper()
	return ReplayIn(t, t.TempDir(), rec, work, opts...)
}

// ReplayIn is Replay with the replayed run recorded into the store at dir
// (where a test can read it back, by the report's ReplayTrace).
func ReplayIn[T any](t testing.TB, dir string, rec *replayer.Recording, work func(ctx context.Context) (T, error), opts ...replayer.Option) (*analyze.Report, T) {
	t.Helper()
	var out T
	rep, err := replayer.Replay(replaylink.WithinTest(context.Background()), rec, func(ctx context.Context) error {
		var err error
		_, out, err = Run(ctx, t, dir, name(rec), work)
		return err
	}, opts...)
	if err != nil {
		t.Fatalf("rrtest: replay of %s: %v", rec.TraceID, err)
	}
	return rep, out
}

// ReplayAgent replays rec with an agent that builds its own tracer provider
// and starts its run itself (with the context it is given), as a main
// package does with otelrr.NewTracerProvider and StartRun. Its replayed
// run is recorded into a new store under t.TempDir(), whatever store the
// agent names.
func ReplayAgent(t testing.TB, rec *replayer.Recording, agent func(ctx context.Context) error, opts ...replayer.Option) *analyze.Report {
	t.Helper()
	store, err := spanlog.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]replayer.Option{replayer.WithReplayStore(store)}, opts...)
	rep, err := replayer.Replay(replaylink.WithinTest(context.Background()), rec, agent, opts...)
	if err != nil {
		t.Fatalf("rrtest: replay of %s: %v", rec.TraceID, err)
	}
	return rep
}

// Run runs work inside one run named name of a provider recording into the
// store at dir, configured further by opts, and returns the run id, work's
// result and work's error (recorded with the run). When ctx carries a
// replay (replayer.Replay), the run replays instead. A failure to set up or
// end the run fails t.
func Run[T any](ctx context.Context, t testing.TB, dir, name string, work func(ctx context.Context) (T, error), opts ...otelrr.Option) (id string, out T, err error) {
	t.Helper()
	tp, err := otelrr.NewTracerProvider(ctx, append([]otelrr.Option{otelrr.WithStore(dir)}, opts...)...)
	if err != nil {
		t.Fatalf("rrtest: %v", err)
	}
	defer tp.Shutdown(context.WithoutCancel(ctx))
	ctx, run, err := tp.StartRun(ctx, name)
	if err != nil {
		t.Fatalf("rrtest: %v", err)
	}
	out, err = work(ctx)
	if endErr := run.End(err); endErr != nil {
		t.Fatalf("rrtest: %v", endErr)
	}
	return run.TraceID(), out, err
}

// Load reads run id (a run id or unique prefix) from the store at dir and
// checks it whole, failing t if it cannot be replayed (a run still being
// recorded, a damaged one).
func Load(t testing.TB, dir, id string) *replayer.Recording {
	t.Helper()
	store, err := spanlog.OpenExisting(dir)
	if err != nil {
		t.Fatalf("rrtest: %v", err)
	}
	rec, err := replayer.Load(store, id)
	if err != nil {
		t.Fatalf("rrtest: %v", err)
	}
	return rec
}

// RequireFaithful fails t, printing the replay's report and divergence
// table (as `agentrr replay` does), unless rep is faithful.
func RequireFaithful(t testing.TB, rep *analyze.Report) {
	t.Helper()
	if rep.Faithful() {
		return
	}
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		t.Fatalf("rrtest: the replay diverged, and its report cannot be written: %v", err)
	}
	t.Fatalf("the replay diverged:\n%s", b.String())
}

func name(rec *replayer.Recording) string {
	if rec.Info.Name != "" {
		return rec.Info.Name
	}
	return "replay"
}
