package main

import (
	"context"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/rrtest"
	"github.com/agentrr/agentrr/spanlog"
)

// runAgent runs a on task inside one run of a provider on store dir.
func runAgent(ctx context.Context, t *testing.T, dir string, a *Agent, task string) (traceID, answer string, err error) {
	return rrtest.Run(ctx, t, dir, "tool_caller", func(ctx context.Context) (string, error) { return a.Run(ctx, task) })
}

func replayAgent(t *testing.T, dir, id string, a *Agent, task string) (*analyze.Report, string) {
	return rrtest.Replay(t, rrtest.Load(t, dir, id), func(ctx context.Context) (string, error) { return a.Run(ctx, task) })
}

func newAgent() *Agent { return &Agent{Model: &Planner{}, Tools: NewToolbox()} }

// The loop makes 3 model calls and 4 tool calls, one of which fails.
var wantSequence = []struct {
	kind   boundary.Kind
	name   string
	failed bool
}{
	{boundary.KindLLM, "fake-planner-1", false},
	{boundary.KindTool, "get_weather", false},
	{boundary.KindTool, "convert_currency", true},
	{boundary.KindLLM, "fake-planner-1", false},
	{boundary.KindTool, "convert_currency", false},
	{boundary.KindTool, "search_docs", false},
	{boundary.KindLLM, "fake-planner-1", false},
}

func TestRecordedLoopHasEveryToolCallAndTheError(t *testing.T) {
	dir := t.TempDir()
	a := newAgent()
	id, answer, err := runAgent(context.Background(), t, dir, a, DefaultTask)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"184.00 EUR", "sunny", "10:00 to 18:00"} {
		if !strings.Contains(answer, want) {
			t.Errorf("answer %q lacks %q", answer, want)
		}
	}
	store, _ := spanlog.OpenExisting(dir)
	run, err := store.ReadRun(id)
	if err != nil {
		t.Fatal(err)
	}
	if run.Info.Status != spanlog.StatusComplete || len(run.Records) != len(wantSequence) {
		t.Fatalf("run %s with %d boundaries, want complete with %d", run.Info.Status, len(run.Records), len(wantSequence))
	}
	for i, w := range wantSequence {
		r := run.Records[i]
		if r.Kind != w.kind || r.Name != w.name || r.Failed != w.failed {
			t.Errorf("seq %d: %s %s failed=%v, want %s %s failed=%v", i, r.Kind, r.Name, r.Failed, w.kind, w.name, w.failed)
		}
	}
	if got := run.Records[2].Error; !strings.Contains(got, `unknown currency "EURO"`) {
		t.Errorf("recorded tool error %q", got)
	}
}

func TestReplayServesEveryAnswerAndTheToolError(t *testing.T) {
	dir := t.TempDir()
	id, want, err := runAgent(context.Background(), t, dir, newAgent(), DefaultTask)
	if err != nil {
		t.Fatal(err)
	}
	var transcript []string
	a := &Agent{Model: &Planner{}, Tools: NewToolbox()}
	a.Log = func(format string, args ...any) {
		if s, ok := args[len(args)-1].(string); ok {
			transcript = append(transcript, s)
		}
	}
	rep, got := replayAgent(t, dir, id, a, DefaultTask)
	if !rep.Faithful() || rep.Served != len(wantSequence) || !rep.Finished {
		t.Fatalf("replay: %s, served %d of %d, finished=%v: %+v", rep.Verdict(), rep.Served, rep.Recorded, rep.Finished, rep.Divergences)
	}
	if got != want {
		t.Errorf("replayed answer %q, recorded %q", got, want)
	}
	if a.Model.Calls() != 0 || a.Tools.Calls() != 0 {
		t.Errorf("replay ran the model %d times and tools %d times, want 0", a.Model.Calls(), a.Tools.Calls())
	}
	// The agent saw the recorded tool error, with its text, on replay too.
	if len(transcript) != 4 || !strings.HasPrefix(transcript[1], `error: unknown currency "EURO"`) {
		t.Errorf("replayed tool results %q; want the recorded error second", transcript)
	}
	if !strings.Contains(rep.CodeChange, "unchanged") || rep.CodeChanged {
		t.Errorf("code change %q (changed=%v): the same test binary replayed", rep.CodeChange, rep.CodeChanged)
	}
}

func TestAnotherTaskHaltsAtTheFirstModelCall(t *testing.T) {
	dir := t.TempDir()
	id, _, err := runAgent(context.Background(), t, dir, newAgent(), DefaultTask)
	if err != nil {
		t.Fatal(err)
	}
	a := newAgent()
	rep, _ := replayAgent(t, dir, id, a, "I land in Porto on Friday.")
	if rep.Faithful() || !rep.Halted {
		t.Fatalf("replay with another task: %s, halted=%v", rep.Verdict(), rep.Halted)
	}
	d := rep.Divergences[0]
	if d.Seq != 0 || d.Reason != analyze.ReasonSignature || len(d.Diff) != 1 || d.Diff[0].Path != "messages[1].content" {
		t.Errorf("divergence %+v, want a signature mismatch at seq 0 on messages[1].content", d)
	}
	if !strings.Contains(rep.AgentError, "replay diverged at seq 0") {
		t.Errorf("agent error %q does not report the divergence", rep.AgentError)
	}
	if a.Model.Calls() != 0 || a.Tools.Calls() != 0 {
		t.Errorf("diverged replay ran the model %d times, tools %d times", a.Model.Calls(), a.Tools.Calls())
	}
}
