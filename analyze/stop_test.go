package analyze_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/analyze"
)

func stoppedReport() *analyze.Report {
	return &analyze.Report{
		OriginalTrace: "4bf92f3577b34da6a3ce929d0e0e4736",
		Mode:          "strict",
		Recorded:      8,
		Requested:     4,
		Served:        4,
		Finished:      true,
		CodeChange:    "agent code changed since recording: 1a2b3c4d5e6f (modified) → 9f8e7d6c5b4a",
		CodeChanged:   true,
		Stopped: &analyze.Stop{
			Reason:  "until seq 3",
			Seq:     4,
			Kind:    "tool",
			Name:    "refund_policy",
			Request: json.RawMessage(`{"order_id":"A-1001","reason":"late"}`),
		},
	}
}

func TestWriteTableStopped(t *testing.T) {
	var b bytes.Buffer
	if err := stoppedReport().WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"faithful — 4 of 8 boundaries served, stopped before seq 4 (until seq 3)\n",
		"agent code changed since recording: 1a2b3c4d5e6f (modified) → 9f8e7d6c5b4a\n",
		"pending at seq 4 (not served): tool refund_policy, matches the recording\n",
		"request:\n  {\n    \"order_id\": \"A-1001\",\n    \"reason\": \"late\"\n  }\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteTableStoppedAtADivergentBoundary(t *testing.T) {
	r := stoppedReport()
	r.Stopped.Divergence = &analyze.Divergence{Seq: 4, Reason: analyze.ReasonKind, ExpectedKind: "tool", ExpectedName: "lookup_order", ObservedKind: "tool", ObservedName: "refund_policy"}
	var b bytes.Buffer
	r.WriteTable(&b)
	if want := "tool refund_policy, differs from the recording: expected tool lookup_order, got tool refund_policy"; !strings.Contains(b.String(), want) {
		t.Errorf("table lacks %q:\n%s", want, b.String())
	}
}

func TestStopRoundTripsThroughJSON(t *testing.T) {
	var b bytes.Buffer
	if err := stoppedReport().WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	got, err := analyze.ReadReport(&b)
	if err != nil {
		t.Fatal(err)
	}
	var req bytes.Buffer
	if got.Stopped != nil {
		json.Compact(&req, got.Stopped.Request)
	}
	if got.Stopped == nil || got.Stopped.Seq != 4 || req.String() != `{"order_id":"A-1001","reason":"late"}` || !got.CodeChanged {
		t.Errorf("read back %+v (stopped %+v)", got, got.Stopped)
	}
}

func TestIndentJSONCutsLongPayloads(t *testing.T) {
	got := analyze.IndentJSON([]byte(`[1,2,3,4,5,6]`), "> ", 4)
	want := "> [\n>   1,\n>   2,\n>   3,\n> … 4 more lines\n"
	if got != want {
		t.Errorf("IndentJSON:\n got %q\nwant %q", got, want)
	}
	if got := analyze.IndentJSON([]byte(`[1]`), "", 3); got != "[\n  1\n]\n" {
		t.Errorf("short payload cut: %q", got)
	}
	if got := analyze.IndentJSON([]byte(`not json`), "", 0); got != "not json\n" {
		t.Errorf("invalid JSON: %q", got)
	}
}
