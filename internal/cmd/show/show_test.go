package show

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/cmdutil/cmdtest"
	"github.com/agentrr/agentrr/spanlog"
)

func show(t *testing.T, dir, id string, jsonOut bool) (string, error) {
	t.Helper()
	streams, stdout, _ := cmdtest.Streams()
	err := runShow(&Options{IO: streams, Store: cmdtest.StoreFunc(dir), TraceID: id, JSON: jsonOut})
	return stdout.String(), err
}

// field returns the value of the header line labelled label.
func field(out, label string) string {
	for line := range strings.Lines(out) {
		if rest, ok := strings.CutPrefix(line, label+"  "); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

func TestShowTimeline(t *testing.T) {
	dir, id := cmdtest.StoreWithRun(t, "You are helpful.")
	out, err := show(t, dir, id[:6], false)
	if err != nil {
		t.Fatal(err)
	}
	cmdtest.CheckWidth(t, out)
	for label, want := range map[string]string{
		"run": id, "name": "support", "service": "cmdtest", "status": "complete",
		"boundaries": "7 boundaries, 32 input + 14 output tokens",
	} {
		if got := field(out, label); got != want {
			t.Errorf("%s: %q, want %q:\n%s", label, got, want, out)
		}
	}
	if !strings.Contains(out, "SEQ  KIND   NAME          DURATION  SIGNATURE     STATUS  TOKENS IN/OUT\n") {
		t.Errorf("no table header:\n%s", out)
	}
	// One row per boundary, in seq order, with its status and tokens.
	rows := map[string][]string{}
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) == 7 && f[0] >= "0" && f[0] <= "9" {
			rows[f[0]] = f
		}
	}
	for seq, want := range map[string]string{
		"0": "id uuid ok -", "1": "clock now ok -", "2": "llm fake-gpt ok 12/5",
		"3": "tool lookup_order ok -", "4": "tool lookup_order error -", "5": "rand seed ok -", "6": "llm fake-gpt ok 20/9",
	} {
		r := rows[seq]
		if r == nil {
			t.Errorf("no row for seq %s:\n%s", seq, out)
			continue
		}
		if got := strings.Join([]string{r[1], r[2], r[5], r[6]}, " "); got != want {
			t.Errorf("seq %s: kind, name, status, tokens = %q, want %q", seq, got, want)
		}
		if len(r[4]) != 12 {
			t.Errorf("seq %s: signature %q, want 12 hex digits", seq, r[4])
		}
	}
}

func TestShowJSON(t *testing.T) {
	dir, id := cmdtest.StoreWithRun(t, "You are helpful.")
	out, err := show(t, dir, id, true)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Run struct {
			TraceID string `json:"trace_id"`
			Status  string `json:"status"`
		} `json:"run"`
		Build *struct {
			Go string `json:"go"`
		} `json:"build"`
		Boundaries []struct {
			Seq          int64  `json:"seq"`
			Kind         string `json:"kind"`
			Status       string `json:"status"`
			Error        string `json:"error"`
			Signature    string `json:"signature"`
			DurationNS   int64  `json:"duration_ns"`
			InputTokens  *int64 `json:"input_tokens"`
			OutputTokens *int64 `json:"output_tokens"`
		} `json:"boundaries"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if doc.Run.TraceID != id || doc.Run.Status != "complete" || len(doc.Boundaries) != 7 {
		t.Fatalf("run %s %s with %d boundaries", doc.Run.TraceID, doc.Run.Status, len(doc.Boundaries))
	}
	if doc.Build == nil || !strings.HasPrefix(doc.Build.Go, "go1.") {
		t.Errorf("build %+v, want the Go version of the recording binary", doc.Build)
	}
	b2, b4 := doc.Boundaries[2], doc.Boundaries[4]
	if b2.InputTokens == nil || *b2.InputTokens != 12 || *b2.OutputTokens != 5 || len(b2.Signature) != 64 {
		t.Errorf("seq 2: %+v", b2)
	}
	if b4.Status != "error" || b4.Error != "order B-2 not found" || b4.InputTokens != nil {
		t.Errorf("seq 4: %+v", b4)
	}
}

func TestShowReplay(t *testing.T) {
	dir, id := cmdtest.StoreWithRun(t, "You are helpful.")
	replay, rep := cmdtest.Replay(t, dir, id, cmdtest.Agent("You are terse."))
	if rep.Faithful() {
		t.Fatal("edited replay was faithful")
	}
	out, err := show(t, dir, replay, false)
	if err != nil {
		t.Fatal(err)
	}
	cmdtest.CheckWidth(t, out)
	if got, want := field(out, "replay of"), id+" (strict): diverged, 1 divergence"; got != want {
		t.Errorf("replay of: %q, want %q:\n%s", got, want, out)
	}
	if !strings.Contains(field(out, "agent error"), "replay diverged at seq 2") || !strings.Contains(out, "diverged  -") {
		t.Errorf("want the agent error and a diverged boundary:\n%s", out)
	}
}

func TestShowTruncatedAndDamaged(t *testing.T) {
	dir, store := cmdtest.EmptyStore(t)
	trunc := cmdtest.AddRun(t, store, spanlog.RunMeta{Name: "killed"}, cmdtest.SampleBoundaries(3), nil)
	out, err := show(t, dir, trunc, false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(field(out, "status"), "truncated: run did not end") {
		t.Errorf("status %q, want truncated", field(out, "status"))
	}
	cmdtest.CheckContains(t, out, "safe to replay up to seq 2")

	bs := cmdtest.SampleBoundaries(4)
	bs[2].Corrupt = true
	bad := cmdtest.AddRun(t, store, spanlog.RunMeta{Name: "bad"}, bs, &spanlog.RunEnd{})
	out, err = show(t, dir, bad, false)
	// What can be read is shown, then exit status 3 naming the damage.
	if cmdutil.Code(err) != cmdutil.ExitDamaged || !strings.Contains(fmt.Sprint(err), "is damaged: boundary seq 2") {
		t.Errorf("show of a damaged run: %v (exit %d), want exit %d naming the damage", err, cmdutil.Code(err), cmdutil.ExitDamaged)
	}
	cmdtest.CheckWidth(t, out)
	if !strings.HasPrefix(field(out, "status"), "damaged: boundary seq 2 is damaged: payload hash mismatch") || field(out, "boundaries") != "2 boundaries" {
		t.Errorf("status %q, boundaries %q", field(out, "status"), field(out, "boundaries"))
	}
	cmdtest.CheckContains(t, out, "the run is damaged at seq 2")
}

func TestShowLongNamesAreCut(t *testing.T) {
	dir, store := cmdtest.EmptyStore(t)
	bs := cmdtest.SampleBoundaries(2)
	bs[1].Name = "POST /v1/organizations/acme/projects/support/chat/completions?stream=true"
	id := cmdtest.AddRun(t, store, spanlog.RunMeta{Name: "http"}, bs, &spanlog.RunEnd{})
	out, err := show(t, dir, id, false)
	if err != nil {
		t.Fatal(err)
	}
	cmdtest.CheckWidth(t, out)
	if !strings.Contains(out, "POST /v1/organizations/acme…") && !strings.Contains(out, "…") {
		t.Errorf("long name not cut with …:\n%s", out)
	}
}

func TestShowErrors(t *testing.T) {
	dir, _ := cmdtest.StoreWithRun(t, "p")
	store, _ := spanlog.Open(dir)
	live := cmdtest.AddRecording(t, store, spanlog.RunMeta{Name: "live", PID: os.Getpid()}, cmdtest.SampleBoundaries(1))

	for _, tc := range []struct {
		id   string
		code int
		msg  string
	}{
		{"ffffffffffffffffffffffffffffffff", cmdutil.ExitUsage, "agentrr runs"},
		{"xyz", cmdutil.ExitUsage, "not hexadecimal"},
		{live, cmdutil.ExitRecording, "is being recorded (pid"},
	} {
		_, err := show(t, dir, tc.id, false)
		if cmdutil.Code(err) != tc.code || err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("show %s: %v (exit %d); want exit %d mentioning %q", tc.id, err, cmdutil.Code(err), tc.code, tc.msg)
		}
	}
	_, err := show(t, t.TempDir()+"/nowhere", "abc", false)
	if !errors.Is(err, spanlog.ErrNoStore) || !strings.Contains(err.Error(), "nowhere") {
		t.Errorf("missing store: %v", err)
	}
}

func TestNewCmdShowArgs(t *testing.T) {
	streams, _, _ := cmdtest.Streams()
	f := &cmdutil.Factory{IO: streams}
	var got *Options
	cmd := NewCmdShow(f, func(o *Options) error { got = o; return nil })
	cmd.SetArgs([]string{"4bf9", "--json"})
	if err := cmd.Execute(); err != nil || got == nil || got.TraceID != "4bf9" || !got.JSON {
		t.Fatalf("show 4bf9 --json: %v, %+v", err, got)
	}
	cmd = NewCmdShow(f, func(*Options) error { t.Fatal("ran without a run id"); return nil })
	cmd.SetArgs(nil)
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	err := cmd.Execute()
	if cmdutil.Code(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), "agentrr runs") {
		t.Errorf("show without an id: %v (exit %d)", err, cmdutil.Code(err))
	}
}
