package analyze_test

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
)

// Report files come from the agent process of an out-of-process replay
// (AGENTRR_REPLAY_REPORT): outside bytes. ReadReport must fail with an
// error, never panic, on any input; what it accepts must print and must
// survive a write and a read back unchanged.
func FuzzReadReport(f *testing.F) {
	rep := &analyze.Report{
		OriginalTrace: "4bf92f3577b34da6a3ce929d0e0e4736", Mode: "strict", Recorded: 3, Served: 2, Halted: true,
		Divergences: []analyze.Divergence{{
			Seq: 2, Reason: analyze.ReasonSignature,
			ExpectedKind: boundary.KindLLM, ExpectedName: "m-1", ExpectedSignature: "aa",
			ObservedKind: boundary.KindLLM, ObservedName: "m-1", ObservedSignature: "bb",
			Diff:            analyze.DiffJSON([]byte(`{"p":"a","n":[1,2]}`), []byte(`{"p":"b","n":[1]}`)),
			ExpectedPreview: `{"p":"a"…`, ObservedPreview: `{"p":"b"…`,
		}},
	}
	var seed bytes.Buffer
	if err := rep.WriteJSON(&seed); err != nil {
		f.Fatal(err)
	}
	f.Add(seed.Bytes())
	var faithful bytes.Buffer
	(&analyze.Report{OriginalTrace: "x", Recorded: 1, Served: 1}).WriteJSON(&faithful)
	f.Add(faithful.Bytes())
	for _, s := range []string{``, `{}`, `{"verdict":"faithful"}`, `{"verdict":"diverged","divergences":[{}]}`, `[]`, `{"verdict":"faithful"} {}`, `{"verdict":"faithful","divergences":null}`, `{"verdict":"diverged","divergences":[{"seq":-1,"changes":[{"path":"\u0000"}]}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := analyze.ReadReport(bytes.NewReader(b))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "read replay report") {
				t.Errorf("error %q does not say what failed", err)
			}
			return
		}
		if rep.Divergences == nil {
			t.Error("Divergences is nil, want empty")
		}
		if err := rep.WriteTable(io.Discard); err != nil {
			t.Errorf("WriteTable of an accepted report: %v", err)
		}
		var out bytes.Buffer
		if err := rep.WriteJSON(&out); err != nil {
			t.Fatalf("WriteJSON of an accepted report: %v", err)
		}
		again, err := analyze.ReadReport(bytes.NewReader(out.Bytes()))
		if err != nil {
			t.Fatalf("a report written by WriteJSON does not read back: %v\n%s", err, out.Bytes())
		}
		var out2 bytes.Buffer
		again.WriteJSON(&out2)
		if !bytes.Equal(out.Bytes(), out2.Bytes()) {
			t.Fatalf("report changed on a round trip:\n%s\n%s", out.Bytes(), out2.Bytes())
		}
	})
}

// DiffJSON compares recorded payloads (from a store, an OTLP file, Jaeger)
// with what the agent sends: any bytes on either side.
func FuzzDiffJSON(f *testing.F) {
	for _, p := range [][2]string{
		{`{"messages":[{"role":"user","content":"a"}],"t":0.2}`, `{"messages":[{"role":"user","content":"b"},{"role":"x"}],"t":0.20}`},
		{`[1,2,3]`, `[1,3]`},
		{`null`, `{}`},
		{`"a"`, `not json`},
		{``, `{"a":1}`},
		{`{"a":{"b":{"c":[{"d":1e400}]}}}`, `{"a":{"b":{"c":[{"d":-0}]}}}`},
		{`{"a":1,"a":2}`, `{"a":2}`},
		{`{"k.y":1,"[0]":2,"":3}`, `{"k.y":2}`},
	} {
		f.Add([]byte(p[0]), []byte(p[1]))
	}
	// Found by this target: 10 KB of nested arrays took DiffJSON seconds
	// (go-cmp's cost grows with the square of the depth).
	deep := func(leaf string) []byte {
		return []byte(strings.Repeat("[", 5000) + leaf + strings.Repeat("]", 5000))
	}
	f.Add(deep("1"), deep("2"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		changes := analyze.DiffJSON(a, b)
		if bytes.Equal(bytes.TrimSpace(a), bytes.TrimSpace(b)) && len(changes) != 0 {
			t.Fatalf("DiffJSON of equal inputs reports %d changes: %+v", len(changes), changes)
		}
		if json.Valid(a) && json.Valid(b) && len(bytes.TrimSpace(a)) > 0 && len(bytes.TrimSpace(b)) > 0 {
			// The same document compared with itself never differs, and
			// the diff is symmetric in how many changes it finds.
			if self := analyze.DiffJSON(a, a); len(self) != 0 {
				t.Fatalf("DiffJSON(a, a) = %+v", self)
			}
			if back := analyze.DiffJSON(b, a); len(back) != len(changes) {
				t.Fatalf("DiffJSON(a, b) has %d changes, DiffJSON(b, a) %d", len(changes), len(back))
			}
		}
		for _, c := range changes {
			switch c.Op {
			case analyze.OpChanged, analyze.OpAdded, analyze.OpRemoved:
			default:
				t.Fatalf("change %+v has op %q", c, c.Op)
			}
		}
		_ = analyze.Preview(a, 40)
		_ = analyze.Preview(b, 0)
	})
}

// Documents nested too deeply to compare path by path are compared whole.
func TestDiffJSONDeepDocumentsComparedWhole(t *testing.T) {
	a := strings.Repeat(`{"a":[`, 100) + "1" + strings.Repeat("]}", 100)
	b := strings.Repeat(`{"a":[`, 100) + "2" + strings.Repeat("]}", 100)
	got := analyze.DiffJSON([]byte(a), []byte(b))
	if len(got) != 1 || got[0].Path != "" || got[0].Op != analyze.OpChanged {
		t.Errorf("DiffJSON of two 200-level documents = %+v, want one change at the root", got)
	}
	if got := analyze.DiffJSON([]byte(a), []byte(" "+a)); got != nil {
		t.Errorf("equal deep documents differ: %+v", got)
	}
}
