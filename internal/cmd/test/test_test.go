package test

import (
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
)

func TestVerdicts(t *testing.T) {
	truncated := &analyze.Report{Recorded: 3, RecordingTruncated: true, Finished: true,
		Divergences: []analyze.Divergence{{Seq: 3, Index: 3, Reason: analyze.ReasonTruncated, ObservedKind: boundary.KindLLM, ObservedName: "m"}}}
	diverged := &analyze.Report{Recorded: 8, Finished: true, Divergences: []analyze.Divergence{
		{Seq: 2, Index: 2, Reason: analyze.ReasonSignature, ExpectedKind: boundary.KindLLM, ExpectedName: "fake-gpt-1",
			Diff: []analyze.Change{{Path: "messages[0].content", Op: "changed"}}},
		{Seq: 4, Index: 4, Reason: analyze.ReasonSignature, ExpectedKind: boundary.KindLLM, ExpectedName: "fake-gpt-1"},
	}}
	for _, c := range []struct {
		name    string
		r       *analyze.Report
		runErr  error
		verdict string
		reason  string
	}{
		{"faithful", &analyze.Report{Recorded: 8, Finished: true}, nil, Faithful, ""},
		{"truncated", truncated, nil, Truncated, "the recording holds only 3 boundaries (its recorder was killed) and the agent went on past its end"},
		{"diverged", diverged, errors.New("exit status 1"), Diverged, "at seq 2 llm fake-gpt-1: messages[0].content changed (and 1 more)"},
		{"agent failed", &analyze.Report{Recorded: 8, Finished: true}, errors.New("exit status 2"), AgentFailed, "the agent failed (exit status 2) without diverging from the recording"},
		{"no end", &analyze.Report{Recorded: 8}, nil, AgentFailed, "the agent exited without ending its run (Run.End was not called)"},
	} {
		v, reason := verdict(c.r, c.runErr)
		if v != c.verdict || reason != c.reason {
			t.Errorf("%s: verdict %q, %q; want %q, %q", c.name, v, reason, c.verdict, c.reason)
		}
	}
}

func TestJUnitReportParses(t *testing.T) {
	out := &Output{Seconds: 1.5, Recordings: []*Result{
		{Name: "suite/a.json", File: "suite/a.json", Verdict: Faithful, Seconds: 0.25},
		{Name: "suite/b.json", File: "suite/b.json", Verdict: Diverged, Reason: "at seq 2 llm m: x changed", Seconds: 0.5,
			report: &analyze.Report{Recorded: 3, Divergences: []analyze.Divergence{{Seq: 2, Reason: analyze.ReasonSignature, ExpectedKind: boundary.KindLLM, ExpectedName: "m"}}},
			output: []byte("agent said \x00<&]]> bye\n")},
		{Name: "run 0123", TraceID: "0123", Verdict: Damaged, Reason: "run 0123 is damaged"},
	}}
	path := filepath.Join(t.TempDir(), "junit.xml")
	if err := writeJUnit(path, out); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got junitSuites
	if err := xml.Unmarshal(data, &got); err != nil {
		t.Fatalf("the report does not parse: %v\n%s", err, data)
	}
	s := got.Suites[0]
	if got.Tests != 3 || len(s.Cases) != 3 || got.Failures != 1 || got.Errors != 1 || got.Time != "1.500" {
		t.Fatalf("tests=%d cases=%d failures=%d errors=%d time=%s\n%s", got.Tests, len(s.Cases), got.Failures, got.Errors, got.Time, data)
	}
	b := s.Cases[1]
	if b.Failure == nil || b.Failure.Type != Diverged || !strings.Contains(b.Failure.Text, "WHAT DIFFERS") || b.Time != "0.500" {
		t.Errorf("diverged case: %+v", b)
	}
	if b.SystemOut == nil || b.SystemOut.Text != "agent said <&]]> bye\n" {
		t.Errorf("system-out %+v: want the agent's output without the NUL", b.SystemOut)
	}
	if c := s.Cases[2]; c.Error == nil || c.Error.Type != Damaged || c.Classname != "agentrr.test" {
		t.Errorf("damaged case: %+v", c)
	}
}

func TestSummaryLine(t *testing.T) {
	out := &Output{Jobs: 4, Seconds: 2.5, Summary: Summary{Total: 5, Faithful: 2, Diverged: 2, AgentFailed: 1, Skipped: 1}}
	want := "FAIL: 5 recordings: 2 faithful, 2 diverged, 1 agent failed, 1 skipped (not bundles) (2.50s, -j 4)"
	if got := summaryLine(out); got != want {
		t.Errorf("summary\n got %q\nwant %q", got, want)
	}
}
