package main

import (
	"context"
	"testing"
	"time"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/fakeapi/fakellm"
	"github.com/agentrr/agentrr/rrtest"
)

func record(t *testing.T, dir string, a *Agent) string {
	t.Helper()
	id, _, err := rrtest.Run(context.Background(), t, dir, "unstable_loop", a.Run)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func replay(t *testing.T, dir, id string, a *Agent) *analyze.Report {
	rep, _ := rrtest.Replay(t, rrtest.Load(t, dir, id), a.Run)
	return rep
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// scripted is an unstable agent whose unrecorded draw and clock the test
// chooses.
func scripted(polls int, now time.Time) *Agent {
	return &Agent{
		LLM:  &fakellm.Client{},
		Draw: func(context.Context) (int, error) { return polls, nil },
		Now:  func(context.Context) (time.Time, error) { return now, nil },
	}
}

func onlyDivergence(t *testing.T, rep *analyze.Report) analyze.Divergence {
	t.Helper()
	if rep.Faithful() || !rep.Halted || len(rep.Divergences) != 1 {
		t.Fatalf("replay: %s, halted=%v, divergences %+v; want one halting divergence", rep.Verdict(), rep.Halted, rep.Divergences)
	}
	return rep.Divergences[0]
}

func TestMorePollsOnReplayDivergeAtTheExtraPoll(t *testing.T) {
	dir := t.TempDir()
	id := record(t, dir, scripted(2, t0))
	a := scripted(3, t0)
	d := onlyDivergence(t, replay(t, dir, id, a))
	// seq 0 llm, 1-2 the recorded polls, 3 the recorded final model call.
	if d.Seq != 3 || d.Reason != analyze.ReasonKind || d.ExpectedKind != boundary.KindLLM ||
		d.ObservedKind != boundary.KindTool || d.ObservedName != "check_deploy" {
		t.Errorf("divergence %+v, want llm expected, tool check_deploy made, at seq 3", d)
	}
	if a.Polls != 0 || a.LLM.Calls() != 0 {
		t.Errorf("replay ran the tool %d times and the model %d times", a.Polls, a.LLM.Calls())
	}
}

func TestFewerPollsOnReplayDivergeWhereAPollWasRecorded(t *testing.T) {
	dir := t.TempDir()
	id := record(t, dir, scripted(2, t0))
	d := onlyDivergence(t, replay(t, dir, id, scripted(1, t0)))
	if d.Seq != 2 || d.Reason != analyze.ReasonKind || d.ExpectedKind != boundary.KindTool || d.ObservedKind != boundary.KindLLM {
		t.Errorf("divergence %+v, want tool expected, llm made, at seq 2", d)
	}
}

func TestSameDrawStillDivergesOnTheUnrecordedClock(t *testing.T) {
	dir := t.TempDir()
	id := record(t, dir, scripted(2, t0))
	d := onlyDivergence(t, replay(t, dir, id, scripted(2, t0.Add(time.Second))))
	if d.Seq != 3 || d.Reason != analyze.ReasonSignature || len(d.Diff) != 1 || d.Diff[0].Path != "messages[4].content" {
		t.Errorf("divergence %+v, want a signature mismatch at seq 3 on messages[4].content (checked_at)", d)
	}
}

func TestUnstableAgentNeverReplaysFaithfully(t *testing.T) {
	dir := t.TempDir()
	id := record(t, dir, Unstable())
	// Whatever the draw, the clock read outside otelrr differs.
	rep := replay(t, dir, id, Unstable())
	if rep.Faithful() {
		t.Fatalf("the unstable agent replayed faithfully: %+v", rep)
	}
	if d := rep.Divergences[0]; d.Seq < 2 || d.Seq > maxPolls+1 {
		t.Errorf("divergence at seq %d, want one at a poll or the final model call (2..%d): %+v", d.Seq, maxPolls+1, d)
	}
}

func TestFixedAgentReplaysFaithfully(t *testing.T) {
	dir := t.TempDir()
	id := record(t, dir, Fixed())
	a := Fixed()
	rep := replay(t, dir, id, a)
	if !rep.Faithful() || !rep.Finished || rep.Served != rep.Recorded {
		t.Fatalf("fixed agent: %s, served %d of %d: %+v", rep.Verdict(), rep.Served, rep.Recorded, rep.Divergences)
	}
	if a.Polls != 0 || a.LLM.Calls() != 0 {
		t.Errorf("replay ran the tool %d times and the model %d times", a.Polls, a.LLM.Calls())
	}
}
