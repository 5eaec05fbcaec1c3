// Package cmdutil holds what every agentrr command shares: the exit codes
// and the errors that choose them, the I/O streams, the store flag and the
// --json helper.
package cmdutil

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// Exit codes. They are part of the CLI's contract (see the README and
// `agentrr --help`).
const (
	ExitOK        = 0  // success; a replay that was faithful
	ExitDiverged  = 1  // a replay diverged from its recording
	ExitUsage     = 2  // bad flags or arguments, unknown or ambiguous run, no store (or one this user cannot read)
	ExitDamaged   = 3  // a damaged run or store
	ExitAgent     = 4  // the agent failed (non-zero exit, or never finished its run) without diverging
	ExitTruncated = 5  // verify: the run is truncated (a whole prefix)
	ExitRecording = 6  // the run is still being recorded by another process
	ExitRefused   = 7  // a fork refused to run a tool live: it was not allowed (--live-tool, --live-tools)
	ExitInternal  = 70 // anything else: a bug, or an error agentrr does not classify
)

// ExitError carries the exit code a command chose. Its message is printed
// (unless empty) as "agentrr: <message>".
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Exit returns an *ExitError with code and a formatted message.
func Exit(code int, format string, args ...any) error {
	return &ExitError{Code: code, Err: fmt.Errorf(format, args...)}
}

// SilentExit returns an error that sets the exit code and prints nothing
// (the command already printed what the user needs).
func SilentExit(code int) error { return &ExitError{Code: code} }

// Code returns the exit code for err: the code an *ExitError carries, or
// the code its cause maps to (unknown runs and missing stores are usage
// errors, damage is ExitDamaged, a live recording ExitRecording), else
// ExitInternal: an error no command classified is not a divergence.
func Code(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	var amb *spanlog.AmbiguousError
	switch {
	case errors.Is(err, spanlog.ErrNotFound), errors.Is(err, spanlog.ErrNoStore), errors.Is(err, spanlog.ErrBadTraceID), errors.As(err, &amb),
		errors.Is(err, fs.ErrPermission):
		return ExitUsage
	case errors.Is(err, replayer.ErrDamaged), errors.Is(err, spanlog.ErrDamaged), errors.Is(err, spanlog.ErrFutureFormat):
		return ExitDamaged
	case errors.Is(err, spanlog.ErrRecording):
		return ExitRecording
	}
	return ExitInternal
}

// FlagError marks an error in the command line (exit code 2).
func FlagError(format string, args ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// DamagedRun returns nil unless the run is damaged, and then an error with
// exit status ExitDamaged naming the run and the damage. Commands that
// print a run (show, diff, export) print what can be read first, then
// return it: damage is never reported with exit status 0.
func DamagedRun(info spanlog.RunInfo) error {
	if info.Status != spanlog.StatusDamaged {
		return nil
	}
	return Exit(ExitDamaged, "run %s is damaged: %s (only the boundaries before the damage were read; agentrr verify %s)", info.TraceID, info.Reason, info.TraceID)
}
