// Package fork implements `agentrr fork`: replay a recorded run exactly up
// to a point, or with an answer changed, then go on live — once, or K
// times to see how often the live tail takes which path.
package fork

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/internal/cmd/internal/agentrun"
	"github.com/agentrr/agentrr/internal/cmd/internal/forkflags"
	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/handshake"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// Options are the inputs of `agentrr fork`.
type Options struct {
	IO        *cmdutil.IOStreams
	Store     func() (*spanlog.Store, error)
	StorePath string

	TraceID string
	// At is the fork point (--at), when HasAt is set.
	At    int64
	HasAt bool
	// Overrides are the --override arguments, SEQ=FILE.
	Overrides []string
	Live      forkflags.Live
	// Repeat is how many times to run the live tail (--repeat); 0 runs it
	// once and prints the fork's report instead of the comparison table.
	Repeat  int
	JSON    bool
	Command []string
}

// NewCmdFork returns the fork command. runF, if not nil, replaces the
// command's logic (for tests).
func NewCmdFork(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Store: f.Store}
	cmd := &cobra.Command{
		Use:   "fork --from-trace <trace-id> (--at N | --override SEQ=FILE...) [--live-tool NAME]... [--live-tools] [--repeat K] [--json] -- <agent command> [args...]",
		Short: "Replay a run exactly up to a point, then go on live",
		Long: `Run the agent command as agentrr replay does, but only up to a fork point:
boundaries before it are served from the recorded run, strictly and
signature-checked (a divergence before the fork point is reported, and
halts, as in a replay); from the fork point on, the agent runs live and its
boundaries are recorded into a new run linked to the original (its
forked_from, shown by agentrr runs, show and diff, and a span link in
Jaeger).

--at N forks at the boundary recorded at seq N (as agentrr show numbers
them): the first boundary the agent asks for that was recorded at or after
N runs live, and so does everything after it.

--override SEQ=FILE serves the answer in FILE at the boundary recorded at
SEQ instead of the recorded one ("what if the tool had returned this?"),
without changing the agent's code. FILE holds {"response": <the answer as
JSON>} (for the shape of a boundary's answer, see the "response" field of
agentrr inspect <trace-id> --seq SEQ --json) or {"error": "<text>"} (the
call fails with that text). The agent may then take another path: the
boundaries that still match the recording are served, the first that does
not is the fork point. Give --override more than once for several
boundaries; with --at, each must be before the fork point.

After the fork point LLM calls go live (they need the agent's keys and
network, as when recording) and clock, random and id boundaries are
fresh. Tools have side effects: one runs live only when allowed by name,
--live-tool NAME (repeat for more; an HTTP exchange other than an LLM call
is named "METHOD /path"), or all of them with --live-tools. A tool that is
not allowed is not called: its call fails with an error naming it and the
flag, and the exit status is 7.

--repeat K runs the live tail K times, each its own run linked to the
original, and prints a table instead of the report: for each run, the
first boundary where its path (the boundaries made, the arguments of its
tool calls, which calls failed) leaves the original's and the other runs',
and how it ended; then a summary, such as "7 of 10 runs no longer call
` + "`issue_refund`" + `". The agent's output goes to stderr. --json writes the
report (one fork) or the comparison (--repeat) as JSON.

Bad input (a fork point or override that names no boundary of the run, an
override file that is not JSON) is refused before the agent starts:
nothing is recorded. agentrr replay --continue-live forks at the first
divergence instead.

Exit status: 0 exact up to the fork point and the agent ended its run,
1 diverged before the fork point, 2 usage, unknown run or bad input,
3 damaged run, 4 the agent failed, 6 the run is still being recorded, 7 a
tool was not allowed to run live. With --repeat, the worst over the runs:
1, then 7, then 4.`,
		Example: `  agentrr fork --from-trace 4bf92f35 --at 4 -- ./bin/my-agent
  agentrr fork --from-trace 4bf92f35 --at 4 --live-tool lookup_order -- ./bin/my-agent
  agentrr fork --from-trace 4bf92f35 --override 3=refund-failed.json --live-tools -- ./bin/my-agent
  agentrr fork --from-trace 4bf92f35 --at 2 --repeat 10 -- ./bin/my-agent-fixed`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := agentrun.CheckCommand(cmd, args, opts.TraceID); err != nil {
				return err
			}
			opts.HasAt = cmd.Flags().Changed("at")
			switch {
			case opts.HasAt && opts.At < 0:
				return cmdutil.FlagError("--at must be 0 or more, not %d (the seq of a boundary, as agentrr show %s numbers them)", opts.At, opts.TraceID)
			case !opts.HasAt && len(opts.Overrides) == 0:
				return cmdutil.FlagError("give the fork point with --at N, or an answer to change with --override SEQ=FILE (agentrr replay --continue-live forks at the first divergence)")
			case cmd.Flags().Changed("repeat") && opts.Repeat < 1:
				return cmdutil.FlagError("--repeat must be 1 or more, not %d", opts.Repeat)
			}
			if err := opts.Live.Check(); err != nil {
				return err
			}
			opts.Command = args
			opts.StorePath = f.StorePath()
			if runF != nil {
				return runF(opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.TraceID, "from-trace", "", "trace id (or unique prefix) of the recorded run to fork")
	cmd.Flags().Int64Var(&opts.At, "at", 0, "fork at the boundary recorded at seq `N`: it and every later one run live")
	cmd.Flags().StringArrayVar(&opts.Overrides, "override", nil, "serve the answer in `SEQ=FILE` at seq SEQ instead of the recorded one (repeatable)")
	opts.Live.AddFlags(cmd)
	cmd.Flags().IntVar(&opts.Repeat, "repeat", 0, "run the live tail `K` times and compare the runs")
	cmdutil.AddJSONFlag(cmd, &opts.JSON)
	return cmd
}

// Run forks the run in a child process (or Repeat of them, one after the
// other) and prints the report (or the comparison).
func Run(ctx context.Context, opts *Options) error {
	store, rec, err := cmdutil.LoadRecording(opts.Store, opts.TraceID)
	if err != nil {
		return err
	}
	overrides, err := readOverrides(opts.Overrides)
	if err != nil {
		return err
	}
	// Everything is checked before the agent starts, so bad input records
	// nothing.
	var ropts []replayer.Option
	if opts.HasAt {
		ropts = append(ropts, replayer.ForkAt(opts.At))
	}
	for seq, o := range overrides {
		ropts = append(ropts, replayer.WithOverride(seq, o))
	}
	ropts = append(ropts, opts.Live.Options()...)
	if err := replayer.CheckOptions(rec, ropts...); err != nil {
		return cmdutil.FlagError("%v", err)
	}
	env, cleanup, err := forkEnv(opts, overrides)
	if err != nil {
		return err
	}
	defer cleanup()
	child := &agentrun.Child{
		Recording: rec,
		StorePath: opts.StorePath,
		Mode:      replayer.Strict,
		Command:   opts.Command,
		Stdin:     opts.IO.In,
		Stdout:    opts.IO.Out,
		Stderr:    opts.IO.ErrOut,
		Env:       env,
	}
	if opts.Repeat == 0 {
		if opts.JSON {
			child.Stdout = opts.IO.ErrOut // keep stdout one JSON document
		}
		report, runErr, err := agentrun.RunChild(ctx, child)
		if err != nil {
			return err
		}
		return agentrun.Conclude(opts.IO, report, runErr, opts.JSON)
	}
	return repeat(ctx, opts, store, rec, child)
}

// repeat runs the fork opts.Repeat times and prints the comparison.
func repeat(ctx context.Context, opts *Options, store *spanlog.Store, rec *replayer.Recording, child *agentrun.Child) error {
	// The runs' output would mix with the table: it goes to stderr. Each
	// run gets the null device for stdin.
	child.Stdin, child.Stdout = nil, opts.IO.ErrOut
	runs := make([]analyze.Repeat, 0, opts.Repeat)
	failed := 0
	for i := range opts.Repeat {
		fmt.Fprintf(opts.IO.ErrOut, "agentrr: fork run %d of %d\n", i+1, opts.Repeat)
		report, runErr, err := agentrun.RunChild(ctx, child)
		if err != nil {
			return err
		}
		if runErr != nil || !report.Finished {
			failed++
		}
		r := analyze.Repeat{Report: report}
		if report.ReplayTrace != "" {
			run, err := store.ReadRun(report.ReplayTrace)
			if err != nil {
				return fmt.Errorf("fork run %d of %d: %w", i+1, opts.Repeat, err)
			}
			r.Records = run.Records
		}
		runs = append(runs, r)
	}
	c := analyze.CompareRepeats(rec.Records, runs)
	if err := cmdutil.WriteReport(opts.IO.Out, opts.JSON, c); err != nil {
		return err
	}
	s := c.Summary
	switch {
	case s.Diverged > 0:
		return cmdutil.SilentExit(cmdutil.ExitDiverged)
	case s.Refused > 0:
		names := map[string]bool{}
		var list []string
		for _, run := range c.Runs {
			for _, l := range run.Refused {
				if !names[l.Name] {
					names[l.Name] = true
					list = append(list, strconv.Quote(l.Name))
				}
			}
		}
		return cmdutil.Exit(cmdutil.ExitRefused, "fork: %d of %d runs asked for a tool not allowed to run live (%s), which was not called (allow one with --live-tool NAME, or every tool with --live-tools)",
			s.Refused, s.Runs, strings.Join(list, ", "))
	case failed > 0:
		return cmdutil.Exit(cmdutil.ExitAgent, "fork: the agent failed in %d of %d runs", failed, s.Runs)
	}
	return nil
}

// readOverrides reads the --override arguments, SEQ=FILE, into overrides
// by seq. Every error is a usage error: nothing has run yet.
func readOverrides(args []string) (map[int64]replayer.Override, error) {
	out := map[int64]replayer.Override{}
	for _, arg := range args {
		seqText, file, ok := strings.Cut(arg, "=")
		seq, err := strconv.ParseInt(seqText, 10, 64)
		if !ok || err != nil || file == "" {
			return nil, cmdutil.FlagError("--override %q: want SEQ=FILE, a boundary's seq and a file holding its answer (e.g. --override 3=answer.json)", arg)
		}
		if _, dup := out[seq]; dup {
			return nil, cmdutil.FlagError("--override: seq %d is overridden twice", seq)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, cmdutil.FlagError("--override %s: %v", arg, err)
		}
		o, err := replayer.ParseOverride(data)
		if err != nil {
			return nil, cmdutil.FlagError("--override %s: %s: %v", arg, file, err)
		}
		out[seq] = o
	}
	return out, nil
}

// forkEnv is the environment that hands the fork settings to the agent;
// cleanup removes the overrides file it may write.
func forkEnv(opts *Options, overrides map[int64]replayer.Override) (env []string, cleanup func(), err error) {
	cleanup = func() {}
	if opts.HasAt {
		env = append(env, handshake.EnvReplayForkAt+"="+strconv.FormatInt(opts.At, 10))
	}
	if len(overrides) > 0 {
		// Owner-only (CreateTemp's 0600): an answer may hold what the
		// recording holds.
		f, err := os.CreateTemp("", "agentrr-overrides-*.json")
		if err != nil {
			return nil, cleanup, err
		}
		cleanup = func() { os.Remove(f.Name()) }
		err = json.NewEncoder(f).Encode(overrides)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			cleanup()
			return nil, func() {}, fmt.Errorf("write the overrides for the agent: %w", err)
		}
		env = append(env, handshake.EnvReplayOverrides+"="+f.Name())
	}
	return append(env, opts.Live.Env()...), cleanup, nil
}
