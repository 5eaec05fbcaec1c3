package analyze

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/olekukonko/tablewriter/pkg/twwidth"

	"github.com/agentrr/agentrr/boundary"
)

// refundRun is a refund agent's run: the model looks the order up, then
// (when refund is not "") issues a refund with those arguments, then
// answers. id stands for what a live model answers differently every time
// (response ids, tool call ids carried in the next request).
func refundRun(id, refund string) []boundary.Record {
	recs := []boundary.Record{
		rec(0, boundary.KindLLM, "gpt", `{"messages":["hi"]}`, `{"id":"`+id+`-1","tool":"lookup_order"}`, ""),
		rec(1, boundary.KindTool, "lookup_order", `{"order_id":"A-1"}`, `"delayed"`, ""),
		rec(2, boundary.KindLLM, "gpt", `{"messages":["hi","`+id+`-1"]}`, `{"id":"`+id+`-2"}`, ""),
	}
	if refund != "" {
		recs = append(recs,
			rec(3, boundary.KindTool, "issue_refund", refund, `"refunded"`, ""),
			rec(4, boundary.KindLLM, "gpt", `{"messages":["hi","`+id+`-1","`+id+`-2"]}`, `{"id":"`+id+`-3","text":"refunded"}`, ""))
	}
	return recs
}

func forkReport(trace string) *Report {
	return &Report{OriginalTrace: "0123456789abcdef0123456789abcdef", ReplayTrace: trace, Mode: "strict", Recorded: 5, Served: 2, Requested: 5, Finished: true,
		Divergences: []Divergence{}, Fork: &ForkPoint{Seq: 2, Index: 2, Kind: boundary.KindLLM, Name: "gpt", Reason: "at seq 2"}, Live: 3}
}

func repeatRuns() []Repeat {
	refused := forkReport("66666666000000000000000000000000")
	refused.AgentError = "agentrr: fork: tool escalate would run live…"
	refused.Refused = []LiveRefusal{{Index: 3, Kind: boundary.KindTool, Name: "escalate"}}
	escalating := append(refundRun("f", ""), rec(3, boundary.KindTool, "escalate", `{}`, "", refused.AgentError))
	failing := forkReport("55555555000000000000000000000000")
	failing.AgentError = "no answer"
	return []Repeat{
		{forkReport("11111111000000000000000000000000"), refundRun("a", `{"amount":10}`)}, // the original's path, other ids
		{forkReport("22222222000000000000000000000000"), refundRun("b", "")},              // no refund
		{forkReport("33333333000000000000000000000000"), refundRun("c", "")},              // no refund, like 2
		{forkReport("44444444000000000000000000000000"), refundRun("d", `{"amount":10}`)}, // like 1
		{failing, refundRun("e", `{"amount":99}`)},                                        // refunds another amount, then fails
		{refused, escalating}, // asks for a tool it may not run live
	}
}

func TestCompareRepeatsSaysWhereEachRunLeaves(t *testing.T) {
	r := CompareRepeats(refundRun("o", `{"amount":10}`), repeatRuns())
	if r.OriginalTrace != "0123456789abcdef0123456789abcdef" || r.Fork == nil || r.Fork.Seq != 2 || len(r.Runs) != 6 {
		t.Fatalf("%+v", r)
	}
	want := []struct {
		from    string // FromOriginal, "" for none
		sameAs  int
		others  string // FromRepeats, "" for none
		outcome Outcome
	}{
		{"", 4, "", OutcomeOK},
		{"seq 3: -tool issue_refund", 3, "", OutcomeOK},
		{"seq 3: -tool issue_refund", 2, "", OutcomeOK},
		{"", 1, "", OutcomeOK},
		{"seq 3: tool issue_refund: request", 0, "seq 3: tool issue_refund: request", OutcomeError},
		{"seq 3: -tool issue_refund", 0, "seq 3: +tool escalate", OutcomeRefused},
	}
	for i, w := range want {
		run := r.Runs[i]
		from, others := "", ""
		if run.FromOriginal != nil {
			from = run.FromOriginal.String()
		}
		if run.FromRepeats != nil {
			others = run.FromRepeats.String()
		}
		if run.Repeat != i+1 || from != w.from || run.SameAs != w.sameAs || others != w.others || run.Outcome != w.outcome {
			t.Errorf("run %d: from original %q, same as %d, from others %q, outcome %s; want %q, %d, %q, %s",
				i+1, from, run.SameAs, others, run.Outcome, w.from, w.sameAs, w.others, w.outcome)
		}
	}
	// Run 6 follows run 2 (no refund) longest: it leaves it where it asks
	// for escalate, which run 2 never does.
	if d := r.Runs[5].FromRepeats; d == nil || d.Repeat != 2 || d.Op != EntryInserted {
		t.Errorf("run 6 from the others: %+v", d)
	}
	if r.Runs[5].Tools["escalate"] != 1 || r.Runs[1].Tools["issue_refund"] != 0 || r.Runs[0].Tools["lookup_order"] != 1 {
		t.Errorf("tool counts %v %v %v", r.Runs[5].Tools, r.Runs[1].Tools, r.Runs[0].Tools)
	}

	s := r.Summary
	if s.Runs != 6 || s.OriginalPath != 2 || s.Paths != 4 || s.OK != 4 || s.Errors != 1 || s.Refused != 1 || s.Diverged != 0 || s.Unfinished != 0 {
		t.Errorf("summary %+v", s)
	}
	wantLines := []string{
		"3 of 6 runs no longer call `issue_refund`",
		"1 of 6 runs now calls `escalate`",
		"2 of 6 runs take the original's path",
		"the 6 runs take 4 different paths",
		"4 of 6 runs end without an agent error",
		"1 of 6 runs ends with an agent error",
		"1 of 6 runs was stopped by a live call it was not allowed to make",
	}
	if strings.Join(s.Lines, "\n") != strings.Join(wantLines, "\n") {
		t.Errorf("summary lines:\n%s\nwant:\n%s", strings.Join(s.Lines, "\n"), strings.Join(wantLines, "\n"))
	}
	if got := fmt.Sprint(s.Tools); got != "[{lookup_order 1 6} {issue_refund 1 3} {escalate 0 1}]" {
		t.Errorf("tools %s", got)
	}
}

// What a live model varies every time (ids, wording) is not a departure;
// what the agent then does is.
func TestRepeatsIgnoreAnswersThatChangeNothing(t *testing.T) {
	r := CompareRepeats(refundRun("o", `{"amount":10}`), []Repeat{
		{forkReport("11111111000000000000000000000000"), refundRun("a", `{"amount":10}`)},
		{forkReport("22222222000000000000000000000000"), refundRun("b", `{"amount":10}`)},
	})
	for _, run := range r.Runs {
		if run.FromOriginal != nil || run.SameAs == 0 {
			t.Errorf("run %d: %+v", run.Repeat, run)
		}
	}
	if got := strings.Join(r.Summary.Lines, "\n"); got != "all 2 runs take the original's path\nall 2 runs end without an agent error" {
		t.Errorf("summary:\n%s", got)
	}
	one := CompareRepeats(refundRun("o", `{"amount":10}`), []Repeat{{forkReport("11111111000000000000000000000000"), refundRun("a", "")}})
	if run := one.Runs[0]; run.SameAs != 0 || run.FromRepeats != nil {
		t.Errorf("a single run has no other to compare with: %+v", run)
	}
	if got := strings.Join(one.Summary.Lines, "\n"); got != "1 of 1 runs no longer calls `issue_refund`\nno run takes the original's path\nthe run ends without an agent error" {
		t.Errorf("summary:\n%s", got)
	}
}

// A run killed during its live tail has no report end: it is unfinished,
// and its path is what it recorded.
func TestRepeatOfAKilledRun(t *testing.T) {
	rep := forkReport("11111111000000000000000000000000")
	rep.Finished = false
	r := CompareRepeats(refundRun("o", `{"amount":10}`), []Repeat{{rep, refundRun("a", "")[:2]}})
	if run := r.Runs[0]; run.Outcome != OutcomeUnfinished || run.FromOriginal == nil || run.FromOriginal.String() != "seq 2: -llm gpt" {
		t.Errorf("%+v (from %v)", run, run.FromOriginal)
	}
}

func TestRepeatsTable(t *testing.T) {
	r := CompareRepeats(refundRun("o", `{"amount":10}`), repeatRuns())
	out := writeTable(t, r)
	wantInTable(t, out,
		"fork of 0123456789abcdef0123456789abcdef at seq 2 (llm gpt), 6 runs\n",
		"RUN  TRACE ID  FROM ORIGINAL",
		"\n1    11111111  -  ",
		"\n2    22222222  seq 3: -tool issue_refund",
		"same as 3",
		"(vs 2)",
		"refused:",
		"agent error",
		"\n3 of 6 runs no longer call `issue_refund`\n",
	)
	for line := range strings.Lines(out) {
		if w := twwidth.Width(strings.TrimSuffix(line, "\n")); w > TableWidth {
			t.Errorf("line of %d columns: %q", w, line)
		}
	}
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back Repeats
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Runs) != 6 || back.Runs[1].FromOriginal.Op != EntryRemoved || back.Runs[1].FromOriginal.Seq != 3 || back.Summary.Tools[1].Runs != 3 {
		t.Errorf("JSON read back: %+v", back)
	}
	if !strings.Contains(b.String(), `"from_original": null`) {
		t.Errorf("a run on the original's path has from_original null:\n%s", b.String())
	}
}
