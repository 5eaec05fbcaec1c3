// Package agentproc lets a command's test binary double as an agent
// process: the tests of record, replay and step run the agent they drive
// as a real child process (the test binary itself), built with
// otelrr.FromEnv exactly as a user's agent is.
package agentproc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/agentrr/agentrr/internal/cmdutil/cmdtest"
	"github.com/agentrr/agentrr/otelrr"
)

// arg is the first argument that makes the test binary an agent.
const arg = "agentrr-test-agent"

// Prompts of the agent: Prompt records, Edited is the same agent with its
// system prompt changed.
const (
	Prompt = "You are a helpful support agent."
	Edited = "You are a terse support agent."
)

// Modes of the agent process.
const (
	OK     = "ok"     // one run of cmdtest.Agent(Prompt); exit 0
	EditOK = "edited" // the same with Edited
	Fail   = "fail"   // one run, then exit 3
	NoRun  = "norun"  // no run at all; exit 0
	Two    = "two"    // two runs
)

// Command returns the command line running the agent in mode.
func Command(mode string) []string { return []string{os.Args[0], arg, mode} }

// Main runs the agent when the process was started by Command; call it
// first thing in TestMain. It does not return then.
func Main() {
	if len(os.Args) < 3 || os.Args[1] != arg {
		return
	}
	os.Exit(run(os.Args[2]))
}

func run(mode string) int {
	if mode == NoRun {
		fmt.Println("this agent records nothing")
		return 0
	}
	ctx := context.Background()
	tp, err := otelrr.NewTracerProvider(ctx, otelrr.FromEnv(), otelrr.WithServiceName("agentproc"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer tp.Shutdown(ctx)
	runs := 1
	if mode == Two {
		runs = 2
	}
	prompt := Prompt
	if mode == EditOK {
		prompt = Edited
	}
	for range runs {
		rctx, run, err := tp.StartRun(ctx, "support")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("run_id: %s\n", run.TraceID())
		agentErr := cmdtest.Agent(prompt)(rctx)
		if err := run.End(agentErr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if agentErr != nil {
			fmt.Fprintln(os.Stderr, "agent:", agentErr)
			return 1
		}
	}
	if mode == Fail {
		fmt.Fprintln(os.Stderr, "agent: giving up after the run")
		return 3
	}
	fmt.Println("done")
	return 0
}

// Record runs the agent process once in mode OK against a new store in a
// temporary directory and returns the store and the id of the run it
// recorded. Failures fail t.
func Record(t testing.TB) (store, id string) {
	t.Helper()
	store = filepath.Join(t.TempDir(), "store")
	argv := Command(OK)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "AGENTRR_STORE="+store)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("recording agent: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`run_id: ([0-9a-f]{32})`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no run_id in %s", out)
	}
	return store, string(m[1])
}
