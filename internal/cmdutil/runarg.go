package cmdutil

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// ResolveRun opens the store with open and resolves arg, a full trace id or
// a unique prefix of one, to the full trace id of a stored run.
//
// Its errors say what to do and carry the cause, so [Code] picks the exit
// status: a missing store (spanlog.ErrNoStore, naming the directory looked
// at), an unknown run (spanlog.ErrNotFound, suggesting `agentrr runs`), a
// prefix several runs share (*spanlog.AmbiguousError, listing them) and a
// malformed id (spanlog.ErrBadTraceID) are all usage errors.
func ResolveRun(open func() (*spanlog.Store, error), arg string) (*spanlog.Store, string, error) {
	store, err := open()
	if err != nil {
		return nil, "", err
	}
	id, err := store.Resolve(arg)
	if err != nil {
		return nil, "", err
	}
	return store, id, nil
}

// LoadRecording opens the store with open and loads the run arg names (a
// full trace id or a unique prefix of one) for a replay, checked whole, with
// replayer.Load.
func LoadRecording(open func() (*spanlog.Store, error), arg string) (*spanlog.Store, *replayer.Recording, error) {
	store, err := open()
	if err != nil {
		return nil, nil, err
	}
	rec, err := replayer.Load(store, arg)
	if err != nil {
		return nil, nil, err
	}
	return store, rec, nil
}

// ReadRun resolves arg as [ResolveRun] does and reads the run whole with
// spanlog.Store.ReadRun. A damaged or truncated run is not an error (its
// verdict is in Run.Info.Status); a run being recorded is
// (*spanlog.RecordingError, exit status ExitRecording).
func ReadRun(open func() (*spanlog.Store, error), arg string) (*spanlog.Run, error) {
	store, id, err := ResolveRun(open, arg)
	if err != nil {
		return nil, err
	}
	return ReadResolved(store, id)
}

// ResolveRuns resolves every arg as [ResolveRun] does, before anything is
// read or changed (a typo fails at once), and returns the full trace ids in
// the order given, each once.
func ResolveRuns(store *spanlog.Store, args []string) ([]string, error) {
	var ids []string
	seen := map[string]bool{}
	for _, arg := range args {
		id, err := store.Resolve(arg)
		if err != nil {
			return nil, err
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// ReadResolved is store.ReadRun(traceID), except that a run being recorded
// is reported as the bare *spanlog.RecordingError (see [RecordingCause]).
func ReadResolved(store *spanlog.Store, traceID string) (*spanlog.Run, error) {
	run, err := store.ReadRun(traceID)
	if err != nil {
		return nil, RecordingCause(err)
	}
	return run, nil
}

// RecordingCause is the bare *spanlog.RecordingError err wraps, whose
// message says all there is to say ("run … is being recorded (pid N): wait
// for it to finish"), when it wraps one; else err.
func RecordingCause(err error) error {
	var rec *spanlog.RecordingError
	if errors.As(err, &rec) {
		return rec
	}
	return err
}

// CompleteRunIDs returns a cobra ValidArgsFunction that completes the trace
// ids of the runs in f's store, each described by its run name. maxArgs
// limits how many run arguments the command takes (0: any number). It
// completes nothing, silently, when there is no store.
func CompleteRunIDs(f *Factory, maxArgs int) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if maxArgs > 0 && len(args) >= maxArgs {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		store, err := f.Store()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		runs, err := store.Runs()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, r := range runs {
			if strings.HasPrefix(r.TraceID, strings.ToLower(toComplete)) {
				out = append(out, cobra.CompletionWithDesc(r.TraceID, r.Name))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// RunArgs returns cobra positional-argument validation for a command that
// takes between min and max run arguments (max 0: no upper bound), with an
// error (exit status 2) that shows the usage and where to find run ids.
func RunArgs(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		n := len(args)
		if n >= min && (max == 0 || n <= max) {
			return nil
		}
		var want string
		switch {
		case min == max && min == 1:
			want = "one trace id (or a unique prefix of one)"
		case min == max:
			want = fmt.Sprintf("%d trace ids (or unique prefixes)", min)
		case max == 0:
			want = fmt.Sprintf("at least %d trace ids (or unique prefixes)", min)
			if min == 1 {
				want = "one or more trace ids (or unique prefixes)"
			}
		default:
			want = fmt.Sprintf("%d to %d trace ids", min, max)
		}
		return FlagError("%s takes %s, got %d arguments (usage: %s; list runs with: agentrr runs)", cmd.CommandPath(), want, n, cmd.UseLine())
	}
}

// ExactRunArgs is RunArgs(n, n).
func ExactRunArgs(n int) cobra.PositionalArgs { return RunArgs(n, n) }

// NoArgs is cobra.NoArgs with a usage error (exit status 2) that says how
// the command is used.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return FlagError("%s takes no arguments, got %q (usage: %s)", cmd.CommandPath(), args, cmd.UseLine())
	}
	return nil
}

// UnknownCommand is the Args of a command whose arguments are subcommands:
// an argument that names none is a usage error (exit status 2).
func UnknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return FlagError("unknown command %q for %s (see %s --help)", args[0], cmd.CommandPath(), cmd.CommandPath())
	}
	return nil
}
