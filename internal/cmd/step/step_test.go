package step_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/internal/cmd/internal/agentproc"
	"github.com/agentrr/agentrr/internal/cmd/step"
	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/cmdutil/cmdtest"
)

func TestMain(m *testing.M) {
	agentproc.Main()
	os.Exit(m.Run())
}

func recordRun(t *testing.T) (store, id string) { return agentproc.Record(t) }

// stepThrough steps through the replay of run id by the agent in mode,
// with the commands in script on standard input.
func stepThrough(t *testing.T, store, id, mode, script string) (string, error) {
	t.Helper()
	io, out, errOut := cmdtest.Streams()
	io.In = strings.NewReader(script)
	err := step.Run(context.Background(), &step.Options{
		IO: io, Store: cmdtest.StoreFunc(store), StorePath: store,
		TraceID: id, Command: agentproc.Command(mode), Script: true,
	})
	t.Logf("stdout:\n%s\nstderr:\n%s", out, errOut)
	return out.String(), err
}

const prompt = "next / continue / quit [n/c/q, Enter = next]> "

func TestStepScriptedSession(t *testing.T) {
	store, id := recordRun(t)
	out, err := stepThrough(t, store, id, agentproc.OK, "n\n\nskip\nq\n")
	if err != nil {
		t.Fatalf("step: %v", err)
	}
	for _, want := range []string{
		"seq 0 of 0..6  id uuid  (matches the recording)\nrequest:\n  null\nrecorded response:\n  \"",
		"\n" + prompt + "n\n",
		"seq 1 of 0..6  clock now  (matches the recording)\n",
		"\n" + prompt + "\n", // Enter: next
		"seq 2 of 0..6  llm fake-gpt  (matches the recording)\nrequest:\n  {\n    \"messages\": [\n",
		"recorded response:\n  {\n    \"input_tokens\": 12,\n",
		prompt + "skip\n\"skip\" is not a step command: type n (next), c (continue) or q (quit)\n" + prompt + "q\n",
		"faithful — 2 of 7 boundaries served, stopped before seq 2 (quit while stepping)\n",
		"pending at seq 2 (not served): llm fake-gpt, matches the recording\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("session lacks %q", want)
		}
	}
	// One step per boundary reached, none after the quit.
	if n := strings.Count(out, "\nseq "); n != 3 {
		t.Errorf("%d steps shown, want 3", n)
	}
}

func TestStepEndOfInputContinues(t *testing.T) {
	store, id := recordRun(t)
	out, err := stepThrough(t, store, id, agentproc.OK, "n\n")
	if err != nil {
		t.Fatalf("step: %v", err)
	}
	if !strings.Contains(out, prompt+"(end of input: continue)\n") || !strings.Contains(out, "faithful — 7 of 7 boundaries served") {
		t.Errorf("end of input did not continue to a faithful end:\n%s", out)
	}
	if n := strings.Count(out, "\nseq "); n != 2 {
		t.Errorf("%d steps shown, want 2 (none after continue)", n)
	}
}

func TestStepContinue(t *testing.T) {
	store, id := recordRun(t)
	out, err := stepThrough(t, store, id, agentproc.OK, "c\nq\n")
	if err != nil || strings.Count(out, "\nseq ") != 1 || !strings.Contains(out, "faithful — 7 of 7") {
		t.Errorf("continue: %v\n%s", err, out)
	}
}

func TestStepShowsTheDivergenceBeforeServingIt(t *testing.T) {
	store, id := recordRun(t)
	out, err := stepThrough(t, store, id, agentproc.EditOK, "n\nn\nn\n")
	if cmdutil.Code(err) != cmdutil.ExitDiverged {
		t.Errorf("step into a divergence: %v, want exit %d", err, cmdutil.ExitDiverged)
	}
	for _, want := range []string{
		"seq 2 of 0..6  llm fake-gpt  (DIVERGES: signature-mismatch)\n  messages[0].content: \"You are a helpful support agent.\" → \"You are a terse support agent.\"\n",
		"halted at seq 2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("session lacks %q", want)
		}
	}
}

func TestStepCutsLongPayloads(t *testing.T) {
	store, id := recordRun(t)
	out, _ := stepThrough(t, store, id, agentproc.OK, "n\nn\nn\nn\nn\nn\nq\n")
	// The second LLM request has more lines than a step shows.
	if !strings.Contains(out, "(cut to fit: agentrr inspect "+id+" --seq 6 shows it whole)") {
		t.Errorf("no hint for the cut payload at seq 6:\n%s", out)
	}
}

func TestStepFlags(t *testing.T) {
	var got *step.Options
	io, _, _ := cmdtest.Streams()
	cmd := step.NewCmdStep(&cmdutil.Factory{IO: io}, func(o *step.Options) error { got = o; return nil })
	cmd.SetArgs([]string{"--from-trace", "abc", "--", "agent", "--flag"})
	if err := cmd.Execute(); err != nil || got.TraceID != "abc" || strings.Join(got.Command, " ") != "agent --flag" || !got.Script {
		t.Errorf("step flags: %v %+v (commands from a non-terminal are a script)", err, got)
	}
	cmd = step.NewCmdStep(&cmdutil.Factory{IO: io}, func(*step.Options) error { return nil })
	cmd.SetArgs([]string{"--", "agent"})
	cmd.SetErr(io.ErrOut)
	if err := cmd.Execute(); cmdutil.Code(err) != cmdutil.ExitUsage {
		t.Errorf("no --from-trace: %v", err)
	}
}
