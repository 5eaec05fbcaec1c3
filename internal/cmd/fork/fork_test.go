package fork_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/internal/cmd/fork"
	"github.com/agentrr/agentrr/internal/cmd/internal/agentproc"
	"github.com/agentrr/agentrr/internal/cmd/internal/forkflags"
	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/cmdutil/cmdtest"
	"github.com/agentrr/agentrr/internal/storetest"
)

func TestMain(m *testing.M) {
	agentproc.Main()
	os.Exit(m.Run())
}

// The agent: seq 0 id, 1 clock, 2 llm, 3 tool lookup_order, 4 tool
// lookup_order (fails), 5 rand, 6 llm.

func forkRun(t *testing.T, opts *fork.Options) (stdout, stderr string, err error) {
	t.Helper()
	io, out, errOut := cmdtest.Streams()
	opts.IO, opts.Store = io, cmdtest.StoreFunc(opts.StorePath)
	if opts.Command == nil {
		opts.Command = agentproc.Command(agentproc.OK)
	}
	err = fork.Run(context.Background(), opts)
	return out.String(), errOut.String(), err
}

func TestForkRunsLiveAfterItsPoint(t *testing.T) {
	store, id := agentproc.Record(t)
	out, _, err := forkRun(t, &fork.Options{StorePath: store, TraceID: id, At: 5, HasAt: true})
	if err != nil || !strings.Contains(out, "fork of "+id+": exact up to the fork point — 5 of 7 boundaries served, then 2 run live\n") {
		t.Errorf("fork at 5: %v\n%s", err, out)
	}
	// A tool after the fork point is refused unless allowed: exit 7.
	out, _, err = forkRun(t, &fork.Options{StorePath: store, TraceID: id, At: 3, HasAt: true})
	if cmdutil.Code(err) != cmdutil.ExitRefused || !strings.Contains(err.Error(), `--live-tool "lookup_order"`) {
		t.Errorf("fork at 3: %v, want exit 7 naming the tool\n%s", err, out)
	}
	out, _, err = forkRun(t, &fork.Options{StorePath: store, TraceID: id, At: 3, HasAt: true, Live: forkflags.Live{Tools: []string{"lookup_order"}}})
	if err != nil || !strings.Contains(out, "then 4 run live") {
		t.Errorf("fork at 3, lookup_order allowed: %v\n%s", err, out)
	}
}

func TestForkBadInputRecordsNothing(t *testing.T) {
	store, id := agentproc.Record(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	down, bad := write("down.json", `{"error":"down"}`), write("bad.json", `{"answer": 1}`)
	for name, opts := range map[string]*fork.Options{
		"--at past the end":       {At: 7, HasAt: true},
		"--at negative":           {At: -1, HasAt: true},
		"override of no boundary": {Overrides: []string{"7=" + down}},
		"override not an answer":  {Overrides: []string{"3=" + bad}},
		"override twice":          {Overrides: []string{"3=" + down, "3=" + down}},
		"override after the fork": {At: 2, HasAt: true, Overrides: []string{"3=" + down}},
	} {
		opts.StorePath, opts.TraceID = store, id
		_, _, err := forkRun(t, opts)
		if cmdutil.Code(err) != cmdutil.ExitUsage {
			t.Errorf("%s: %v, want exit 2", name, err)
		}
	}
	if n := len(storetest.Runs(t, store)); n != 1 {
		t.Errorf("bad input recorded runs: the store holds %d", n)
	}
}

func TestForkRepeat(t *testing.T) {
	store, id := agentproc.Record(t)
	out, errOut, err := forkRun(t, &fork.Options{StorePath: store, TraceID: id, At: 2, HasAt: true, Live: forkflags.Live{All: true}, Repeat: 3})
	if err != nil {
		t.Fatalf("%v\n%s%s", err, out, errOut)
	}
	cmdtest.CheckContains(t, out,
		"fork of "+id+" at seq 2 (llm fake-gpt), 3 runs\n",
		"all 3 runs take the original's path\n",
		"all 3 runs end without an agent error\n",
	)
	// The agent's output went to stderr.
	if strings.Contains(out, "run_id:") || strings.Count(errOut, "run_id:") != 3 {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out, errOut)
	}
	if n := len(storetest.Runs(t, store)); n != 4 {
		t.Errorf("the store holds %d runs, want the original and 3 forks", n)
	}
}
