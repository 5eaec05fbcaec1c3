package report_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentrr/agentrr/internal/cmd/report"
	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/cmdutil/cmdtest"
	"github.com/agentrr/agentrr/spanlog"
)

func run(t *testing.T, dir, id, html string) (string, string, error) {
	t.Helper()
	io, stdout, stderr := cmdtest.Streams()
	f := &cmdutil.Factory{IO: io, StoreDir: dir}
	cmd := report.NewCmdReport(f, nil)
	cmd.SetArgs(append([]string{id}, html))
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	return stdout.String(), stderr.String(), err
}

func TestReportWritesOneHTMLFile(t *testing.T) {
	dir, id := cmdtest.StoreWithRun(t, "You are helpful.")
	replay, _ := cmdtest.Replay(t, dir, id, cmdtest.Agent("You are terse."))
	out := filepath.Join(t.TempDir(), "bug.html")
	_, stderr, err := run(t, dir, replay[:8], "--html="+out)
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(page), "<!doctype html>") || !strings.Contains(string(page), `id="agentrr-data"`) {
		t.Errorf("the file is not the report page")
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v: a report holds what the store holds, it is private", fi.Mode())
	}
	if !strings.Contains(stderr, "wrote "+out+": run "+replay+" (10 boundaries, with the recording it replays, "+id+")") {
		t.Errorf("stderr %q", stderr)
	}
	stdout, _, err := run(t, dir, id, "--html=-")
	if err != nil || !strings.HasPrefix(stdout, "<!doctype html>") {
		t.Errorf("--html -: %v, %.40q", err, stdout)
	}
}

func TestReportErrors(t *testing.T) {
	dir, id := cmdtest.StoreWithRun(t, "You are helpful.")
	_, _, err := run(t, dir, id, "--html=")
	if cmdutil.Code(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), "--html FILE is required") {
		t.Errorf("no --html: %v", err)
	}
	if _, _, err := run(t, dir, "ffffffff", "--html="+filepath.Join(t.TempDir(), "x.html")); cmdutil.Code(err) != cmdutil.ExitUsage {
		t.Errorf("an unknown run: %v", err)
	}
	if _, _, err := run(t, dir, id, "--html=/nonexistent/dir/x.html"); err == nil {
		t.Error("an unwritable file: no error")
	}
	store, err := spanlog.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	live := cmdtest.AddRecording(t, store, spanlog.RunMeta{Name: "live", Start: time.Now()}, cmdtest.SampleBoundaries(2))
	if _, _, err := run(t, dir, live, "--html="+filepath.Join(t.TempDir(), "x.html")); cmdutil.Code(err) != cmdutil.ExitRecording {
		t.Errorf("a run being recorded: %v (exit %d)", err, cmdutil.Code(err))
	}
	bs := cmdtest.SampleBoundaries(4)
	bs[2].Corrupt = true
	damaged := cmdtest.AddRun(t, store, spanlog.RunMeta{Name: "damaged"}, bs, &spanlog.RunEnd{})
	out := filepath.Join(t.TempDir(), "d.html")
	if _, _, err := run(t, dir, damaged, "--html="+out); cmdutil.Code(err) != cmdutil.ExitDamaged {
		t.Errorf("a damaged run: %v (exit %d)", err, cmdutil.Code(err))
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("a damaged run is reported up to its damage: %v", err)
	}
}
