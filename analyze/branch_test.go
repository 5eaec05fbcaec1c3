package analyze

import (
	"strings"
	"testing"

	"github.com/agentrr/agentrr/boundary"
)

// fanOut is a recording of a fan-out: two branches of searches, completed
// in the order given, then the root's summary. order lists the branches in
// completion order; edit changes the query of one branch.
func fanOut(order []string, edit string) []boundary.Record {
	var out []boundary.Record
	next := map[string]int64{}
	for i, br := range order {
		q := br
		if br == edit {
			q += "!"
		}
		r := rec(int64(i), boundary.KindTool, "search", `{"q":"`+q+`"}`, `"hit"`, "")
		r.Branch, r.Index = br, next[br]
		next[br]++
		out = append(out, r)
	}
	s := rec(int64(len(order)), boundary.KindLLM, "summary", `{}`, `"done"`, "")
	return append(out, s)
}

// Runs with branches are aligned branch by branch: another completion
// order is no difference; a changed branch is named.
func TestCompareAlignsPerBranch(t *testing.T) {
	a := fanOut([]string{"x", "y", "x", "y"}, "")
	b := fanOut([]string{"y", "y", "x", "x"}, "")
	c := Compare(a, b)
	if !c.Identical() || !c.Branched || c.Matched != 5 {
		t.Fatalf("same branches in another completion order: %s", ops(c))
	}
	c = Compare(a, fanOut([]string{"y", "x", "y", "x"}, "y"))
	if c.Identical() || c.Changed != 2 || c.Matched != 3 {
		t.Fatalf("edited branch y: %s", ops(c))
	}
	first := c.First()
	if first.Branch != "y" || first.IndexA != 0 || first.SeqA != 1 {
		t.Errorf("first divergence %+v, want y[0] (a seq 1)", first)
	}
}

// The divergence table of a branched replay has a BRANCH column naming the
// branch and index; the diff lines name them too.
func TestDivergenceTableNamesBranches(t *testing.T) {
	r := &Report{
		OriginalTrace: "0123456789abcdef0123456789abcdef", Mode: "strict", Recorded: 5, Requested: 2, Served: 1, Halted: true, Branched: true,
		Divergences: []Divergence{{
			Seq: 3, Branch: "call_2", Index: 1, Reason: ReasonSignature,
			ExpectedKind: boundary.KindTool, ExpectedName: "search", ObservedKind: boundary.KindTool, ObservedName: "search",
			ExpectedSignature: strings.Repeat("a", 64), ObservedSignature: strings.Repeat("b", 64),
			Diff: []Change{{Path: "q", Op: OpChanged, Expected: `"y"`, Observed: `"y!"`}},
		}},
	}
	wantInTable(t, writeTable(t, r),
		"halted at seq 3 (branch call_2[1])",
		"SEQ  BRANCH     KIND  NAME    EXPECTED",
		"3    call_2[1]  tool  search  aaaaaaaaaaaa",
		`seq 3 (branch call_2[1]) tool search: q: "y" → "y!"`,
	)
}
