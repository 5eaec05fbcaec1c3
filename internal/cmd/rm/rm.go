// Package rm implements `agentrr rm`.
package rm

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/spanlog"
)

// Options are the inputs of `agentrr rm`.
type Options struct {
	IO    *cmdutil.IOStreams
	Store func() (*spanlog.Store, error)

	TraceIDs []string
}

// NewCmdRm returns the rm command. runF, if not nil, replaces the command's
// logic (for tests).
func NewCmdRm(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Store: f.Store}
	cmd := &cobra.Command{
		Use:   "rm <trace-id>...",
		Short: "Delete runs from the store",
		Long: `Delete the runs named, and only those: each argument is a trace id or a
unique prefix of one. Every argument is resolved before anything is
deleted, so an unknown or ambiguous one deletes nothing (exit status 2).

A run being recorded is not deleted: it is reported, the other runs named
are deleted, and the exit status is 6. A damaged run is deleted like any
other.`,
		Example: `  agentrr rm 4bf92f35
  agentrr rm $(agentrr verify --all --json | jq -r '.runs[] | select(.verdict == "damaged") | .trace_id')`,
		Args:              cmdutil.RunArgs(1, 0),
		ValidArgsFunction: cmdutil.CompleteRunIDs(f, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.TraceIDs = args
			if runF != nil {
				return runF(opts)
			}
			return runRm(opts)
		},
	}
	return cmd
}

func runRm(opts *Options) error {
	store, err := opts.Store()
	if err != nil {
		return err
	}
	ids, err := cmdutil.ResolveRuns(store, opts.TraceIDs)
	if err != nil {
		return err
	}
	busy := 0
	for _, id := range ids {
		err := store.Remove(id)
		var rec *spanlog.RecordingError
		switch {
		case errors.As(err, &rec):
			busy++
			fmt.Fprintf(opts.IO.ErrOut, "agentrr: run %s is being recorded (pid %d): not removed; remove it once its agent has ended the run\n", id, rec.PID)
		case err != nil:
			return err
		default:
			fmt.Fprintf(opts.IO.Out, "removed %s\n", id)
		}
	}
	if busy > 0 {
		return cmdutil.SilentExit(cmdutil.ExitRecording)
	}
	return nil
}
