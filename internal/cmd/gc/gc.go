// Package gc implements `agentrr gc`.
package gc

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/tableprinter"
	"github.com/agentrr/agentrr/spanlog"
)

// Options are the inputs of `agentrr gc`.
type Options struct {
	IO    *cmdutil.IOStreams
	Store func() (*spanlog.Store, error)
	Now   func() time.Time

	Keep      int
	OlderThan time.Duration
	DryRun    bool
	JSON      bool
}

// NewCmdGC returns the gc command. runF, if not nil, replaces the command's
// logic (for tests).
func NewCmdGC(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Store: f.Store, Now: time.Now}
	var olderThan string
	cmd := &cobra.Command{
		Use:   "gc (--keep N | --older-than DURATION) [--dry-run]",
		Short: "Remove old runs from the store",
		Long: `Remove the runs that are neither among the --keep N newest nor younger than
--older-than DURATION (with both flags, a run goes only when it is both
beyond the N newest and older than DURATION). Runs are ordered by their
start. Every run removed is named in the output; --dry-run names them and
removes nothing.

gc removes runs that are no longer being recorded — complete, truncated
(their recorder was killed) and damaged — and never a run being recorded:
such runs are listed as left alone, and do not count against --keep.

A DURATION is a Go duration (90m, 36h) or a number of days (30d).

gc also tidies the store: it seals the runs killed recorders left in writer
slots (so that they are chosen like any other run), rewrites the run index
from the runs, deletes temporary files of killed writers and gives up idle
writer slots beyond the first.`,
		Example: `  agentrr gc --keep 100
  agentrr gc --older-than 30d --dry-run
  agentrr gc --keep 20 --older-than 7d`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("older-than") {
				d, err := ParseAge(olderThan)
				if err != nil {
					return err
				}
				opts.OlderThan = d
			}
			if opts.Keep < 0 {
				return cmdutil.FlagError("--keep must be 0 or more, not %d", opts.Keep)
			}
			if opts.Keep == 0 && opts.OlderThan == 0 {
				return cmdutil.FlagError("give --keep N (keep the N newest runs) or --older-than DURATION (remove runs older than that), or both")
			}
			if runF != nil {
				return runF(opts)
			}
			return Run(opts)
		},
	}
	cmd.Flags().IntVar(&opts.Keep, "keep", 0, "keep the `N` newest runs")
	cmd.Flags().StringVar(&olderThan, "older-than", "", "remove only runs that started more than `DURATION` ago (e.g. 36h, 30d)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "name the runs that would be removed, and remove nothing")
	cmdutil.AddJSONFlag(cmd, &opts.JSON)
	return cmd
}

// ParseAge parses --older-than: a Go duration, or a number of days ("30d").
func ParseAge(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err == nil && n > 0 {
			return time.Duration(n * float64(24*time.Hour)), nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	return 0, cmdutil.FlagError("--older-than %q: want a positive duration such as 36h or 30d", s)
}

// Output is gc's --json document.
type Output struct {
	DryRun    bool      `json:"dry_run"`
	Removed   []RunLine `json:"removed"`
	Kept      int       `json:"kept"`
	Recording []RunLine `json:"recording"`
	Freed     int64     `json:"freed_bytes"`
	Failed    []RunLine `json:"failed,omitempty"`
}

// RunLine names one run.
type RunLine struct {
	TraceID string    `json:"trace_id"`
	Name    string    `json:"name,omitempty"`
	Start   time.Time `json:"start"`
	Status  string    `json:"status"`
	PID     int       `json:"pid,omitempty"`
	Error   string    `json:"error,omitempty"`
}

func line(r spanlog.RunInfo) RunLine {
	return RunLine{TraceID: r.TraceID, Name: r.Name, Start: r.Start, Status: string(r.Status), PID: r.PID}
}

// Run applies the policy.
func Run(opts *Options) error {
	store, err := opts.Store()
	if err != nil {
		return err
	}
	res, err := store.GC(spanlog.GCPolicy{Keep: opts.Keep, OlderThan: opts.OlderThan, Now: opts.Now(), DryRun: opts.DryRun})
	if err != nil {
		return err
	}
	out := Output{DryRun: opts.DryRun, Kept: res.Kept, Freed: res.Freed, Removed: []RunLine{}, Recording: []RunLine{}}
	for _, r := range res.Removed {
		out.Removed = append(out.Removed, line(r))
	}
	for _, r := range res.Recording {
		out.Recording = append(out.Recording, line(r))
	}
	ids := make([]string, 0, len(res.Failed))
	for id := range res.Failed {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		out.Failed = append(out.Failed, RunLine{TraceID: id, Error: res.Failed[id].Error()})
	}
	if opts.JSON {
		if err := cmdutil.WriteJSON(opts.IO.Out, out); err != nil {
			return err
		}
	} else if err := writeText(opts, out); err != nil {
		return err
	}
	if len(out.Failed) > 0 {
		return cmdutil.SilentExit(1)
	}
	return nil
}

func writeText(opts *Options, out Output) error {
	verb := "removed"
	if out.DryRun {
		verb = "would remove"
	}
	if len(out.Removed) > 0 {
		rows := make([][]string, 0, len(out.Removed))
		for _, r := range out.Removed {
			start := "-"
			if !r.Start.IsZero() {
				start = r.Start.Local().Format("2006-01-02 15:04")
			}
			rows = append(rows, []string{verb, r.TraceID, tableprinter.Cut(r.Name, 24), start, r.Status})
		}
		if err := tableprinter.Render(opts.IO.Out, []string{"", "TRACE ID", "NAME", "STARTED", "STATUS"}, rows); err != nil {
			return err
		}
	}
	fmt.Fprintf(opts.IO.Out, "%s %s (%s), kept %d", verb, cmdutil.Plural(len(out.Removed), "run", "runs"), bytesText(out.Freed), out.Kept)
	if n := len(out.Recording); n > 0 {
		fmt.Fprintf(opts.IO.Out, "; left %s being recorded alone", cmdutil.Plural(n, "run", "runs"))
	}
	fmt.Fprintln(opts.IO.Out)
	for _, f := range out.Failed {
		fmt.Fprintf(opts.IO.ErrOut, "agentrr: run %s not removed: %s\n", f.TraceID, f.Error)
	}
	return nil
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
