package replay_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/internal/cmd/internal/agentproc"
	"github.com/agentrr/agentrr/internal/cmd/replay"
	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/cmdutil/cmdtest"
)

func TestMain(m *testing.M) {
	agentproc.Main()
	os.Exit(m.Run())
}

func replayRun(t *testing.T, opts *replay.Options) (stdout, stderr string, err error) {
	t.Helper()
	io, out, errOut := cmdtest.Streams()
	opts.IO, opts.Store = io, cmdtest.StoreFunc(opts.StorePath)
	err = replay.Run(context.Background(), opts)
	return out.String(), errOut.String(), err
}

func TestReplayFaithfulAndDiverged(t *testing.T) {
	store, id := agentproc.Record(t)
	out, _, err := replayRun(t, &replay.Options{StorePath: store, TraceID: id[:8], Command: agentproc.Command(agentproc.OK)})
	if err != nil || !strings.Contains(out, "faithful — 7 of 7 boundaries served") {
		t.Errorf("faithful replay: %v\n%s", err, out)
	}
	if !strings.Contains(out, "agent code unchanged since recording") {
		t.Errorf("the report does not say whether the code changed:\n%s", out)
	}
	out, _, err = replayRun(t, &replay.Options{StorePath: store, TraceID: id, Command: agentproc.Command(agentproc.EditOK)})
	if cmdutil.Code(err) != cmdutil.ExitDiverged || !strings.Contains(out, "halted at seq 2") {
		t.Errorf("edited replay: %v, want exit 1 halted at seq 2\n%s", err, out)
	}
}

func TestReplayUntilSeq(t *testing.T) {
	store, id := agentproc.Record(t)
	out, _, err := replayRun(t, &replay.Options{StorePath: store, TraceID: id, Command: agentproc.Command(agentproc.OK), UntilSeq: 3, HasUntil: true})
	if err != nil {
		t.Fatalf("replay --until-seq 3: %v\n%s", err, out)
	}
	cmdtest.CheckContains(t, out,
		"replayed boundaries 0..3 of run "+id+":\n",
		"3    tool   lookup_order  \"delayed at the depot\"\n",
		"faithful — 4 of 7 boundaries served, stopped before seq 4 (until seq 3)\n",
		"pending at seq 4 (not served): tool lookup_order, matches the recording\nrequest:\n  {\n    \"order_id\": \"B-2\"\n  }\n",
	)
	if strings.Contains(out, "agent's run ended with an error") {
		t.Errorf("the stop is reported as an agent error:\n%s", out)
	}
}

func TestReplayUntilSeqJSON(t *testing.T) {
	store, id := agentproc.Record(t)
	out, _, err := replayRun(t, &replay.Options{StorePath: store, TraceID: id, Command: agentproc.Command(agentproc.OK), UntilSeq: 0, HasUntil: true, JSON: true})
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Verdict string `json:"verdict"`
		Served  int    `json:"served"`
		Stopped struct {
			Seq  int    `json:"seq"`
			Kind string `json:"kind"`
		} `json:"stopped"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not one JSON report: %v\n%s", err, out)
	}
	if rep.Verdict != "faithful" || rep.Served != 1 || rep.Stopped.Seq != 1 || rep.Stopped.Kind != "clock" {
		t.Errorf("report %+v", rep)
	}
}

func TestReplayUntilSeqAfterADivergence(t *testing.T) {
	store, id := agentproc.Record(t)
	out, _, err := replayRun(t, &replay.Options{StorePath: store, TraceID: id, Command: agentproc.Command(agentproc.EditOK), UntilSeq: 5, HasUntil: true})
	if cmdutil.Code(err) != cmdutil.ExitDiverged || !strings.Contains(out, "halted at seq 2") || strings.Contains(out, "stopped before") {
		t.Errorf("divergence before the stop: %v\n%s", err, out)
	}
}

func TestReplayUntilSeqPastTheEnd(t *testing.T) {
	store, id := agentproc.Record(t)
	out, errOut, err := replayRun(t, &replay.Options{StorePath: store, TraceID: id, Command: agentproc.Command(agentproc.OK), UntilSeq: 6, HasUntil: true})
	if err != nil || !strings.Contains(out, "faithful — 7 of 7") || !strings.Contains(errOut, "replaying the whole run") {
		t.Errorf("--until-seq at the last boundary: %v\n%s%s", err, out, errOut)
	}
}

func TestReplayFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--from-trace", "abc", "--until-seq", "-1", "--", "agent"}, "--until-seq must be 0 or more"},
		{[]string{"--", "agent"}, "give the run to replay"},
		{[]string{"abc", "def"}, "unexpected arguments"},
		{[]string{"abc", "--from-trace", "def"}, "two runs given"},
		{[]string{"abc", "--"}, "nothing after --"},
	} {
		io, _, _ := cmdtest.Streams()
		cmd := replay.NewCmdReplay(&cmdutil.Factory{IO: io}, func(*replay.Options) error { return nil })
		cmd.SetArgs(tc.args)
		cmd.SetOut(io.Out)
		cmd.SetErr(io.ErrOut)
		err := cmd.Execute()
		if cmdutil.Code(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("replay %q: %v, want a usage error mentioning %q", tc.args, err, tc.msg)
		}
	}
	var got *replay.Options
	io, _, _ := cmdtest.Streams()
	cmd := replay.NewCmdReplay(&cmdutil.Factory{IO: io}, func(o *replay.Options) error { got = o; return nil })
	cmd.SetArgs([]string{"--from-trace", "abc", "--until-seq", "0", "--", "agent", "-x"})
	if err := cmd.Execute(); err != nil || !got.HasUntil || got.UntilSeq != 0 || strings.Join(got.Command, " ") != "agent -x" {
		t.Errorf("--until-seq 0: %v %+v", err, got)
	}
	// The run by id alone, with or without a command after --: without
	// one, the recorded command is run (Command nil).
	for _, tc := range []struct {
		args    []string
		command string
	}{
		{[]string{"abc"}, ""},
		{[]string{"--from-trace", "abc"}, ""},
		{[]string{"abc", "--", "agent", "-x"}, "agent -x"},
	} {
		got = nil
		cmd := replay.NewCmdReplay(&cmdutil.Factory{IO: io}, func(o *replay.Options) error { got = o; return nil })
		cmd.SetArgs(tc.args)
		if err := cmd.Execute(); err != nil || got.TraceID != "abc" || strings.Join(got.Command, " ") != tc.command {
			t.Errorf("replay %q: %v %+v; want run abc, command %q", tc.args, err, got, tc.command)
		}
	}
}

// A run replays by its id alone: the command it was recorded with (the
// agent process, its arguments, its directory) is run again.
func TestReplayByIDAlone(t *testing.T) {
	store, id := agentproc.Record(t)
	out, errOut, err := replayRun(t, &replay.Options{StorePath: store, TraceID: id[:10]})
	if err != nil || !strings.Contains(out, "faithful — 7 of 7 boundaries served") {
		t.Errorf("replay by id: %v\n%s%s", err, out, errOut)
	}
}

// A recorded executable that is gone is a usage error that shows the
// recorded command and says what to do.
func TestReplayByIDOfAGoneExecutable(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	gone := filepath.Join(t.TempDir(), "agent-built-once")
	if err := os.WriteFile(gone, b, 0o700); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(t.TempDir(), "store")
	cmd := exec.Command(gone, agentproc.Command(agentproc.OK)[1:]...)
	cmd.Env = append(os.Environ(), "AGENTRR_STORE="+store)
	rec, err := cmd.Output()
	if err != nil {
		t.Fatalf("recording agent: %v", err)
	}
	m := regexp.MustCompile(`run_id: ([0-9a-f]{32})`).FindSubmatch(rec)
	if m == nil {
		t.Fatalf("no run_id in %s", rec)
	}
	os.Remove(gone)
	_, _, err = replayRun(t, &replay.Options{StorePath: store, TraceID: string(m[1])})
	if cmdutil.Code(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), gone+" agentrr-test-agent ok") ||
		!strings.Contains(err.Error(), "is gone") || !strings.Contains(err.Error(), "after --") {
		t.Errorf("replay of a run whose executable is gone: %v", err)
	}
}
