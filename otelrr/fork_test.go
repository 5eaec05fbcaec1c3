package otelrr_test

import (
	"strings"
	"testing"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/storetest"
	"github.com/agentrr/agentrr/replayer"
)

// A fork serves the recording up to its fork point — no tool, no model
// call — and from there runs live, recorded into a new run linked to the
// original, durably.
func TestForkServesThenRunsLive(t *testing.T) {
	dir := t.TempDir()
	a := &agent{prompt: "You are a helpful support agent."}
	id, _ := record(t, dir, a)
	llm, tools := a.llmCalls.Load(), a.toolCalls.Load()
	rec := loadRecording(t, dir, id)
	last := rec.Records[len(rec.Records)-1] // the second LLM call
	if last.Kind != boundary.KindLLM {
		t.Fatalf("the recording ends with %s %s", last.Kind, last.Name)
	}

	rep, _ := replay(t, dir, id, a, replayer.ForkAt(last.Seq))
	if !rep.Faithful() || rep.Fork == nil || rep.Fork.Seq != last.Seq || rep.Live != 1 {
		t.Fatalf("fork report %+v (fork %+v)", rep, rep.Fork)
	}
	if n := a.llmCalls.Load() - llm; n != 1 {
		t.Errorf("the model was called %d times by the fork, want once (after the fork point)", n)
	}
	if n := a.toolCalls.Load() - tools; n != 0 {
		t.Errorf("the fork ran %d tools before its fork point", n)
	}
	fork := storetest.ReadRun(t, dir, rep.ReplayTrace)
	info := fork.Info
	if info.ReplayOf != id || info.ReplayMode != replayer.ForkMode || info.Ended == nil || info.Ended.ForkSeq == nil || *info.Ended.ForkSeq != last.Seq || info.Ended.Live != 1 {
		t.Errorf("fork run %+v, ended %+v", info.RunMeta, info.Ended)
	}
	var live int
	for _, r := range fork.Records {
		if v, _ := r.Attributes[boundary.AttrLiveBoundary].(bool); v {
			live++
			if r.Seq != last.Seq || r.Kind != boundary.KindLLM {
				t.Errorf("live boundary at seq %d: %s %s", r.Seq, r.Kind, r.Name)
			}
		}
	}
	if live != 1 || len(fork.Records) != len(rec.Records) {
		t.Errorf("the fork holds %d boundaries, %d live", len(fork.Records), live)
	}
}

// After the fork point a tool runs live only when allowed; otherwise the
// helper returns a *replayer.LiveRefusedError and the tool does not run.
func TestForkRefusesToolsNotAllowedLive(t *testing.T) {
	dir := t.TempDir()
	a := &agent{prompt: "You are a helpful support agent."}
	id, _ := record(t, dir, a)
	rec := loadRecording(t, dir, id)
	tool := rec.Records[1] // lookup_order
	if tool.Kind != boundary.KindTool {
		t.Fatalf("seq 1 is %s %s", tool.Kind, tool.Name)
	}
	tools := a.toolCalls.Load()
	rep, _ := replay(t, dir, id, a, replayer.ForkAt(tool.Seq))
	if !strings.Contains(rep.AgentError, "tool lookup_order would run live") || !strings.Contains(rep.AgentError, `--live-tool "lookup_order"`) {
		t.Errorf("the agent ended with %q, want the refusal naming the tool and the flag", rep.AgentError)
	}
	if n := a.toolCalls.Load() - tools; n != 0 {
		t.Errorf("a tool ran %d times live without being allowed", n)
	}
	if len(rep.Refused) != 1 || rep.Refused[0].Name != "lookup_order" {
		t.Errorf("refused %+v", rep.Refused)
	}
	fork := storetest.ReadRun(t, dir, rep.ReplayTrace)
	if last := fork.Records[len(fork.Records)-1]; last.Seq != tool.Seq || !last.Failed || last.Attributes[boundary.AttrRefused] != true || last.Attributes[boundary.AttrLiveBoundary] != nil {
		t.Errorf("the fork stored the refused call as seq %d, failed %t, attributes %v", last.Seq, last.Failed, last.Attributes)
	}
	rep, _ = replay(t, dir, id, a, replayer.ForkAt(tool.Seq), replayer.LiveTools("lookup_order"))
	if rep.AgentError != "" {
		t.Errorf("with lookup_order allowed: %s", rep.AgentError)
	}
	if n := a.toolCalls.Load() - tools; n != 2 {
		t.Errorf("allowed live, lookup_order ran %d times, want 2", n)
	}
}

// --continue-live: an edited prompt replays exactly up to the divergence,
// then the model is asked live with the new prompt.
func TestContinueLiveAfterAnEditedPrompt(t *testing.T) {
	dir := t.TempDir()
	id, _ := record(t, dir, &agent{prompt: "You are a helpful support agent."})
	edited := &agent{prompt: "You are a terse support agent."}
	rep, _ := replay(t, dir, id, edited, replayer.ContinueLive(), replayer.AllLiveTools())
	if rep.Fork == nil || rep.Fork.Seq != 0 || rep.Fork.Divergence == nil || len(rep.Fork.Divergence.Diff) == 0 {
		t.Fatalf("fork %+v", rep.Fork)
	}
	if edited.llmCalls.Load() != 2 {
		t.Errorf("the edited agent's model calls ran %d times live, want 2", edited.llmCalls.Load())
	}
	if !rep.Faithful() || rep.AgentError != "" {
		t.Errorf("report %+v", rep)
	}
}

// An override is served in place of the recorded answer, without running
// the tool, and stored in the fork's run marked agentrr.overridden; the
// agent's changed path forks where its requests stop matching.
func TestOverrideIsServedAndMarked(t *testing.T) {
	dir := t.TempDir()
	a := &agent{prompt: "You are a helpful support agent."}
	id, _ := record(t, dir, a)
	rec := loadRecording(t, dir, id)
	failed := rec.Records[2] // lookup_order of order "missing", which failed
	if failed.Kind != boundary.KindTool || !failed.Failed {
		t.Fatalf("seq 2 is %s %s (failed %t)", failed.Kind, failed.Name, failed.Failed)
	}
	llm, tools := a.llmCalls.Load(), a.toolCalls.Load()
	rep, out := replay(t, dir, id, a, replayer.WithOverride(2, replayer.Override{Response: []byte(`{"order":"missing","status":"found"}`)}))
	if !rep.Faithful() || rep.Fork == nil || !strings.Contains(rep.Fork.Reason, "override") || rep.Fork.Kind != boundary.KindLLM || rep.Live != 1 {
		t.Fatalf("report %+v, fork %+v", rep, rep.Fork)
	}
	if !strings.Contains(out, "|<nil>|") {
		t.Errorf("the agent saw the recorded error, not the override: %s", out)
	}
	if n := a.toolCalls.Load() - tools; n != 0 {
		t.Errorf("the fork ran %d tools", n)
	}
	if n := a.llmCalls.Load() - llm; n != 1 {
		t.Errorf("the model was called %d times, want once (the fork point)", n)
	}
	fork := storetest.ReadRun(t, dir, rep.ReplayTrace)
	for _, r := range fork.Records {
		marked, _ := r.Attributes[boundary.AttrOverridden].(bool)
		if marked != (r.Seq == 2) {
			t.Errorf("seq %d (%s %s): overridden mark %t", r.Seq, r.Kind, r.Name, marked)
		}
		if r.Seq == 2 && (r.Failed || string(r.Response) != `{"order":"missing","status":"found"}`) {
			t.Errorf("the fork stored %s / %q for the override", r.Response, r.Error)
		}
	}
}
