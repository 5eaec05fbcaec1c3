package analyze

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/olekukonko/tablewriter/pkg/twwidth"

	"github.com/agentrr/agentrr/boundary"
)

// rec builds a boundary record; resp "" with errText set makes a failed call.
func rec(seq int64, kind boundary.Kind, name, req, resp, errText string) boundary.Record {
	r := boundary.Record{Seq: seq, Kind: kind, Name: name, Request: []byte(req), Signature: boundary.Signature(kind, name, []byte(req))}
	if errText != "" {
		r.Failed, r.Error = true, errText
	} else {
		r.Response = []byte(resp)
	}
	return r
}

// supportRun is the boundary sequence of a small support agent; prompt is
// its system prompt.
func supportRun(prompt string) []boundary.Record {
	return []boundary.Record{
		rec(0, boundary.KindID, "new_id", `{}`, `"7f9c"`, ""),
		rec(1, boundary.KindClock, "now", `{}`, `"2025-01-01T00:00:00Z"`, ""),
		rec(2, boundary.KindLLM, "fake-gpt", `{"messages":[{"content":"`+prompt+`","role":"system"}]}`, `{"tool_call":{"name":"lookup_order"}}`, ""),
		rec(3, boundary.KindTool, "lookup_order", `{"order_id":"A-1"}`, `"delayed"`, ""),
		rec(4, boundary.KindLLM, "fake-gpt", `{"messages":[{"content":"`+prompt+`","role":"system"},{"content":"delayed","role":"tool"}]}`, `{"content":"It is late."}`, ""),
		rec(5, boundary.KindRand, "seed", `{}`, `42`, ""),
	}
}

func ops(c *Comparison) string {
	var b strings.Builder
	for _, e := range c.Entries {
		fmt.Fprintf(&b, "%d/%d:%s ", e.SeqA, e.SeqB, e.Op)
	}
	return strings.TrimSpace(b.String())
}

func TestCompareIdentical(t *testing.T) {
	c := Compare(supportRun("helpful"), supportRun("helpful"))
	if !c.Identical() || c.First() != nil || c.Matched != 6 || c.Changed+c.Inserted+c.Removed != 0 {
		t.Fatalf("identical runs: %s (first %d)", ops(c), c.FirstDivergence)
	}
	if c.LenA != 6 || c.LenB != 6 {
		t.Errorf("lengths %d, %d; want 6, 6", c.LenA, c.LenB)
	}
}

func TestCompareEditedPrompt(t *testing.T) {
	c := Compare(supportRun("You are helpful."), supportRun("You are terse."))
	if got, want := ops(c), "0/0:matched 1/1:matched 2/2:changed 3/3:matched 4/4:changed 5/5:matched"; got != want {
		t.Fatalf("alignment\n got %s\nwant %s", got, want)
	}
	if c.Identical() || c.FirstDivergence != 2 {
		t.Fatalf("first divergence at entry %d, want 2", c.FirstDivergence)
	}
	first := c.First()
	if !cmp.Equal(first.Differs, []string{DiffersRequest}) {
		t.Errorf("differs %v, want [request] (same response)", first.Differs)
	}
	want := []Change{{Path: "messages[0].content", Op: OpChanged, Expected: `"You are helpful."`, Observed: `"You are terse."`}}
	if diff := cmp.Diff(want, first.RequestDiff); diff != "" {
		t.Errorf("request diff (-want +got):\n%s", diff)
	}
	if first.ResponseDiff != nil || first.SignatureA == first.SignatureB {
		t.Errorf("response diff %v, signatures %s %s", first.ResponseDiff, first.SignatureA, first.SignatureB)
	}
}

// One inserted boundary must not make every later boundary "changed".
func TestCompareInsertedBoundary(t *testing.T) {
	a := supportRun("p")
	b := append([]boundary.Record{}, a[:3]...)
	b = append(b, rec(3, boundary.KindTool, "refund_policy", `{}`, `"free shipping"`, ""))
	for _, r := range a[3:] {
		r.Seq++
		b = append(b, r)
	}
	c := Compare(a, b)
	if got, want := ops(c), "0/0:matched 1/1:matched 2/2:matched -1/3:inserted 3/4:matched 4/5:matched 5/6:matched"; got != want {
		t.Fatalf("alignment\n got %s\nwant %s", got, want)
	}
	if c.Inserted != 1 || c.Matched != 6 || c.FirstDivergence != 3 || c.First().Name != "refund_policy" {
		t.Errorf("counts %d inserted %d matched, first %d", c.Inserted, c.Matched, c.FirstDivergence)
	}

	// And the mirror image: a removed boundary.
	c = Compare(b, a)
	if got, want := ops(c), "0/0:matched 1/1:matched 2/2:matched 3/-1:removed 4/3:matched 5/4:matched 6/5:matched"; got != want {
		t.Fatalf("mirror alignment\n got %s\nwant %s", got, want)
	}
}

// A strict replay halted by a divergence: the diverged boundary failed and
// the rest of the recording was never requested.
func TestCompareHaltedReplay(t *testing.T) {
	a := supportRun("helpful")
	b := supportRun("terse")[:3]
	b[2] = rec(2, boundary.KindLLM, "fake-gpt", string(b[2].Request), "", "replay diverged at seq 2")
	c := Compare(a, b)
	if got, want := ops(c), "0/0:matched 1/1:matched 2/2:changed 3/-1:removed 4/-1:removed 5/-1:removed"; got != want {
		t.Fatalf("alignment\n got %s\nwant %s", got, want)
	}
	first := c.First()
	if !cmp.Equal(first.Differs, []string{DiffersRequest, DiffersResponse, DiffersError}) {
		t.Errorf("differs %v, want request, response, error", first.Differs)
	}
	if len(first.ResponseDiff) != 1 || first.ResponseDiff[0].Op != OpRemoved || first.ResponseDiff[0].Path != "" {
		t.Errorf("response diff %+v, want the whole response removed", first.ResponseDiff)
	}
	if first.ErrorA != "" || first.ErrorB != "replay diverged at seq 2" {
		t.Errorf("errors %q, %q", first.ErrorA, first.ErrorB)
	}
	if c.Matched != 2 || c.Changed != 1 || c.Removed != 3 || c.Inserted != 0 {
		t.Errorf("counts m%d c%d i%d r%d", c.Matched, c.Changed, c.Inserted, c.Removed)
	}
}

// A different tool at the same position is a removal and an insertion,
// never a change: only kind and name pair boundaries.
func TestCompareOtherToolAtSamePosition(t *testing.T) {
	a := supportRun("p")
	b := supportRun("p")
	b[3] = rec(3, boundary.KindTool, "refund_policy", `{"order_id":"A-1"}`, `"delayed"`, "")
	c := Compare(a, b)
	if got, want := ops(c), "0/0:matched 1/1:matched 2/2:matched 3/-1:removed -1/3:inserted 4/4:matched 5/5:matched"; got != want {
		t.Fatalf("alignment\n got %s\nwant %s", got, want)
	}
}

// Two production runs read different clocks: a changed response alone.
func TestCompareResponseOnly(t *testing.T) {
	a, b := supportRun("p"), supportRun("p")
	b[1].Response = []byte(`"2025-01-02T00:00:00Z"`)
	c := Compare(a, b)
	e := c.First()
	if e == nil || e.SeqA != 1 || e.Op != EntryChanged || !cmp.Equal(e.Differs, []string{DiffersResponse}) {
		t.Fatalf("first divergence %+v, want the clock read's response", e)
	}
	if e.RequestDiff != nil || len(e.ResponseDiff) != 1 || e.ResponseDiff[0].Observed != `"2025-01-02T00:00:00Z"` {
		t.Errorf("diffs: request %v, response %v", e.RequestDiff, e.ResponseDiff)
	}
}

func TestCompareEmpty(t *testing.T) {
	if c := Compare(nil, nil); !c.Identical() || len(c.Entries) != 0 {
		t.Errorf("two empty runs: %s", ops(c))
	}
	c := Compare(nil, supportRun("p")[:2])
	if ops(c) != "-1/0:inserted -1/1:inserted" || c.FirstDivergence != 0 {
		t.Errorf("empty a: %s", ops(c))
	}
	c = Compare(supportRun("p")[:2], nil)
	if ops(c) != "0/-1:removed 1/-1:removed" {
		t.Errorf("empty b: %s", ops(c))
	}
}

// checkCovers fails unless c lists every boundary of a and of b exactly
// once, in seq order on each side, with pairs of equal kind and name.
func checkCovers(t *testing.T, c *Comparison, a, b []boundary.Record) (pairs int) {
	t.Helper()
	var nextA, nextB int64
	for _, e := range c.Entries {
		if e.SeqA >= 0 {
			if e.SeqA != nextA {
				t.Fatalf("seq_a %d out of order (want %d): %s", e.SeqA, nextA, ops(c))
			}
			nextA++
		}
		if e.SeqB >= 0 {
			if e.SeqB != nextB {
				t.Fatalf("seq_b %d out of order (want %d): %s", e.SeqB, nextB, ops(c))
			}
			nextB++
		}
		if e.SeqA >= 0 && e.SeqB >= 0 {
			if keyOf(&a[e.SeqA]) != keyOf(&b[e.SeqB]) {
				t.Fatalf("paired %d/%d of different kind or name", e.SeqA, e.SeqB)
			}
			pairs++
		}
	}
	if nextA != int64(len(a)) || nextB != int64(len(b)) {
		t.Fatalf("covered %d of %d and %d of %d boundaries", nextA, len(a), nextB, len(b))
	}
	return pairs
}

// lcs is the length of a longest common subsequence of the kinds+names,
// computed naively, to check the alignment is optimal.
func lcs(a, b []boundary.Record) int {
	memo := map[[2]int]int{}
	var f func(i, j int) int
	f = func(i, j int) int {
		if i == len(a) || j == len(b) {
			return 0
		}
		if v, ok := memo[[2]int{i, j}]; ok {
			return v
		}
		v := max(f(i+1, j), f(i, j+1))
		if keyOf(&a[i]) == keyOf(&b[j]) {
			v = max(v, 1+f(i+1, j+1))
		}
		memo[[2]int{i, j}] = v
		return v
	}
	return f(0, 0)
}

func randomRun(r *rand.Rand, n int) []boundary.Record {
	tools := []string{"a", "b", "c"}
	out := make([]boundary.Record, n)
	for i := range out {
		out[i] = rec(int64(i), boundary.KindTool, tools[r.IntN(len(tools))], fmt.Sprintf(`{"x":%d}`, r.IntN(2)), `1`, "")
	}
	return out
}

func TestCompareAlignmentIsOptimal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		a, b := randomRun(r, r.IntN(12)), randomRun(r, r.IntN(12))
		c := Compare(a, b)
		pairs := checkCovers(t, c, a, b)
		if want := lcs(a, b); pairs != want {
			t.Fatalf("paired %d boundaries, the longest common subsequence has %d: %s", pairs, want, ops(c))
		}
		if c.Matched+c.Changed != pairs || c.Inserted != len(b)-pairs || c.Removed != len(a)-pairs || c.Approximate {
			t.Fatalf("counts m%d c%d i%d r%d for %d pairs", c.Matched, c.Changed, c.Inserted, c.Removed, pairs)
		}
	}
}

func TestCompareTooLongToAlignIsApproximate(t *testing.T) {
	n := 2100 // 2100*2100 > MaxAlignCells
	a := make([]boundary.Record, n)
	b := make([]boundary.Record, n+1)
	for i := range a {
		a[i] = rec(int64(i), boundary.KindTool, fmt.Sprint("t", i%7), `{}`, `1`, "")
	}
	b[0] = rec(0, boundary.KindClock, "now", `{}`, `1`, "")
	for i := range a {
		b[i+1] = a[i]
		b[i+1].Seq = int64(i + 1)
	}
	b[n] = rec(int64(n), boundary.KindClock, "now", `{}`, `1`, "") // a different last boundary: no common suffix
	a[n-1] = rec(int64(n-1), boundary.KindRand, "seed", `{}`, `1`, "")
	c := Compare(a, b)
	if !c.Approximate {
		t.Fatal("a 2100x2101 difference was aligned exactly; want the positional fallback")
	}
	checkCovers(t, c, a, b)
}

func TestWriteChanges(t *testing.T) {
	var buf bytes.Buffer
	changes := DiffJSON(
		[]byte(`{"messages":[{"content":"You are helpful.","role":"system"}],"temperature":0.7}`),
		[]byte(`{"messages":[{"content":"You are terse.","role":"system"}],"tools":["refund"]}`))
	if err := WriteChanges(&buf, "  ", changes); err != nil {
		t.Fatal(err)
	}
	want := `  messages[0].content: "You are helpful." → "You are terse."
  - temperature: 0.7
  + tools: ["refund"]
`
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("WriteChanges (-want +got):\n%s", diff)
	}
	// Long values are cut around their first difference to fit 80 columns.
	buf.Reset()
	long := strings.Repeat("You are a support agent for Acme. ", 4)
	changes = DiffJSON([]byte(`{"p":"`+long+`Be helpful."}`), []byte(`{"p":"`+long+`Be terse."}`))
	if err := WriteChanges(&buf, "    ", changes); err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSuffix(buf.String(), "\n")
	if w := twwidth.Width(line); w > TableWidth || !strings.Contains(line, "Be helpful") || !strings.Contains(line, "Be terse") {
		t.Errorf("long change written in %d columns, or without the difference:\n%s", w, line)
	}

	buf.Reset()
	if err := WriteChangesAt(&buf, "", "response", DiffJSON([]byte(`{"a":1}`), nil)); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != "- response: {\"a\":1}\n" {
		t.Errorf("root change written %q", got)
	}
}

// BenchmarkCompare aligns two 2000-boundary runs that share nothing at
// either end: the worst case below MaxAlignCells.
func BenchmarkCompare(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	x, y := randomRun(r, 2000), randomRun(r, 2000)
	x[0].Kind, y[len(y)-1].Kind = boundary.KindClock, boundary.KindRand
	b.ReportAllocs()
	for b.Loop() {
		Compare(x, y)
	}
}
