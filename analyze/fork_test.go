package analyze

import (
	"bytes"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/boundary"
)

// A fork's report says it is a fork: exact up to where, what ran live,
// why it forked there (with the request diff when that was a divergence),
// the run it was recorded as, and every call it refused to run live.
func TestForkReportSummary(t *testing.T) {
	rep := &Report{
		OriginalTrace: "0123456789abcdef0123456789abcdef", ReplayTrace: "fedcba9876543210fedcba9876543210",
		Mode: "strict", Recorded: 8, Requested: 5, Served: 2, Finished: true, Divergences: []Divergence{}, Live: 3,
		Fork: &ForkPoint{Seq: 2, Index: 2, Kind: boundary.KindLLM, Name: "fake-gpt-1", Reason: "continue live after the first divergence",
			Divergence: &Divergence{Seq: 2, Index: 2, Reason: ReasonSignature, ExpectedKind: boundary.KindLLM, ExpectedName: "fake-gpt-1",
				Diff: []Change{{Path: "messages[0].content", Op: OpChanged, Expected: `"You are helpful."`, Observed: `"You are terse."`}}}},
		Refused:    []LiveRefusal{{Index: 3, Kind: boundary.KindTool, Name: "lookup_order"}},
		AgentError: "agentrr: fork: tool lookup_order would run live…",
	}
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	want := `fork of 0123456789abcdef0123456789abcdef: exact up to the fork point — 2 of 8 boundaries served, then 3 run live
forked at seq 2, llm fake-gpt-1 (continue live after the first divergence): messages[0].content changed
  seq 2 llm fake-gpt-1: messages[0].content: "You are helpful." → "You are terse."
the fork was recorded as trace fedcba9876543210fedcba9876543210 (compare: agentrr diff 01234567 fedcba98)
the agent's run ended with an error: agentrr: fork: tool lookup_order would run live…
refused to run tool lookup_order live at seq 3: it was not called (allow it with
--live-tool lookup_order, or every tool with --live-tools)
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	if quoteArg("POST /v1/refunds") != `'POST /v1/refunds'` || quoteArg("it's") != `'it'\''s'` {
		t.Errorf("quoting: %s %s", quoteArg("POST /v1/refunds"), quoteArg("it's"))
	}
	// Without a fork point, a fork reads as the replay it was.
	rep.Fork = nil
	b.Reset()
	rep.WriteTable(&b)
	if !strings.HasPrefix(b.String(), "replay of 0123456789abcdef0123456789abcdef (strict): faithful") {
		t.Errorf("got:\n%s", b.String())
	}
}
