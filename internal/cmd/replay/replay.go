// Package replay implements `agentrr replay`.
package replay

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// Options are the inputs of `agentrr replay`.
type Options struct {
	IO        *cmdutil.IOStreams
	Store     func() (*spanlog.Store, error)
	StorePath string

	TraceID string
	Observe bool
	JSON    bool
	Command []string
}

// NewCmdReplay returns the replay command.
func NewCmdReplay(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Store: f.Store}
	cmd := &cobra.Command{
		Use:   "replay --from-trace <trace-id> [--observe] [--json] -- <agent command> [args...]",
		Short: "Replay a recorded run offline and report where it diverges",
		Long: `Run the agent command in replay mode: every boundary it makes (LLM call,
tool call, clock read, random draw, id) is answered from the recorded run,
with no network and no tool side effects. The agent must build its tracer
provider with otelrr.FromEnv(), which reads the replay settings this command
puts in its environment (AGENTRR_STORE, AGENTRR_REPLAY, AGENTRR_REPLAY_MODE,
AGENTRR_REPLAY_REPORT).

In strict mode (the default) the replay halts at the first boundary that
does not match the recording; --observe never halts and reports every
divergence. The report is printed when the agent exits.

Exit status: 0 faithful, 1 diverged, 2 usage or unknown run, 3 damaged run,
4 the agent failed without diverging, 6 the run is still being recorded.`,
		Example: `  agentrr replay --from-trace 4bf92f35 -- go run ./examples/deterministic_support
  agentrr replay --from-trace 4bf92f35 --observe --json -- ./bin/my-agent --task 17`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.TraceID == "" {
				return cmdutil.FlagError("--from-trace is required: the trace id (or a unique prefix) of the run to replay; list runs with: agentrr runs")
			}
			if cmd.ArgsLenAtDash() < 0 || len(args) == 0 {
				return cmdutil.FlagError("give the agent command after --, e.g. agentrr replay --from-trace %s -- go run ./examples/deterministic_support", opts.TraceID)
			}
			if cmd.ArgsLenAtDash() > 0 {
				return cmdutil.FlagError("unexpected arguments before --: %q", args[:cmd.ArgsLenAtDash()])
			}
			opts.Command = args
			opts.StorePath = f.StorePath()
			if runF != nil {
				return runF(opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.TraceID, "from-trace", "", "trace id (or unique prefix) of the recorded run to replay")
	cmd.Flags().BoolVar(&opts.Observe, "observe", false, "never halt: collect every divergence, serving recorded answers where kind and name agree")
	cmdutil.AddJSONFlag(cmd, &opts.JSON)
	return cmd
}

// Run replays the run in a child process and prints the report.
func Run(ctx context.Context, opts *Options) error {
	store, err := opts.Store()
	if err != nil {
		return err
	}
	rec, err := replayer.Load(store, opts.TraceID)
	if err != nil {
		return err
	}
	mode := replayer.Strict
	if opts.Observe {
		mode = replayer.Observe
	}
	tmp, err := os.MkdirTemp("", "agentrr-replay-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	reportPath := filepath.Join(tmp, "report.json")
	storeAbs, err := filepath.Abs(opts.StorePath)
	if err != nil {
		return err
	}

	if ctx == nil {
		ctx = context.Background()
	}
	child := exec.CommandContext(ctx, opts.Command[0], opts.Command[1:]...)
	child.Env = append(os.Environ(),
		otelrr.EnvStore+"="+storeAbs,
		otelrr.EnvReplay+"="+rec.TraceID,
		otelrr.EnvReplayMode+"="+string(mode),
		otelrr.EnvReplayReport+"="+reportPath,
	)
	child.Stdin = opts.IO.In
	child.Stdout = opts.IO.Out
	if opts.JSON {
		// Keep stdout a single JSON document.
		child.Stdout = opts.IO.ErrOut
	}
	child.Stderr = opts.IO.ErrOut
	runErr := child.Run()
	var exitErr *exec.ExitError
	if runErr != nil && !errors.As(runErr, &exitErr) {
		return cmdutil.Exit(cmdutil.ExitAgent, "could not start the agent %q: %v", opts.Command[0], runErr)
	}

	report, err := readReport(reportPath)
	if errors.Is(err, fs.ErrNotExist) {
		return cmdutil.Exit(cmdutil.ExitAgent, "the agent (%s) did not replay run %s: it never started a run in replay mode. Build its tracer provider with otelrr.NewTracerProvider(ctx, otelrr.FromEnv()) and start the run with StartRun", exitStatus(runErr), rec.TraceID)
	}
	if err != nil {
		return err
	}
	if opts.JSON {
		if err := report.WriteJSON(opts.IO.Out); err != nil {
			return err
		}
	} else if err := report.WriteTable(opts.IO.Out); err != nil {
		return err
	}
	switch {
	case !report.Faithful():
		return cmdutil.SilentExit(cmdutil.ExitDiverged)
	case runErr != nil:
		return cmdutil.Exit(cmdutil.ExitAgent, "the agent failed (%s) without diverging from the recording", exitStatus(runErr))
	case !report.Finished:
		return cmdutil.Exit(cmdutil.ExitAgent, "the agent exited without ending its run (Run.End was not called)")
	}
	return nil
}

func readReport(path string) (*analyze.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return analyze.ReadReport(io.Reader(f))
}

func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}
