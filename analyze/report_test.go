package analyze

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/olekukonko/tablewriter/pkg/twwidth"
)

const (
	testTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	testReplay = "0af7651916cd43dd8448eb211c80319c"
	sigA       = "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b"
	sigB       = "9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e"
)

// divergedReport is a strict replay halted by an edited system prompt.
func divergedReport() *Report {
	return &Report{
		OriginalTrace: testTrace,
		ReplayTrace:   testReplay,
		Mode:          "strict",
		Recorded:      9,
		Requested:     4,
		Served:        3,
		Halted:        true,
		Divergences: []Divergence{{
			Seq:               3,
			Reason:            ReasonSignature,
			ExpectedKind:      "llm",
			ExpectedName:      "fake-gpt",
			ExpectedSignature: sigA,
			ObservedKind:      "llm",
			ObservedName:      "fake-gpt",
			ObservedSignature: sigB,
			Diff: DiffJSON(
				[]byte(`{"messages":[{"role":"system","content":"You are a helpful assistant."}],"model":"fake-gpt","temperature":0.7}`),
				[]byte(`{"messages":[{"role":"system","content":"You are a terse assistant."}],"model":"fake-gpt","tools":[{"name":"refund"}]}`)),
			ExpectedPreview: `{"messages":[{"role":"system","content":"You are a helpful assistant."}],…`,
			ObservedPreview: `{"messages":[{"role":"system","content":"You are a terse assistant."}],…`,
		}},
	}
}

// tableWriter is what writes a table for people: a Report, Repeats.
type tableWriter interface{ WriteTable(io.Writer) error }

func writeTable(t *testing.T, r tableWriter) string {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WriteTable(&buf); err != nil {
		t.Fatalf("WriteTable: %v", err)
	}
	return buf.String()
}

// wantInTable fails t for each of wants that the table out does not hold.
func wantInTable(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteTableDiverged(t *testing.T) {
	out := writeTable(t, divergedReport())
	t.Logf("WriteTable output:\n%s", out)

	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	wantSummary := "replay of " + testTrace + " (strict): diverged — 1 divergence, 3 of 9 boundaries served (4 requested), halted at seq 3"
	if lines[0] != wantSummary {
		t.Errorf("summary line =\n\t%q\nwant\n\t%q", lines[0], wantSummary)
	}
	if !strings.Contains(out, "trace "+testReplay) {
		t.Errorf("output does not name the replay trace %s", testReplay)
	}
	// The WHAT DIFFERS cell wraps to keep the table in 80 columns, keeping
	// "and 2 more" together.
	for _, want := range []string{
		"SEQ  KIND  NAME      EXPECTED      OBSERVED      WHAT DIFFERS",
		"3    llm   fake-gpt  1a2b3c4d5e6f  9f8e7d6c5b4a  messages[0].content changed",
		"                                                 and 2 more",
		`  seq 3 llm fake-gpt: messages[0].content: "You are a helpful assistant." → "You are a terse assistant."`,
		"  seq 3 llm fake-gpt: - temperature: 0.7",
		`  seq 3 llm fake-gpt: + tools: [{"name":"refund"}]`,
	} {
		if !containsLine(lines, want) {
			t.Errorf("output has no line %q", want)
		}
	}
	checkWidth(t, out)
}

func TestWriteTableFaithful(t *testing.T) {
	r := &Report{OriginalTrace: testTrace, Mode: "observe", Recorded: 9, Requested: 9, Served: 9, Finished: true}
	out := writeTable(t, r)
	want := "replay of " + testTrace + " (observe): faithful — 9 of 9 boundaries served\n"
	if out != want {
		t.Errorf("WriteTable =\n%q\nwant\n%q", out, want)
	}
}

func TestWriteTableEveryReason(t *testing.T) {
	r := &Report{
		OriginalTrace:      testTrace,
		Mode:               "observe",
		Recorded:           7,
		RecordingTruncated: true,
		Requested:          8,
		Served:             3,
		AgentError:         "lookup_order: connection refused",
		Divergences: []Divergence{
			{Seq: 3, Reason: ReasonKind, ExpectedKind: "tool", ExpectedName: "lookup_order", ExpectedSignature: sigA,
				ObservedKind: "clock", ObservedName: "now", ObservedSignature: sigB},
			{Seq: 4, Reason: ReasonSignature, ExpectedKind: "tool", ExpectedName: "lookup_order_by_customer_email_address",
				ExpectedSignature: sigA, ObservedKind: "tool", ObservedName: "lookup_order_by_customer_email_address", ObservedSignature: sigB,
				Diff: DiffJSON([]byte(`{"email":"a@example.com"}`), []byte(`{"email":"b@example.com"}`))},
			{Seq: 5, Reason: ReasonMissing, ExpectedKind: "llm", ExpectedName: "fake-gpt", ExpectedSignature: sigA, Count: 2},
			{Seq: 7, Reason: ReasonTruncated, ObservedKind: "rand", ObservedName: "float64", ObservedSignature: sigB},
			{Seq: 8, Reason: ReasonExtra, ObservedKind: "id", ObservedName: "uuid", ObservedSignature: sigB},
		},
	}
	out := writeTable(t, r)
	t.Logf("WriteTable output:\n%s", out)

	// Phrases of the WHAT DIFFERS column may be wrapped: look for them with
	// the table's white space folded.
	folded := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{
		"(observe): diverged — 5 divergences, 3 of 7 boundaries served (8 requested)",
		"recording is truncated",
		"lookup_order: connection refused",
		"expected tool lookup_order, got clock now",
		"email changed",
		"2 recorded boundaries never requested",
		"recording ends at seq 6 (recorder was killed)",
		"boundary past the end of the recording",
		`seq 4 tool lookup_order_by_customer_email_address: email: "a@example.com" → "b@example.com"`,
	} {
		if !strings.Contains(folded, want) {
			t.Errorf("output does not say %q", want)
		}
	}
	if strings.Contains(out, "halted") {
		t.Errorf("output says halted for a run that was not")
	}
	// Only signature divergences get diff lines.
	if n := strings.Count(out, "  seq "); n != 1 {
		t.Errorf("output has %d diff lines, want 1", n)
	}
	checkWidth(t, out)
}

func TestWriteTableCutsLongCells(t *testing.T) {
	name := strings.Repeat("very-long-model-name-", 5)
	r := &Report{
		OriginalTrace: testTrace, Mode: "strict", Recorded: 2, Requested: 1, Served: 0, Halted: true,
		Divergences: []Divergence{{
			Seq: 0, Reason: ReasonSignature,
			ExpectedKind: "llm", ExpectedName: name, ExpectedSignature: sigA,
			ObservedKind: "llm", ObservedName: name, ObservedSignature: sigB,
			Diff: []Change{{Path: "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z", Op: OpChanged, Expected: "1", Observed: "2"}},
		}},
	}
	out := writeTable(t, r)
	t.Logf("WriteTable output:\n%s", out)
	if !strings.Contains(out, "very-lo…") {
		t.Errorf("long name not cut with …")
	}
	checkWidth(t, out)
}

// checkWidth checks that the table lines of a WriteTable output fit in
// TableWidth columns.
func checkWidth(t *testing.T, out string) {
	t.Helper()
	inTable := false
	for line := range strings.Lines(out) {
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "SEQ "):
			inTable = true
		case line == "":
			inTable = false
		}
		if inTable && twwidth.Width(line) > TableWidth {
			t.Errorf("table line is %d columns wide, want at most %d:\n%s", twwidth.Width(line), TableWidth, line)
		}
		if strings.HasSuffix(line, " ") {
			t.Errorf("line has trailing blanks: %q", line)
		}
	}
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func TestWriteJSONReadReportRoundTrip(t *testing.T) {
	for _, r := range []*Report{
		divergedReport(),
		{OriginalTrace: testTrace, Mode: "observe", Recorded: 2, Requested: 2, Served: 2, Finished: true},
		{OriginalTrace: testTrace, Mode: "strict", Divergences: []Divergence{}, AgentError: "boom <&>"},
	} {
		var buf bytes.Buffer
		if err := r.WriteJSON(&buf); err != nil {
			t.Fatalf("WriteJSON: %v", err)
		}
		var fields map[string]any
		if err := json.Unmarshal(buf.Bytes(), &fields); err != nil {
			t.Fatalf("WriteJSON wrote invalid JSON: %v\n%s", err, buf.String())
		}
		if fields["verdict"] != r.Verdict() {
			t.Errorf(`"verdict" = %v, want %q`, fields["verdict"], r.Verdict())
		}
		if _, ok := fields["divergences"].([]any); !ok {
			t.Errorf(`"divergences" = %#v, want an array`, fields["divergences"])
		}
		got, err := ReadReport(&buf)
		if err != nil {
			t.Fatalf("ReadReport: %v", err)
		}
		if diff := cmp.Diff(r, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("round trip mismatch (-written +read):\n%s", diff)
		}
		if got.Divergences == nil {
			t.Errorf("ReadReport: Divergences is nil, want empty")
		}
	}
}

func TestWriteJSONShape(t *testing.T) {
	r := &Report{OriginalTrace: testTrace, Mode: "strict", Recorded: 1, Requested: 1, Served: 1, Finished: true}
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatalf("WriteJSON: %v", err)
	}
	out := buf.String()
	if !strings.HasPrefix(out, "{\n  \"verdict\": \"faithful\",\n") {
		t.Errorf("WriteJSON does not start with the verdict:\n%s", out)
	}
	if !strings.Contains(out, `"divergences": []`) {
		t.Errorf("WriteJSON does not encode no divergences as []:\n%s", out)
	}
	if strings.Contains(out, "null") {
		t.Errorf("WriteJSON wrote a null:\n%s", out)
	}
	if r.Divergences != nil {
		t.Errorf("WriteJSON modified the report")
	}
	if !strings.HasSuffix(out, "}\n") {
		t.Errorf("WriteJSON output does not end with a newline")
	}
}

func TestReadReportErrors(t *testing.T) {
	tests := []struct {
		name, input, wantErr string
	}{
		{"empty", "", "empty input"},
		{"white space", " \n ", "empty input"},
		{"not JSON", "replay of …", "invalid character"},
		{"cut short", `{"verdict":"faithful","mode":"strict"`, "unexpected EOF"},
		{"array", `[]`, "want a JSON object"},
		{"trailing data", `{"verdict":"faithful","divergences":[]} {}`, "after the report object"},
		{"no verdict", `{"mode":"strict","divergences":[]}`, `no "verdict" field`},
		{"unknown verdict", `{"verdict":"maybe","divergences":[]}`, `unknown verdict "maybe"`},
		{"verdict disagrees", `{"verdict":"faithful","divergences":[{"seq":1,"reason":"extra-boundary"}]}`, "verdict is \"faithful\" but the report lists 1 divergences"},
		{"wrong type", `{"verdict":"faithful","recorded":"nine"}`, "recorded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ReadReport(strings.NewReader(tt.input))
			if err == nil {
				t.Fatalf("ReadReport(%q) = %+v, want an error", tt.input, r)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "read replay report: ") {
				t.Errorf("ReadReport(%q) error = %q, want it to start with \"read replay report: \" and mention %q", tt.input, err, tt.wantErr)
			}
		})
	}
}

func TestReadReportIgnoresUnknownFields(t *testing.T) {
	r, err := ReadReport(strings.NewReader(`{"verdict":"faithful","mode":"strict","recorded":2,"future_field":{"x":1}}`))
	if err != nil {
		t.Fatalf("ReadReport: %v", err)
	}
	want := &Report{Mode: "strict", Recorded: 2, Divergences: []Divergence{}}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("ReadReport mismatch (-want +got):\n%s", diff)
	}
}

func TestWriteTableShowsWhereLongValuesDiffer(t *testing.T) {
	prompt := "You are the support assistant of an online shop. Answer questions about orders, refunds and deliveries %s, and always cite the order id."
	expected := []byte(`{"messages":[{"role":"system","content":"` + fmt.Sprintf(prompt, "with great care and in full sentences") + `"}]}`)
	observed := []byte(`{"messages":[{"role":"system","content":"` + fmt.Sprintf(prompt, "tersely") + `"}]}`)
	r := &Report{
		OriginalTrace: testTrace, Mode: "strict", Recorded: 1, Requested: 1, Halted: true,
		Divergences: []Divergence{{
			Seq: 0, Reason: ReasonSignature,
			ExpectedKind: "llm", ExpectedName: "fake-gpt", ExpectedSignature: sigA,
			ObservedKind: "llm", ObservedName: "fake-gpt", ObservedSignature: sigB,
			Diff: DiffJSON(expected, observed),
		}},
	}
	out := writeTable(t, r)
	t.Logf("WriteTable output:\n%s", out)
	var line string
	for l := range strings.Lines(out) {
		if strings.HasPrefix(l, "  seq 0 llm fake-gpt: messages[0].content: ") {
			line = strings.TrimSuffix(l, "\n")
		}
	}
	if line == "" {
		t.Fatalf("no diff line for messages[0].content")
	}
	x, y, ok := strings.Cut(strings.TrimPrefix(line, "  seq 0 llm fake-gpt: messages[0].content: "), " → ")
	if !ok {
		t.Fatalf("diff line %q has no →", line)
	}
	if !strings.HasPrefix(x, "…") || !strings.Contains(x, "deliveries with great") {
		t.Errorf("expected value %q does not show where the values differ", x)
	}
	if !strings.HasPrefix(y, "…") || !strings.Contains(y, "deliveries tersely") {
		t.Errorf("observed value %q does not show where the values differ", y)
	}
	if w := twwidth.Width(x) + twwidth.Width(y); w > minValueRoom {
		t.Errorf("values take %d columns, want at most %d", w, minValueRoom)
	}
}
