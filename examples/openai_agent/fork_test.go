package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/examples/internal/openaiclient"
	"github.com/agentrr/agentrr/internal/fakeapi"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/rrtest"
)

// recordAgent records one run of the agent against a fake server of its
// own: seq 0 llm, 1 lookup_order, 2 llm, 3 refund_policy, 4 llm.
func recordAgent(t *testing.T) *replayer.Recording {
	t.Helper()
	srv := fakeapi.New()
	defer srv.Close()
	a := &Agent{Client: openaiclient.New(srv.OpenAIBaseURL(), "k", nil), Stream: true}
	rec, _, err := rrtest.Record(t, "openai_agent", a.Run)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Records) != 5 || rec.Records[3].Name != "refund_policy" {
		t.Fatalf("recorded %d boundaries", len(rec.Records))
	}
	return rec
}

// An override of lookup_order's answer with an error: the agent takes its
// error path (it tells the model), the boundaries before are served, and
// no tool is run again: only refund_policy, allowed live after the fork.
func TestForkWithAnOverriddenToolError(t *testing.T) {
	rec := recordAgent(t)
	live := fakeapi.New()
	defer live.Close()
	a := &Agent{Client: openaiclient.New(live.OpenAIBaseURL(), "k", nil), Stream: true}
	rep, answer := rrtest.Replay(t, rec, a.Run,
		replayer.WithOverride(1, replayer.Override{Error: "the order service is down"}),
		replayer.LiveTools("refund_policy"))
	rrtest.RequireFaithful(t, rep)
	if rep.Fork == nil || rep.Fork.Seq != 2 || !strings.Contains(rep.Fork.Reason, "override") || rep.Served != 2 || rep.Live != 3 {
		t.Fatalf("report %+v, fork %+v", rep, rep.Fork)
	}
	if !strings.HasPrefix(answer, "Here is what I found: error: the order service is down") {
		t.Errorf("answer %q", answer)
	}
	if n := a.ToolRuns.Load(); n != 1 {
		t.Errorf("%d tools ran, want 1 (refund_policy, live)", n)
	}
	if reqs := live.Requests(); len(reqs) != 2 || !strings.Contains(string(reqs[0].Body), "error: the order service is down") {
		t.Errorf("the server got %d requests", len(reqs))
	}
}

// A fork run five times against a model that answers differently per call
// (it skips refund_policy on its 2nd and 3rd decisions): the comparison
// tells which runs took which path.
func TestForkRepeatedAgainstAVaryingModel(t *testing.T) {
	rec := recordAgent(t)
	live := fakeapi.NewWith(func(s *fakeapi.Server) { s.AnswerEarly = func(n int) bool { return n == 2 || n == 3 } })
	defer live.Close()
	a := &Agent{Client: openaiclient.New(live.OpenAIBaseURL(), "k", nil), Stream: true}
	r := rrtest.Repeat(t, rec, a.Run, 5, replayer.ForkAt(2), replayer.LiveTools("refund_policy"))

	var from []string
	for _, run := range r.Runs {
		s := "-"
		if run.FromOriginal != nil {
			s = run.FromOriginal.String()
		}
		from = append(from, s)
		if run.Outcome != "ok" || run.Fork == nil || run.Fork.Seq != 2 {
			t.Errorf("run %d: outcome %s, fork %+v", run.Repeat, run.Outcome, run.Fork)
		}
	}
	want := []string{"-", "seq 3: -tool refund_policy", "seq 3: -tool refund_policy", "-", "-"}
	if !slices.Equal(from, want) {
		t.Errorf("from the original: %q, want %q", from, want)
	}
	if r.Runs[1].SameAs != 3 || r.Runs[0].SameAs != 4 {
		t.Errorf("same as: %d, %d", r.Runs[1].SameAs, r.Runs[0].SameAs)
	}
	if !slices.Contains(r.Summary.Lines, "2 of 5 runs no longer call `refund_policy`") || r.Summary.OriginalPath != 3 {
		t.Errorf("summary %+v", r.Summary)
	}
	if n := a.ToolRuns.Load(); n != 3 {
		t.Errorf("refund_policy ran %d times live, want 3", n)
	}
	if n := len(live.Requests()); n != 3*2+2*1 {
		t.Errorf("the server got %d requests, want 8", n)
	}
}
