package rrtest

import (
	"context"
	"testing"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/replaylink"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// Forks: Replay with fork options (replayer.ForkAt, WithOverride,
// ContinueLive, LiveTools, AllLiveTools) replays a recording exactly up to
// its fork point, then runs work live — against whatever work talks to: a
// fake model server in a test, the real API in a manual one. Repeat runs
// such a fork several times and compares the runs: "how often does the fix
// hold".

// Repeat replays rec k times in-process with opts, which should fork it
// (replayer.ForkAt, …), each run recorded into one new store under
// t.TempDir(), and returns the comparison of the k runs with the
// recording and with each other (analyze.CompareRepeats: where each run's
// path leaves the original's, its outcome, which tools the runs no longer
// call). work runs as in Replay.
func Repeat[T any](t testing.TB, rec *replayer.Recording, work func(ctx context.Context) (T, error), k int, opts ...replayer.Option) *analyze.Repeats {
	t.Helper()
	dir := t.TempDir()
	runs := make([]analyze.Repeat, 0, k)
	for range k {
		rep, _ := ReplayIn(t, dir, rec, work, opts...)
		runs = append(runs, analyze.Repeat{Report: rep, Records: records(t, dir, rep)})
	}
	return analyze.CompareRepeats(rec.Records, runs)
}

// RepeatAgent is Repeat for an agent that builds its own tracer provider
// and starts its run itself, as ReplayAgent replays one.
func RepeatAgent(t testing.TB, rec *replayer.Recording, agent func(ctx context.Context) error, k int, opts ...replayer.Option) *analyze.Repeats {
	t.Helper()
	dir := t.TempDir()
	store, err := spanlog.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]replayer.Option{replayer.WithReplayStore(store)}, opts...)
	runs := make([]analyze.Repeat, 0, k)
	for range k {
		rep, err := replayer.Replay(replaylink.WithinTest(context.Background()), rec, agent, opts...)
		if err != nil {
			t.Fatalf("rrtest: fork of %s: %v", rec.TraceID, err)
		}
		runs = append(runs, analyze.Repeat{Report: rep, Records: records(t, dir, rep)})
	}
	return analyze.CompareRepeats(rec.Records, runs)
}

// records reads back the run rep's replay recorded into the store at dir.
func records(t testing.TB, dir string, rep *analyze.Report) []boundary.Record {
	t.Helper()
	if rep.ReplayTrace == "" {
		return nil
	}
	store, err := spanlog.OpenExisting(dir)
	if err != nil {
		t.Fatalf("rrtest: %v", err)
	}
	run, err := store.ReadRun(rep.ReplayTrace)
	if err != nil {
		t.Fatalf("rrtest: %v", err)
	}
	return run.Records
}
