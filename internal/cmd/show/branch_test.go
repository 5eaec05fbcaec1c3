package show

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/cmdutil/cmdtest"
	"github.com/agentrr/agentrr/spanlog"
)

// A run with branches shows each boundary's branch and index, in the order
// the boundaries completed; its JSON names them too.
func TestShowBranches(t *testing.T) {
	dir, store := cmdtest.EmptyStore(t)
	search := func(branch, q string) cmdtest.Boundary {
		return cmdtest.Boundary{Kind: boundary.KindTool, Name: "search", Branch: branch, Request: map[string]string{"q": q}, Response: "hit"}
	}
	bs := []cmdtest.Boundary{
		search("call_2", "b"), search("call_1", "a"), search("call_1/page", "a1"),
		{Kind: boundary.KindLLM, Name: "summary", Request: "sum", Response: "done"},
	}
	id := cmdtest.AddRun(t, store, spanlog.RunMeta{Name: "fanout"}, bs, &spanlog.RunEnd{})
	out, err := show(t, dir, id, false)
	if err != nil {
		t.Fatal(err)
	}
	cmdtest.CheckWidth(t, out)
	if got := field(out, "boundaries"); got != "4 boundaries on 4 branches" {
		t.Errorf("boundaries: %q", got)
	}
	var rows [][]string
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) > 2 && f[0] >= "0" && f[0] <= "9" {
			rows = append(rows, f[:4])
		}
	}
	want := [][]string{
		{"0", "call_2[0]", "tool", "search"},
		{"1", "call_1[0]", "tool", "search"},
		{"2", "call_1/page[0]", "tool", "search"},
		{"3", "(root)[0]", "llm", "summary"},
	}
	if len(rows) != len(want) {
		t.Fatalf("rows %v:\n%s", rows, out)
	}
	for i := range want {
		if strings.Join(rows[i], " ") != strings.Join(want[i], " ") {
			t.Errorf("row %d: %v, want %v", i, rows[i], want[i])
		}
	}

	out, err = show(t, dir, id, true)
	if err != nil {
		t.Fatal(err)
	}
	var doc Output
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if b := doc.Boundaries[2]; b.Branch != "call_1/page" || b.Index != 0 {
		t.Errorf("JSON boundary 2: branch %q index %d", b.Branch, b.Index)
	}
	if b := doc.Boundaries[3]; b.Branch != "" || b.Index != 0 {
		t.Errorf("JSON boundary 3: branch %q index %d", b.Branch, b.Index)
	}
}
