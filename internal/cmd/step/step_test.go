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

// TestStepSessions steps through replays of one recorded run, each with
// its own commands on standard input.
func TestStepSessions(t *testing.T) {
	store, id := agentproc.Record(t)
	for _, tc := range []struct {
		name, mode, script string
		code               int // the exit status wanted
		steps              int // the steps shown, one per boundary reached
		want               []string
	}{
		// No step after the quit.
		{"scripted session", agentproc.OK, "n\n\nskip\nq\n", 0, 3, []string{
			"seq 0 of 0..6  id uuid  (matches the recording)\nrequest:\n  null\nrecorded response:\n  \"",
			"\n" + prompt + "n\n",
			"seq 1 of 0..6  clock now  (matches the recording)\n",
			"\n" + prompt + "\n", // Enter: next
			"seq 2 of 0..6  llm fake-gpt  (matches the recording)\nrequest:\n  {\n    \"messages\": [\n",
			"recorded response:\n  {\n    \"input_tokens\": 12,\n",
			prompt + "skip\n\"skip\" is not a step command: type n (next), c (continue) or q (quit)\n" + prompt + "q\n",
			"faithful — 2 of 7 boundaries served, stopped before seq 2 (quit while stepping)\n",
			"pending at seq 2 (not served): llm fake-gpt, matches the recording\n",
		}},
		// The end of input continues to a faithful end, with no steps
		// after it.
		{"end of input continues", agentproc.OK, "n\n", 0, 2, []string{
			prompt + "(end of input: continue)\n",
			"faithful — 7 of 7 boundaries served",
		}},
		{"continue", agentproc.OK, "c\nq\n", 0, 1, []string{"faithful — 7 of 7"}},
		{"divergence shown before it is served", agentproc.EditOK, "n\nn\nn\n", cmdutil.ExitDiverged, 3, []string{
			"seq 2 of 0..6  llm fake-gpt  (DIVERGES: signature-mismatch)\n  messages[0].content: \"You are a helpful support agent.\" → \"You are a terse support agent.\"\n",
			"halted at seq 2",
		}},
		// The second LLM request has more lines than a step shows.
		{"long payloads cut", agentproc.OK, "n\nn\nn\nn\nn\nn\nq\n", 0, 7, []string{
			"(cut to fit: agentrr inspect " + id + " --seq 6 shows it whole)",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := stepThrough(t, store, id, tc.mode, tc.script)
			if cmdutil.Code(err) != tc.code {
				t.Errorf("step: %v, want exit %d", err, tc.code)
			}
			cmdtest.CheckContains(t, out, tc.want...)
			if n := strings.Count(out, "\nseq "); n != tc.steps {
				t.Errorf("%d steps shown, want %d", n, tc.steps)
			}
		})
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
