package rm

import (
	"os"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/cmdutil/cmdtest"
	"github.com/agentrr/agentrr/internal/storetest"
	"github.com/agentrr/agentrr/spanlog"
)

func rm(t *testing.T, dir string, ids ...string) (stdout, stderr string, err error) {
	t.Helper()
	streams, out, errOut := cmdtest.Streams()
	err = runRm(&Options{IO: streams, Store: cmdtest.StoreFunc(dir), TraceIDs: ids})
	return out.String(), errOut.String(), err
}

func ids(t *testing.T, dir string) []string {
	t.Helper()
	got, err := storetest.OpenExisting(t, dir).TraceIDs()
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestRmRemovesOnlyTheRunsNamed(t *testing.T) {
	dir := t.TempDir()
	a := cmdtest.Record(t, dir, "a", cmdtest.Agent("p"))
	b := cmdtest.Record(t, dir, "b", cmdtest.Agent("p"))
	c := cmdtest.Record(t, dir, "c", cmdtest.Agent("p"))
	out, _, err := rm(t, dir, a[:8], c, c[:6])
	if err != nil {
		t.Fatal(err)
	}
	if out != "removed "+a+"\nremoved "+c+"\n" {
		t.Errorf("stdout %q", out)
	}
	if got := ids(t, dir); len(got) != 1 || got[0] != b {
		t.Errorf("runs left %v, want only %s", got, b)
	}
}

func TestRmUnknownOrAmbiguousRemovesNothing(t *testing.T) {
	dir, store := cmdtest.EmptyStore(t)
	x, y := "abc"+strings.Repeat("1", 29), "abc"+strings.Repeat("2", 29)
	for _, id := range []string{x, y} {
		cmdtest.AddRun(t, store, spanlog.RunMeta{TraceID: id}, nil, &spanlog.RunEnd{})
	}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{x, "ffff"}, "agentrr runs"},
		{[]string{x, "ab"}, y},
		{[]string{x, "not-hex"}, "not hexadecimal"},
	} {
		_, _, err := rm(t, dir, tc.args...)
		if cmdutil.Code(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("rm %v: %v (exit %d), want exit 2 mentioning %q", tc.args, err, cmdutil.Code(err), tc.msg)
		}
	}
	if got := ids(t, dir); len(got) != 2 {
		t.Errorf("runs left %v: a failed rm removed something", got)
	}
}

func TestRmRefusesARunBeingRecorded(t *testing.T) {
	dir := t.TempDir()
	done := cmdtest.Record(t, dir, "done", cmdtest.Agent("p"))
	store, _ := spanlog.Open(dir)
	live := cmdtest.AddRecording(t, store, spanlog.RunMeta{PID: os.Getpid()}, nil)
	out, errOut, err := rm(t, dir, live, done)
	if cmdutil.Code(err) != cmdutil.ExitRecording {
		t.Errorf("exit %d, want %d", cmdutil.Code(err), cmdutil.ExitRecording)
	}
	if !strings.Contains(errOut, live+" is being recorded (pid") || out != "removed "+done+"\n" {
		t.Errorf("stdout %q, stderr %q", out, errOut)
	}
	if got := ids(t, dir); len(got) != 1 || got[0] != live {
		t.Errorf("runs left %v, want only the live one", got)
	}
}
