package cmdutil

import "github.com/spf13/cobra"

// RequireSeq checks the --seq flag of a command that shows one boundary
// of the run traceID: it must be given (what says what it names, as in
// "the boundary to inspect") and be 0 or more.
func RequireSeq(cmd *cobra.Command, seq int64, what, traceID string) error {
	if !cmd.Flags().Changed("seq") {
		return FlagError("--seq is required: %s (agentrr show %s lists them)", what, traceID)
	}
	if seq < 0 {
		return FlagError("--seq must be 0 or more, not %d", seq)
	}
	return nil
}

// SeqOutOfRange is the usage error of a --seq at or past the end of the n
// boundaries of the run traceID, a run that is not damaged (the caller
// says what a damaged run's seq past its damage means).
func SeqOutOfRange(traceID string, n, seq int64) error {
	if n == 0 {
		return FlagError("run %s has no boundaries: there is no seq %d", traceID, seq)
	}
	return FlagError("seq %d is out of range: run %s has %s, seq 0-%d (agentrr show %.8s lists them)",
		seq, traceID, Plural(int(n), "boundary", "boundaries"), n-1, traceID)
}
