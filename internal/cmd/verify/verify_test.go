package verify

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/cmdutil/cmdtest"
	"github.com/agentrr/agentrr/spanlog"
)

// fixture is a store with one run in each state.
type fixture struct {
	dir                               string
	ok, truncated, damaged, recording string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	fx := &fixture{dir: dir}
	fx.ok = cmdtest.Record(t, dir, "support", cmdtest.Agent("p"))
	store, err := spanlog.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC()
	fx.truncated = cmdtest.AddRun(t, store, spanlog.RunMeta{Name: "killed", Start: start.Add(-time.Hour)}, cmdtest.SampleBoundaries(3), nil)
	bs := cmdtest.SampleBoundaries(5)
	bs[3].Corrupt = true
	fx.damaged = cmdtest.AddRun(t, store, spanlog.RunMeta{Name: "bad", Start: start.Add(-2 * time.Hour)}, bs, &spanlog.RunEnd{})
	return fx
}

func (fx *fixture) startRecording(t *testing.T) {
	t.Helper()
	store, _ := spanlog.Open(fx.dir)
	fx.recording = cmdtest.AddRecording(t, store, spanlog.RunMeta{Name: "live", PID: os.Getpid()}, cmdtest.SampleBoundaries(1))
}

func verify(t *testing.T, opts *Options) (stdout, stderr string, code int) {
	t.Helper()
	streams, out, errOut := cmdtest.Streams()
	opts.IO = streams
	err := runVerify(opts)
	code = cmdutil.Code(err)
	if err != nil && !strings.HasPrefix(err.Error(), "exit ") {
		errOut.WriteString(err.Error())
	}
	return out.String(), errOut.String(), code
}

func TestVerifyVerdictsAndExitCodes(t *testing.T) {
	fx := newFixture(t)
	for _, tc := range []struct {
		id      string
		code    int
		verdict string
		reason  string
	}{
		{fx.ok, cmdutil.ExitOK, "ok", ""},
		{fx.truncated, cmdutil.ExitTruncated, "truncated", "safe to replay up to seq 2"},
		{fx.damaged, cmdutil.ExitDamaged, "damaged", "boundary seq 3 is damaged: payload hash mismatch"},
	} {
		out, _, code := verify(t, &Options{Store: cmdtest.StoreFunc(fx.dir), TraceIDs: []string{tc.id[:10]}})
		if code != tc.code {
			t.Errorf("verify %s run: exit %d, want %d\n%s", tc.verdict, code, tc.code, out)
		}
		if !strings.Contains(out, tc.id+"  "+tc.verdict) || !strings.Contains(out, tc.reason) {
			t.Errorf("verify %s run: output lacks the verdict or %q:\n%s", tc.verdict, tc.reason, out)
		}
	}
	// Several runs: the worst verdict decides; damaged is worse than truncated.
	_, _, code := verify(t, &Options{Store: cmdtest.StoreFunc(fx.dir), TraceIDs: []string{fx.truncated, fx.ok, fx.damaged}})
	if code != cmdutil.ExitDamaged {
		t.Errorf("truncated+ok+damaged: exit %d, want %d", code, cmdutil.ExitDamaged)
	}
}

func TestVerifyAll(t *testing.T) {
	fx := newFixture(t)
	fx.startRecording(t)
	out, errOut, code := verify(t, &Options{Store: cmdtest.StoreFunc(fx.dir), All: true, JSON: true})
	if code != cmdutil.ExitDamaged {
		t.Errorf("--all: exit %d, want %d (damaged)", code, cmdutil.ExitDamaged)
	}
	var doc Output
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	got := map[string]Result{}
	for _, r := range doc.Runs {
		got[r.TraceID] = r
	}
	if doc.Verdict != "damaged" || len(doc.Runs) != 4 {
		t.Errorf("verdict %s over %d runs", doc.Verdict, len(doc.Runs))
	}
	if r := got[fx.recording]; r.Verdict != "recording" || r.PID != os.Getpid() {
		t.Errorf("live run: %+v", r)
	}
	if r := got[fx.ok]; r.Verdict != "ok" || r.Boundaries != 7 || r.Reason != "" {
		t.Errorf("ok run: %+v", r)
	}
	if r := got[fx.damaged]; r.Verdict != "damaged" || r.Boundaries != 3 {
		t.Errorf("damaged run: %+v", r)
	}
	if errOut != "" {
		t.Errorf("stderr %q, want nothing (not a terminal)", errOut)
	}
}

// A run being recorded does not fail --all; named, it exits 6.
func TestVerifyRecording(t *testing.T) {
	fx := newFixture(t)
	fx.startRecording(t)
	store, _ := spanlog.Open(fx.dir)
	for _, id := range []string{fx.truncated, fx.damaged} {
		if err := store.Remove(id); err != nil {
			t.Fatal(err)
		}
	}
	out, errOut, code := verify(t, &Options{Store: cmdtest.StoreFunc(fx.dir), All: true})
	if code != cmdutil.ExitOK {
		t.Errorf("--all with ok and recording runs: exit %d, want 0", code)
	}
	if !strings.Contains(out, "recording (pid ") || !strings.Contains(errOut, "note: 1 run is being recorded") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out, errOut)
	}
	_, _, code = verify(t, &Options{Store: cmdtest.StoreFunc(fx.dir), TraceIDs: []string{fx.recording}})
	if code != cmdutil.ExitRecording {
		t.Errorf("verify <live run>: exit %d, want %d", code, cmdutil.ExitRecording)
	}
}

func TestVerifyProgressOnlyOnATerminal(t *testing.T) {
	fx := newFixture(t)
	_, errOut, _ := verify(t, &Options{Store: cmdtest.StoreFunc(fx.dir), All: true, Progress: true})
	if !strings.Contains(errOut, "\rverifying run 3 of 3…") {
		t.Errorf("progress on a terminal: stderr %q", errOut)
	}
	_, errOut, _ = verify(t, &Options{Store: cmdtest.StoreFunc(fx.dir), All: true})
	if errOut != "" {
		t.Errorf("progress when not a terminal: stderr %q", errOut)
	}
}

func TestVerifyEmptyStoreAndUnknownRun(t *testing.T) {
	dir := t.TempDir()
	if _, err := spanlog.Open(dir); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := verify(t, &Options{Store: cmdtest.StoreFunc(dir), All: true})
	if code != 0 || out != "" || !strings.Contains(errOut, "nothing to verify") {
		t.Errorf("empty store: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	_, errOut, code = verify(t, &Options{Store: cmdtest.StoreFunc(dir), TraceIDs: []string{"abcd"}})
	if code != cmdutil.ExitUsage || !strings.Contains(errOut, "agentrr runs") {
		t.Errorf("unknown run: exit %d, stderr %q", code, errOut)
	}
}

func TestNewCmdVerifyArgs(t *testing.T) {
	streams, _, _ := cmdtest.Streams()
	f := &cmdutil.Factory{IO: streams}
	for _, args := range [][]string{{}, {"--all", "4bf9"}} {
		cmd := NewCmdVerify(f, func(*Options) error { t.Errorf("%v: ran", args); return nil })
		cmd.SetArgs(args)
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		cmd.SetOut(new(bytes.Buffer))
		if err := cmd.Execute(); cmdutil.Code(err) != cmdutil.ExitUsage {
			t.Errorf("verify %v: %v, want a usage error", args, err)
		}
	}
	var got *Options
	cmd := NewCmdVerify(f, func(o *Options) error { got = o; return nil })
	cmd.SetArgs([]string{"--all"})
	if err := cmd.Execute(); err != nil || !got.All || got.Progress {
		t.Errorf("verify --all: %v %+v (progress must be off: stderr is not a terminal)", err, got)
	}
}
