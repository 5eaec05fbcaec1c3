package record

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/internal/cmd/internal/agentproc"
	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/cmdutil/cmdtest"
	"github.com/agentrr/agentrr/spanlog"
)

func TestMain(m *testing.M) {
	agentproc.Main()
	os.Exit(m.Run())
}

func record(t *testing.T, store, mode string, asJSON bool) (stdout, stderr string, err error) {
	t.Helper()
	io, out, errOut := cmdtest.Streams()
	err = Run(context.Background(), &Options{IO: io, StorePath: store, Command: agentproc.Command(mode), JSON: asJSON})
	return out.String(), errOut.String(), err
}

var agentRunID = regexp.MustCompile(`(?m)^run_id: ([0-9a-f]{32})$`)

func TestRecordPrintsTheRunItRecorded(t *testing.T) {
	store := filepath.Join(t.TempDir(), "store")
	// A run already in the store is not this agent's.
	if err := os.MkdirAll(store, 0o700); err != nil {
		t.Fatal(err)
	}
	old := cmdtest.Record(t, store, "older", cmdtest.Agent("x"))

	out, _, err := record(t, store, agentproc.OK, false)
	if err != nil {
		t.Fatalf("record: %v\n%s", err, out)
	}
	m := agentRunID.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the agent's output did not pass through:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^recorded 1 run:\n.*\n` + m[1] + `  support +7 +complete$`).MatchString(out) {
		t.Errorf("record did not list run %s (7 boundaries, complete):\n%s", m[1], out)
	}
	if strings.Contains(out, old) {
		t.Errorf("record listed the older run %s:\n%s", old, out)
	}
	if !strings.Contains(out, "replay with: agentrr replay --from-trace "+m[1][:8]+" -- ") {
		t.Errorf("no replay hint:\n%s", out)
	}
}

func TestRecordListsEveryRun(t *testing.T) {
	out, _, err := record(t, filepath.Join(t.TempDir(), "store"), agentproc.Two, false)
	if err != nil {
		t.Fatal(err)
	}
	ids := agentRunID.FindAllStringSubmatch(out, -1)
	if len(ids) != 2 || !strings.Contains(out, "recorded 2 runs:") {
		t.Fatalf("two runs, output:\n%s", out)
	}
	// Oldest first, as the agent made them.
	if strings.Index(out, ids[0][1]+"  ") > strings.Index(out, ids[1][1]+"  ") {
		t.Errorf("runs not in the order recorded:\n%s", out)
	}
}

func TestRecordJSON(t *testing.T) {
	out, errOut, err := record(t, filepath.Join(t.TempDir(), "store"), agentproc.OK, true)
	if err != nil {
		t.Fatal(err)
	}
	var runs []spanlog.RunInfo
	if err := json.Unmarshal([]byte(out), &runs); err != nil {
		t.Fatalf("stdout is not the JSON list of runs: %v\n%s", err, out)
	}
	if len(runs) != 1 || runs[0].Boundaries != 7 || runs[0].Status != spanlog.StatusComplete {
		t.Errorf("runs %+v", runs)
	}
	// The agent's own output went to stderr, keeping stdout one document.
	if !strings.Contains(errOut, "run_id: "+runs[0].TraceID) {
		t.Errorf("agent output not on stderr: %q", errOut)
	}
}

func TestRecordFailingAgent(t *testing.T) {
	out, _, err := record(t, filepath.Join(t.TempDir(), "store"), agentproc.Fail, false)
	var ee *cmdutil.ExitError
	if !errors.As(err, &ee) || ee.Code != cmdutil.ExitAgent || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("failing agent: %v, want exit %d naming its status", err, cmdutil.ExitAgent)
	}
	// What it recorded is still listed: a recorded failure is what replay is for.
	if !strings.Contains(out, "recorded 1 run:") {
		t.Errorf("the failing agent's run is not listed:\n%s", out)
	}
}

func TestRecordAgentWithoutRun(t *testing.T) {
	_, _, err := record(t, filepath.Join(t.TempDir(), "store"), agentproc.NoRun, false)
	if cmdutil.Code(err) != cmdutil.ExitAgent || !strings.Contains(err.Error(), "otelrr.NewTracerProvider") || !strings.Contains(err.Error(), "StartRun") {
		t.Errorf("agent without a run: %v", err)
	}
}

func TestRecordUnstartableAgent(t *testing.T) {
	io, _, _ := cmdtest.Streams()
	err := Run(context.Background(), &Options{IO: io, StorePath: t.TempDir(), Command: []string{filepath.Join(t.TempDir(), "no-such-agent")}})
	if cmdutil.Code(err) != cmdutil.ExitAgent || !strings.Contains(err.Error(), "could not start the agent") {
		t.Errorf("missing agent: %v", err)
	}
}

// recorded keeps the runs tagged with the session, and untagged runs
// written by the agent's process; not runs other processes made meanwhile.
func TestRecordedPicksTheAgentsRuns(t *testing.T) {
	_, store := cmdtest.EmptyStore(t)
	mk := func(pid int, res map[string]string) string {
		meta := spanlog.RunMeta{Name: "r", PID: pid, Resource: res}
		return cmdtest.AddRun(t, store, meta, cmdtest.SampleBoundaries(1), &spanlog.RunEnd{})
	}
	before := mk(100, map[string]string{AttrSession: "s1"})
	tagged := mk(200, map[string]string{AttrSession: "s1"}) // a child of the agent (go run)
	ownPID := mk(100, nil)                                  // the agent replaced its resource
	_ = mk(300, map[string]string{AttrSession: "s2"})       // another agentrr record
	_ = mk(100, map[string]string{AttrSession: "s2"})       // pid reused by another session
	_ = mk(400, nil)                                        // another process
	runs, err := recorded(store, []string{before}, "s1", 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, r.TraceID)
	}
	want := map[string]bool{tagged: true, ownPID: true}
	if len(got) != 2 || !want[got[0]] || !want[got[1]] {
		t.Errorf("recorded %v, want %s and %s", got, tagged, ownPID)
	}
}

func TestRecordNeedsACommand(t *testing.T) {
	for _, args := range [][]string{{}, {"--json"}, {"agent", "--", "x"}} {
		io, _, _ := cmdtest.Streams()
		cmd := NewCmdRecord(&cmdutil.Factory{IO: io}, func(*Options) error { return nil })
		cmd.SetArgs(args)
		cmd.SetOut(io.Out)
		cmd.SetErr(io.ErrOut)
		if err := cmd.Execute(); cmdutil.Code(err) != cmdutil.ExitUsage {
			t.Errorf("record %q: %v, want a usage error", args, err)
		}
	}
}

func TestResourceAttributes(t *testing.T) {
	if got := resourceAttributes("", "abc"); got != AttrSession+"=abc" {
		t.Errorf("got %q", got)
	}
	if got := resourceAttributes("team=x", "abc"); got != "team=x,"+AttrSession+"=abc" {
		t.Errorf("got %q", got)
	}
}
