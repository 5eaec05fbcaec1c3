package diff

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/cmdutil/cmdtest"
)

func diff(t *testing.T, dir, a, b string, jsonOut bool) (string, int) {
	t.Helper()
	streams, stdout, _ := cmdtest.Streams()
	err := runDiff(&Options{IO: streams, Store: cmdtest.StoreFunc(dir), A: a, B: b, JSON: jsonOut})
	if err != nil && cmdutil.Code(err) != cmdutil.ExitDiverged {
		t.Fatalf("diff %s %s: %v", a, b, err)
	}
	return stdout.String(), cmdutil.Code(err)
}

func TestDiffOriginalAndDivergedReplay(t *testing.T) {
	dir, id := cmdtest.StoreWithRun(t, "You are a helpful support agent.")
	replay, _ := cmdtest.Replay(t, dir, id, cmdtest.Agent("You are a terse support agent."))

	out, code := diff(t, dir, id[:8], replay[:8], false)
	if code != cmdutil.ExitDiverged {
		t.Errorf("exit %d, want 1 (the runs differ)", code)
	}
	cmdtest.CheckWidth(t, out)
	cmdtest.CheckContains(t, out,
		"a: "+id+" (support)\n   7 boundaries, complete\n",
		"b: "+replay+" (support)\n   3 boundaries, complete, replay of a: diverged\n",
		"first divergence: a seq 2, b seq 2, llm fake-gpt: changed\n",
		"  request:\n    messages[0].content: \"You are a helpful suppor… → \"You are a terse support …\n",
		"  response:\n    - response: {",
		"  error in b: agentrr: replay diverged at seq 2",
		"MATCHED  CHANGED  INSERTED  REMOVED\n2        1        0         4\n",
	)
	var rows []string
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) >= 5 && isSeq(f[0]) && isSeq(f[1]) {
			rows = append(rows, strings.Join(f, " "))
		}
	}
	want := []string{
		"0 0 id uuid matched", "1 1 clock now matched", "2 2 llm fake-gpt changed request, response, error",
		"3 - tool lookup_order removed", "4 - tool lookup_order removed", "5 - rand seed removed", "6 - llm fake-gpt removed",
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("alignment rows:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
}

func TestDiffFaithfulReplayIsIdentical(t *testing.T) {
	dir, id := cmdtest.StoreWithRun(t, "p")
	replay, rep := cmdtest.Replay(t, dir, id, cmdtest.Agent("p"))
	if !rep.Faithful() {
		t.Fatalf("replay diverged: %+v", rep.Divergences)
	}
	out, code := diff(t, dir, id, replay, false)
	if code != 0 || !strings.Contains(out, "the runs are identical: 7 boundaries matched") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

// Two independent recordings differ in their clock reads, ids and seeds:
// changed responses with the same requests.
func TestDiffTwoRecordingsJSON(t *testing.T) {
	dir := t.TempDir()
	a := cmdtest.Record(t, dir, "support", cmdtest.Agent("p"))
	b := cmdtest.Record(t, dir, "support", cmdtest.Agent("p"))
	out, code := diff(t, dir, a, b, true)
	if code != cmdutil.ExitDiverged {
		t.Errorf("exit %d, want 1", code)
	}
	var doc struct {
		A, B struct {
			TraceID    string `json:"trace_id"`
			Boundaries int    `json:"boundaries"`
		}
		Identical       bool `json:"identical"`
		Matched         int  `json:"matched"`
		Changed         int  `json:"changed"`
		FirstDivergence int  `json:"first_divergence"`
		Entries         []struct {
			Op           string   `json:"op"`
			SeqA         int64    `json:"seq_a"`
			SeqB         int64    `json:"seq_b"`
			Kind         string   `json:"kind"`
			Differs      []string `json:"differs"`
			RequestDiff  []any    `json:"request_diff"`
			ResponseDiff []any    `json:"response_diff"`
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if doc.A.TraceID != a || doc.B.TraceID != b || doc.Identical || len(doc.Entries) != 7 || doc.FirstDivergence != 0 {
		t.Fatalf("doc: %+v", doc)
	}
	for _, e := range doc.Entries {
		changed := e.Kind == "id" || e.Kind == "clock" || e.Kind == "rand"
		if changed != (e.Op == "changed") || e.SeqA != e.SeqB {
			t.Errorf("seq %d (%s): %s", e.SeqA, e.Kind, e.Op)
		}
		if changed && (len(e.Differs) != 1 || e.Differs[0] != "response" || len(e.ResponseDiff) == 0 || e.RequestDiff != nil) {
			t.Errorf("seq %d (%s): differs %v, request diff %v", e.SeqA, e.Kind, e.Differs, e.RequestDiff)
		}
	}
}

func TestDiffUnknownRun(t *testing.T) {
	dir, id := cmdtest.StoreWithRun(t, "p")
	streams, _, _ := cmdtest.Streams()
	err := runDiff(&Options{IO: streams, Store: cmdtest.StoreFunc(dir), A: id, B: "ffff"})
	if cmdutil.Code(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), "agentrr runs") {
		t.Errorf("diff with an unknown run: %v (exit %d)", err, cmdutil.Code(err))
	}
}

func isSeq(s string) bool {
	if s == "-" {
		return true
	}
	for _, c := range s {
		if (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return s != ""
}
