// Package root assembles the agentrr command tree.
package root

import (
	"github.com/spf13/cobra"

	"github.com/agentrr/agentrr/internal/cmd/collect"
	diffcmd "github.com/agentrr/agentrr/internal/cmd/diff"
	exportcmd "github.com/agentrr/agentrr/internal/cmd/export"
	"github.com/agentrr/agentrr/internal/cmd/fork"
	"github.com/agentrr/agentrr/internal/cmd/gc"
	importcmd "github.com/agentrr/agentrr/internal/cmd/import"
	"github.com/agentrr/agentrr/internal/cmd/inspect"
	proxycmd "github.com/agentrr/agentrr/internal/cmd/proxy"
	"github.com/agentrr/agentrr/internal/cmd/record"
	"github.com/agentrr/agentrr/internal/cmd/replay"
	"github.com/agentrr/agentrr/internal/cmd/report"
	"github.com/agentrr/agentrr/internal/cmd/rm"
	"github.com/agentrr/agentrr/internal/cmd/runs"
	"github.com/agentrr/agentrr/internal/cmd/show"
	"github.com/agentrr/agentrr/internal/cmd/step"
	testcmd "github.com/agentrr/agentrr/internal/cmd/test"
	"github.com/agentrr/agentrr/internal/cmd/verify"
	versioncmd "github.com/agentrr/agentrr/internal/cmd/version"
	viewcmd "github.com/agentrr/agentrr/internal/cmd/view"
	"github.com/agentrr/agentrr/internal/cmd/why"
	"github.com/agentrr/agentrr/internal/cmdutil"
)

// NewCmdRoot returns the agentrr root command.
func NewCmdRoot(f *cmdutil.Factory, version string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agentrr <command>",
		Short: "Record and replay AI agent runs, rr-style, on OpenTelemetry",
		Long: `agentrr records every nondeterministic boundary an agent crosses (LLM calls,
tool calls, clock reads, random draws, ids) as OpenTelemetry spans committed
durably to an embedded Pebble store, and replays a run offline, halting at
the first boundary where behaviour diverges. A fork replays a run exactly up
to a point, then goes on live.

The store is .agentrr in the working directory unless --store or
AGENTRR_STORE says otherwise. Runs are named by their trace id; any unique
prefix of it will do.

Exit status:
  0  success (a replay was faithful)
  1  a replay diverged from its recording (diff: the runs differ; test: a
     recording was not replayed faithfully)
  2  usage error, unknown or ambiguous run, no store
  3  a damaged run or store
  4  the agent failed without diverging
  5  verify: the run is truncated (a whole prefix of a run)
  6  the run is still being recorded
  7  a fork refused to run a tool live (allow it with --live-tool NAME)`,
		Version:       version,
		Args:          cmdutil.UnknownCommand,
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	cmd.SetIn(f.IO.In)
	cmd.SetOut(f.IO.Out)
	cmd.SetErr(f.IO.ErrOut)
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return cmdutil.FlagError("%v (see %s --help)", err, c.CommandPath())
	})
	cmdutil.AddStoreFlag(cmd, f)
	cmd.AddCommand(runs.NewCmdRuns(f, nil))
	cmd.AddCommand(record.NewCmdRecord(f, nil))
	cmd.AddCommand(replay.NewCmdReplay(f, nil))
	cmd.AddCommand(step.NewCmdStep(f, nil))
	cmd.AddCommand(testcmd.NewCmdTest(f, nil))
	cmd.AddCommand(fork.NewCmdFork(f, nil))
	cmd.AddCommand(show.NewCmdShow(f, nil))
	cmd.AddCommand(inspect.NewCmdInspect(f, nil))
	cmd.AddCommand(verify.NewCmdVerify(f, nil))
	cmd.AddCommand(diffcmd.NewCmdDiff(f, nil))
	cmd.AddCommand(why.NewCmdWhy(f, nil))
	cmd.AddCommand(viewcmd.NewCmdView(f, nil))
	cmd.AddCommand(report.NewCmdReport(f, nil))
	cmd.AddCommand(rm.NewCmdRm(f, nil))
	cmd.AddCommand(gc.NewCmdGC(f, nil))
	cmd.AddCommand(exportcmd.NewCmdExport(f, nil))
	cmd.AddCommand(importcmd.NewCmdImport(f, nil))
	cmd.AddCommand(collect.NewCmdCollect(f, nil))
	cmd.AddCommand(proxycmd.NewCmdProxy(f, nil))
	cmd.AddCommand(versioncmd.NewCmdVersion(f, nil))
	return cmd
}
