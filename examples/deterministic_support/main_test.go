package main

import (
	"context"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/internal/fakeapi/fakellm"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/rrtest"
	"github.com/agentrr/agentrr/spanlog"
)

// runAgent runs the agent inside one run of a provider on store dir.
func runAgent(ctx context.Context, t *testing.T, dir string, a *Agent) (traceID, answer string, err error) {
	return rrtest.Run(ctx, t, dir, "deterministic_support", a.Run)
}

func replayAgent(t *testing.T, dir, id string, a *Agent, opts ...replayer.Option) (*analyze.Report, string) {
	return rrtest.ReplayIn(t, dir, rrtest.Load(t, dir, id), a.Run, opts...)
}

func TestReplayIsFaithfulAndOffline(t *testing.T) {
	dir := t.TempDir()
	recAgent := &Agent{LLM: &fakellm.Client{}}
	id, want, err := runAgent(context.Background(), t, dir, recAgent)
	if err != nil {
		t.Fatal(err)
	}
	if recAgent.LLM.Calls() != 3 || recAgent.ToolCalls.Load() != 2 {
		t.Fatalf("recording: %d LLM calls, %d tool runs; want 3 and 2", recAgent.LLM.Calls(), recAgent.ToolCalls.Load())
	}

	rp := &Agent{LLM: &fakellm.Client{}}
	rep, got := replayAgent(t, dir, id, rp)
	if !rep.Faithful() || rep.Served != 8 || rep.Recorded != 8 {
		t.Fatalf("replay: faithful=%v served %d of %d: %+v", rep.Faithful(), rep.Served, rep.Recorded, rep.Divergences)
	}
	if got != want {
		t.Errorf("replayed answer differs:\n got %q\nwant %q", got, want)
	}
	if rp.LLM.Calls() != 0 || rp.ToolCalls.Load() != 0 {
		t.Errorf("replay made %d live LLM calls and %d tool runs, want none", rp.LLM.Calls(), rp.ToolCalls.Load())
	}

	// The replayed boundary sequence equals the recorded one.
	store, _ := spanlog.OpenExisting(dir)
	orig, _ := store.ReadRun(id)
	again, err := store.ReadRun(rep.ReplayTrace)
	if err != nil {
		t.Fatal(err)
	}
	if len(orig.Records) != len(again.Records) {
		t.Fatalf("replay recorded %d boundaries, original %d", len(again.Records), len(orig.Records))
	}
	for i, o := range orig.Records {
		r := again.Records[i]
		if o.Kind != r.Kind || o.Name != r.Name || o.Signature != r.Signature {
			t.Errorf("seq %d: replayed (%s %s %.12s), recorded (%s %s %.12s)", i, r.Kind, r.Name, r.Signature, o.Kind, o.Name, o.Signature)
		}
	}
}

func TestEditedPromptHaltsAtFirstLLMCall(t *testing.T) {
	dir := t.TempDir()
	id, _, err := runAgent(context.Background(), t, dir, &Agent{LLM: &fakellm.Client{}})
	if err != nil {
		t.Fatal(err)
	}
	edited := &Agent{LLM: &fakellm.Client{}, Prompt: "You are a terse support agent for Acme."}
	rep, _ := replayAgent(t, dir, id, edited)
	if rep.Faithful() || !rep.Halted {
		t.Fatal("edited prompt replayed without a halt")
	}
	d := rep.Divergences[0]
	// seq 0 is the ticket id, seq 1 the clock read, seq 2 the first LLM call.
	if d.Seq != 2 || d.Reason != analyze.ReasonSignature || d.ExpectedKind != "llm" {
		t.Fatalf("divergence %+v, want a signature mismatch at seq 2 (llm)", d)
	}
	if len(d.Diff) != 1 || d.Diff[0].Path != "messages[0].content" {
		t.Fatalf("diff %+v, want exactly messages[0].content", d.Diff)
	}
	if edited.LLM.Calls() != 0 || edited.ToolCalls.Load() != 0 {
		t.Errorf("diverged replay made %d LLM calls, %d tool runs", edited.LLM.Calls(), edited.ToolCalls.Load())
	}
	// The agent saw the divergence as an error and ended its run with it.
	if !strings.Contains(rep.AgentError, "replay diverged at seq 2") {
		t.Errorf("agent error %q does not report the divergence", rep.AgentError)
	}

	obs, _ := replayAgent(t, dir, id, &Agent{LLM: &fakellm.Client{}, Prompt: "You are a terse support agent for Acme."}, replayer.WithMode(replayer.Observe))
	if obs.Halted || len(obs.Divergences) != 3 {
		t.Fatalf("observe mode: halted=%v, %d divergences (want 3: every LLM call): %+v", obs.Halted, len(obs.Divergences), obs.Divergences)
	}
}

// TestRecordedFixtures replays the runs checked in under testdata/agentrr,
// recorded by this command and exported with
//
//	agentrr export <run_id> --fixture examples/deterministic_support/testdata/agentrr
//
// one subtest per bundle: an edit that changes what the agent asks fails
// the ones it changes, with the divergence table.
func TestRecordedFixtures(t *testing.T) {
	a := &Agent{LLM: &fakellm.Client{}}
	rrtest.ReplayFolder(t, "testdata/agentrr", a.Run)
	if a.LLM.Calls() != 0 || a.ToolCalls.Load() != 0 {
		t.Errorf("the replays made %d live LLM calls and %d tool runs, want none", a.LLM.Calls(), a.ToolCalls.Load())
	}
}
