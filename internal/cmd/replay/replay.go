// Package replay implements `agentrr replay`: loading the recording (from
// the store, Jaeger or a file) and replaying it in the agent (agentrun).
package replay

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/agentrr/agentrr/internal/cmd/internal/agentrun"
	"github.com/agentrr/agentrr/internal/cmd/internal/forkflags"
	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/handshake"
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
	// UntilSeq, when HasUntil is set, stops the replay once boundaries
	// 0..UntilSeq have been served (--until-seq).
	UntilSeq int64
	HasUntil bool
	// Jaeger is the base URL of a Jaeger query service to fetch the trace
	// from (--jaeger); FromFile an OTLP JSON file holding it (--from-file).
	// With either, the recording does not come from the store.
	Jaeger   string
	FromFile string
	// Chaos, when set, perturbs the agent's scheduling with this seed
	// (--chaos[=SEED]; replayer.WithChaos).
	Chaos *uint64
	// ContinueLive goes on live from the first divergence
	// (--continue-live; replayer.ContinueLive), running live the tools
	// Live allows.
	ContinueLive bool
	Live         forkflags.Live
	// Proxy replays through agentrr's proxy (--proxy): the agent, in any
	// language, is pointed at it by base URL (see proxy.go).
	Proxy bool
}

// NewCmdReplay returns the replay command.
func NewCmdReplay(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Store: f.Store}
	var chaos string
	cmd := &cobra.Command{
		Use:   "replay [<trace-id> | --from-trace <trace-id>] [--observe] [--until-seq N] [--json] [-- <agent command> [args...]]",
		Short: "Replay a recorded run offline and report where it diverges",
		Long: `Run the agent again in replay mode: every boundary it makes (LLM call,
tool call, clock read, random draw, id) is answered from the recorded run,
with no network and no tool side effects. The agent must build its tracer
provider with otelrr.FromEnv(), which reads the replay settings this command
puts in its environment (AGENTRR_STORE, AGENTRR_REPLAY, AGENTRR_REPLAY_MODE,
AGENTRR_REPLAY_REPORT, AGENTRR_REPLAY_UNTIL).

Without a command after --, the command the run was recorded with is run
again: its executable, with its recorded arguments (secrets in them were
redacted when it was recorded), in the directory it was started in, with
this shell's environment (a run records no environment). A command after
-- is run instead. An agent started by go run has no executable left to
run: give the command after -- (e.g. -- go run ./cmd/agent).

In strict mode (the default) the replay halts at the first boundary that
does not match the recording; --observe never halts and reports every
divergence. The report is printed when the agent exits; it also says
whether the agent's code changed since the recording.

--until-seq N replays boundaries 0..N only: when the agent asks for
boundary N+1 it is stopped (its boundary call returns an error matching
replayer.ErrStopped), and the command prints the boundaries replayed and the
pending request at N+1, without serving it.

--chaos[=SEED] perturbs the agent's scheduling while it replays, as rr's
chaos mode does: each boundary's answer is held back by a delay drawn from
the seed and the boundary's branch and index, sibling branches in an order
the seed shuffles, so an agent whose behaviour depends on which goroutine
finishes first diverges under some seeds. Without a value a seed is drawn
and printed; give it back to reproduce the same perturbation. Replay a few
times with --chaos to look for timing-dependent behaviour.

With branches (otelrr.Branch, otelrr.Go), --until-seq N serves what the
recording holds up to seq N in every branch: a branch whose next boundary
was recorded after seq N is stopped, the others go on to that point.

--jaeger URL fetches the trace from a Jaeger query service (API v3) and
--from-file PATH reads it from an OTLP JSON file. With --jaeger,
--from-trace needs the whole trace id; with --from-file a unique prefix will
do, and --from-trace may be left out when the file holds one run.
The trace is checked first: one whose boundary spans are not all there and
whole (dropped by sampling, cut when forwarded, missing agentrr.seq) is
refused (exit 3), naming the boundaries. The agent gets it as an OTLP JSON
file in AGENTRR_REPLAY_FILE; the replayed run is recorded into the store.

--continue-live replays strictly up to the first divergence (you edited
the prompt, changed the model), then goes on live from that boundary, as
agentrr fork does: the model is asked, clock, random and id boundaries are
fresh, and tools run only when allowed by name (--live-tool NAME, repeat for
more) or all at once (--live-tools); a tool that is not allowed is not
called, the agent's call fails, and the exit status is 7. The fork is
recorded as a new run linked to the original.

Exit status: 0 faithful (up to N with --until-seq), 1 diverged, 2 usage or
unknown run, 3 damaged run, 4 the agent failed without diverging, 6 the run
is still being recorded, 7 a tool was not allowed to run live.`,
		Example: `  agentrr replay 4bf92f35
  agentrr replay --from-trace 4bf92f35 -- go run ./examples/deterministic_support
  agentrr replay --from-trace 4bf92f35 --until-seq 3 -- ./bin/my-agent
  agentrr replay --from-trace 4bf92f35 --chaos -- ./bin/my-agent
  agentrr replay --from-trace 4bf92f35 --chaos=1234 -- ./bin/my-agent
  agentrr replay --from-trace 4bf92f35 --continue-live --live-tool lookup_order -- ./bin/my-agent-edited
  agentrr replay --from-trace 4bf92f35 --observe --json -- ./bin/my-agent --task 17
  agentrr replay --from-trace 4bf92f35aa8c2b4e1bd07f7b8d5c3a1e --jaeger http://127.0.0.1:16686 -- ./bin/my-agent`,
		RunE: func(cmd *cobra.Command, args []string) error {
			command, err := replayArgs(cmd, args, opts)
			if err != nil {
				return err
			}
			opts.HasUntil = cmd.Flags().Changed("until-seq")
			if opts.HasUntil && opts.UntilSeq < 0 {
				return cmdutil.FlagError("--until-seq must be 0 or more, not %d (the last boundary to serve)", opts.UntilSeq)
			}
			if err := checkContinueLive(opts); err != nil {
				return err
			}
			if cmd.Flags().Changed("chaos") {
				seed, err := ParseChaos(chaos)
				if err != nil {
					return err
				}
				opts.Chaos = &seed
			}
			opts.Command = command
			opts.StorePath = f.StorePath()
			if runF != nil {
				return runF(opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.TraceID, "from-trace", "", "trace id (or unique prefix) of the recorded run to replay")
	cmd.Flags().BoolVar(&opts.Observe, "observe", false, "never halt: collect every divergence, serving recorded answers where kind and name agree")
	cmd.Flags().Int64Var(&opts.UntilSeq, "until-seq", 0, "serve boundaries 0..`N`, then stop the agent and show the pending request at N+1")
	cmd.Flags().StringVar(&chaos, "chaos", "", "perturb the agent's scheduling with `SEED` (drawn and printed when left out) to catch timing-dependent agents")
	cmd.Flags().Lookup("chaos").NoOptDefVal = chaosRandom
	cmd.Flags().StringVar(&opts.Jaeger, "jaeger", "", "fetch the trace from the Jaeger query service at `url` (e.g. http://127.0.0.1:16686) instead of the store")
	cmd.Flags().StringVar(&opts.FromFile, "from-file", "", "read the trace from an OTLP JSON `file` (e.g. written by a Collector's file exporter) instead of the store")
	cmd.MarkFlagsMutuallyExclusive("jaeger", "from-file")
	cmd.Flags().BoolVar(&opts.ContinueLive, "continue-live", false, "at the first divergence, go on live instead of halting: a fork (see agentrr fork)")
	opts.Live.AddFlags(cmd)
	addProxyFlag(cmd, opts)
	cmdutil.AddJSONFlag(cmd, &opts.JSON)
	return cmd
}

// replayArgs reads replay's arguments: the run (an argument before --, or
// --from-trace) and the agent command after -- (nil: the recorded one).
func replayArgs(cmd *cobra.Command, args []string, opts *Options) ([]string, error) {
	before, command := args, []string(nil)
	if dash := cmd.ArgsLenAtDash(); dash >= 0 {
		before, command = args[:dash], args[dash:]
		if len(command) == 0 {
			return nil, cmdutil.FlagError("nothing after --: give the agent command there, or leave -- out to run the command the run was recorded with")
		}
	}
	switch {
	case len(before) > 1:
		return nil, cmdutil.FlagError("unexpected arguments %q: give one run (an id or a unique prefix), and the agent command after --", before[1:])
	case len(before) == 1 && opts.TraceID != "" && before[0] != opts.TraceID:
		return nil, cmdutil.FlagError("two runs given: %s and --from-trace %s", before[0], opts.TraceID)
	case len(before) == 1:
		opts.TraceID = before[0]
	}
	if opts.TraceID == "" && opts.FromFile == "" {
		return nil, cmdutil.FlagError("give the run to replay: agentrr replay <trace-id> (or a unique prefix; list runs with: agentrr runs)")
	}
	return command, nil
}

// Run replays the run in a child process and prints the report.
func Run(ctx context.Context, opts *Options) error {
	rec, recEnv, cleanup, err := LoadRecording(ctx, opts)
	if err != nil {
		return err
	}
	defer cleanup()
	mode := replayer.Strict
	if opts.Observe {
		mode = replayer.Observe
	}
	command, dir := opts.Command, ""
	if len(command) == 0 {
		if command, dir, err = agentrun.RecordedCommand(rec.TraceID, rec.Info.Command, opts.IO.ErrOut); err != nil {
			return err
		}
	}
	if opts.Proxy {
		// The proxy serves the recording itself: it needs every boundary.
		if rec, err = fullRecording(opts, rec); err != nil {
			return err
		}
		o := *opts
		o.Command = command
		return runProxy(ctx, &o, rec, mode)
	}
	child := &agentrun.Child{
		Recording: rec,
		StorePath: opts.StorePath,
		Mode:      mode,
		Command:   command,
		Dir:       dir,
		Env:       recEnv,
	}
	child.Stdin, child.Stdout, child.Stderr = opts.IO.ChildStreams(opts.JSON)
	if opts.HasUntil {
		if last := rec.Info.Boundaries - 1; opts.UntilSeq >= last {
			fmt.Fprintf(opts.IO.ErrOut, "agentrr: --until-seq %d is at or past the last boundary of run %s (seq %d): replaying the whole run\n", opts.UntilSeq, rec.TraceID, last)
		}
		child.Env = append(child.Env, handshake.EnvReplayUntil+"="+strconv.FormatInt(opts.UntilSeq, 10))
	}
	if opts.ContinueLive {
		child.Env = append(append(child.Env, forkflags.ContinueLiveEnv()...), opts.Live.Env()...)
	}
	if opts.Chaos != nil {
		fmt.Fprintf(opts.IO.ErrOut, "agentrr: chaos mode, seed %d (replay again with --chaos=%d to perturb the same way)\n", *opts.Chaos, *opts.Chaos)
		child.Env = append(child.Env, handshake.EnvReplayChaos+"="+strconv.FormatUint(*opts.Chaos, 10))
	}
	report, runErr, err := agentrun.RunChild(ctx, child)
	if err != nil {
		// The recording was checked whole by the agent only: one it
		// refused gets the verdict a full read gives it here.
		if lerr := FullCheck(opts, rec); lerr != nil {
			return lerr
		}
		return err
	}
	if report.Stopped != nil && !opts.JSON {
		if len(rec.Records) == 0 && rec.Info.Boundaries > 0 {
			if rec, err = fullRecording(opts, rec); err != nil {
				return err
			}
		}
		if err := agentrun.WriteReplayed(opts.IO.Out, rec, report.Stopped.Seq); err != nil {
			return err
		}
		fmt.Fprintln(opts.IO.Out)
	}
	return agentrun.Conclude(opts.IO, report, runErr, opts.JSON)
}

// checkContinueLive checks --continue-live and the flags that go with it.
func checkContinueLive(opts *Options) error {
	switch {
	case opts.Live.Set() && !opts.ContinueLive:
		return cmdutil.FlagError("--live-tool and --live-tools go with --continue-live (or agentrr fork): without it nothing runs live")
	case opts.ContinueLive && opts.Observe:
		return cmdutil.FlagError("--continue-live and --observe do not go together: --continue-live replays strictly up to the first divergence, then goes on live")
	case opts.ContinueLive && opts.HasUntil:
		return cmdutil.FlagError("--continue-live and --until-seq do not go together")
	case opts.ContinueLive && opts.Proxy:
		return cmdutil.FlagError("--continue-live and --proxy do not go together yet: the proxy replays strictly (fork a Go agent's run with agentrr fork)")
	}
	return opts.Live.Check()
}

// chaosRandom is the value of a bare --chaos: draw a seed.
const chaosRandom = "random"

// ParseChaos parses the value of --chaos: a seed, or chaosRandom for a
// seed drawn now.
func ParseChaos(v string) (uint64, error) {
	if v == chaosRandom {
		return rand.Uint64N(1 << 32), nil // short enough to type back
	}
	seed, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, cmdutil.FlagError("--chaos=%q: want a seed (an unsigned integer), or --chaos alone to draw one", v)
	}
	return seed, nil
}
