// Package runs implements `agentrr runs`.
package runs

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/tableprinter"
	"github.com/agentrr/agentrr/spanlog"
)

// Options are the inputs of `agentrr runs`.
type Options struct {
	IO    *cmdutil.IOStreams
	Store func() (*spanlog.Store, error)
	Now   func() time.Time

	Limit int
	JSON  bool
}

// NewCmdRuns returns the runs command. runF, if not nil, replaces the
// command's logic (for tests).
func NewCmdRuns(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Store: f.Store, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List recorded runs, newest first",
		Long: `List the runs in the store, newest first: trace id (the run id), name,
service, start time, number of boundaries, status and, for replays, the run
they replay and their verdict; for forks, the run they were forked from and
the seq where they went live ("fork of 4bf92f35 at seq 2").

Status is complete, truncated (the recorder was killed: a whole prefix),
damaged (see agentrr verify) or recording (pid N) for a run being recorded
right now. The status shown here checks the run's structure; agentrr verify
also checks every payload.`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Limit < 0 {
				return cmdutil.FlagError("--limit must be 0 (no limit) or more, not %d", opts.Limit)
			}
			if runF != nil {
				return runF(opts)
			}
			return runRuns(opts)
		},
	}
	cmd.Flags().IntVar(&opts.Limit, "limit", 0, "show at most `N` runs (0: all)")
	cmdutil.AddJSONFlag(cmd, &opts.JSON)
	return cmd
}

func runRuns(opts *Options) error {
	store, err := opts.Store()
	if err != nil {
		return err
	}
	// With a limit only the newest runs are read: from the run index, a
	// large store lists as fast as a small one.
	runs, err := store.RunsLimit(opts.Limit)
	if err != nil {
		return err
	}
	if opts.JSON {
		out := make([]cmdutil.RunJSON, 0, len(runs))
		for _, r := range runs {
			out = append(out, cmdutil.NewRunJSON(r))
		}
		return cmdutil.WriteJSON(opts.IO.Out, out)
	}
	if len(runs) == 0 {
		fmt.Fprintf(opts.IO.ErrOut, "no runs in %s yet: record one by running an agent built with otelrr\n", store.Root())
		return nil
	}
	rows := make([][]string, 0, len(runs))
	for _, r := range runs {
		rows = append(rows, []string{
			r.TraceID,
			tableprinter.Cut(r.Name, 24),
			startedAt(r.Start, opts.Now()),
			fmt.Sprint(r.Boundaries),
			status(r),
			replayOf(r),
		})
	}
	return tableprinter.Render(opts.IO.Out, []string{"TRACE ID", "NAME", "STARTED", "BOUNDARIES", "STATUS", "REPLAY"}, rows)
}

func status(r spanlog.RunInfo) string {
	switch r.Status {
	case spanlog.StatusRecording:
		return fmt.Sprintf("recording (pid %d)", r.PID)
	case spanlog.StatusComplete:
		if r.Ended != nil && r.Ended.Error != "" {
			return "complete (agent error)"
		}
	}
	return string(r.Status)
}

func replayOf(r spanlog.RunInfo) string {
	if r.ReplayOf == "" {
		return ""
	}
	if f := cmdutil.ForkOf(r); f != nil {
		return forkOf(r, f)
	}
	verdict := "unfinished"
	if r.Ended != nil && r.Ended.Verdict != "" {
		verdict = r.Ended.Verdict
	}
	return fmt.Sprintf("of %.8s: %s", r.ReplayOf, verdict)
}

// startedAt is a short start time: relative when recent, a date otherwise.
func startedAt(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return t.Local().Format("2006-01-02 15:04")
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return t.Local().Format("2006-01-02 15:04")
}

// forkOf is the REPLAY cell of a fork: "fork of 4bf92f35 at seq 2".
func forkOf(r spanlog.RunInfo, f *cmdutil.ForkedFrom) string {
	what := "unfinished"
	switch {
	case r.Ended == nil:
	case r.Ended.Verdict == "diverged":
		what = "diverged"
	case f.Seq == nil:
		what = "not live"
	case *f.Seq < 0:
		return fmt.Sprintf("fork of %.8s at its end", f.TraceID)
	default:
		return fmt.Sprintf("fork of %.8s at seq %d", f.TraceID, *f.Seq)
	}
	return fmt.Sprintf("fork of %.8s: %s", f.TraceID, what)
}
