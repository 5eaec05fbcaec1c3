// Package diff implements `agentrr diff`.
package diff

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/tableprinter"
	"github.com/agentrr/agentrr/spanlog"
)

// Options are the inputs of `agentrr diff`.
type Options struct {
	IO    *cmdutil.IOStreams
	Store func() (*spanlog.Store, error)

	A, B string
	JSON bool
}

// NewCmdDiff returns the diff command. runF, if not nil, replaces the
// command's logic (for tests).
func NewCmdDiff(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Store: f.Store}
	cmd := &cobra.Command{
		Use:   "diff <trace-a> <trace-b>",
		Short: "Compare the boundaries of two runs",
		Long: `Compare two runs boundary by boundary: typically a recording and its replay,
or two runs of the same agent.

The boundaries are aligned in order, by kind and name (model, tool, …)
along their longest common subsequence, so one extra or missing boundary
shows as one insertion or removal rather than shifting every later one.
Each aligned pair is "matched" when its request (signature) and its
response or error are equal, and "changed" otherwise; boundaries found only
in a are "removed", only in b "inserted". Timing is not compared.

The output names the first point of divergence with a structural diff of
the two requests and of the two responses there, then the alignment (runs
of matched boundaries folded into one row) and the counts.

A fork (agentrr fork) compared with the run it was forked from is said to
be one, with the seq where it went live: the boundaries before it were
served from the original, so they match; from it on they ran live.

Exit status: 0 when the runs are identical, 1 when they differ, 2 for an
unknown run, 6 for a run still being recorded.`,
		Example: `  agentrr diff 4bf92f35 9c1de07a
  agentrr diff 4bf92f35 9c1de07a --json | jq '.entries[.first_divergence]'`,
		Args:              cmdutil.ExactRunArgs(2),
		ValidArgsFunction: cmdutil.CompleteRunIDs(f, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.A, opts.B = args[0], args[1]
			if runF != nil {
				return runF(opts)
			}
			return runDiff(opts)
		},
	}
	cmdutil.AddJSONFlag(cmd, &opts.JSON)
	return cmd
}

// Output is the JSON document `agentrr diff --json` writes: the two runs,
// then the fields of analyze.Comparison.
type Output struct {
	A         Run  `json:"a"`
	B         Run  `json:"b"`
	Identical bool `json:"identical"`
	*analyze.Comparison
}

// Run describes one of the two runs compared.
type Run struct {
	TraceID    string `json:"trace_id"`
	Name       string `json:"name"`
	Status     string `json:"status"`
	Reason     string `json:"reason,omitempty"`
	Boundaries int    `json:"boundaries"`
	ReplayOf   string `json:"replay_of,omitempty"`
	// Verdict is faithful or diverged for an ended replay.
	Verdict string `json:"verdict,omitempty"`
	// ForkedFrom is set for a fork: the run it was forked from and where
	// it went live.
	ForkedFrom *cmdutil.ForkedFrom `json:"forked_from,omitempty"`
	// fork describes the fork for people.
	fork string
}

func runOf(r *spanlog.Run) Run {
	out := Run{
		TraceID: r.Info.TraceID, Name: r.Info.Name, Status: string(r.Info.Status), Reason: r.Info.Reason,
		Boundaries: len(r.Records), ReplayOf: r.Info.ReplayOf,
	}
	if r.Info.Ended != nil {
		out.Verdict = r.Info.Ended.Verdict
	}
	if out.ForkedFrom = cmdutil.ForkOf(r.Info); out.ForkedFrom != nil {
		out.fork = cmdutil.ForkDescription(r.Info, r.Records)
	}
	return out
}

func runDiff(opts *Options) error {
	store, err := opts.Store()
	if err != nil {
		return err
	}
	// Resolve both before reading either: a typo fails at once.
	idA, err := store.Resolve(opts.A)
	if err != nil {
		return err
	}
	idB, err := store.Resolve(opts.B)
	if err != nil {
		return err
	}
	a, err := cmdutil.ReadResolved(store, idA)
	if err != nil {
		return err
	}
	b, err := cmdutil.ReadResolved(store, idB)
	if err != nil {
		return err
	}
	c := analyze.Compare(a.Records, b.Records)
	out := &Output{A: runOf(a), B: runOf(b), Identical: c.Identical(), Comparison: c}
	if err := cmdutil.WriteOutput(opts.IO.Out, opts.JSON, out); err != nil {
		return err
	}
	// A damaged run was compared only up to its damage: say so, whatever
	// the comparison found.
	if err := cmdutil.DamagedRun(a.Info); err != nil {
		return err
	}
	if err := cmdutil.DamagedRun(b.Info); err != nil {
		return err
	}
	if !out.Identical {
		return cmdutil.SilentExit(cmdutil.ExitDiverged)
	}
	return nil
}

// WriteText writes the comparison for a person.
func (o *Output) WriteText(w io.Writer) error {
	var buf bytes.Buffer
	o.A.writeHeader(&buf, "a", o.B.TraceID, "b")
	o.B.writeHeader(&buf, "b", o.A.TraceID, "a")
	buf.WriteByte('\n')
	c := o.Comparison
	if c.Identical() {
		fmt.Fprintf(&buf, "the runs are identical: %s matched\n", cmdutil.Plural(c.Matched, "boundary", "boundaries"))
		_, err := w.Write(buf.Bytes())
		return err
	}
	o.writeFirst(&buf, c.First())
	buf.WriteByte('\n')
	header := alignmentHeader
	if c.Branched {
		header = branchAlignmentHeader
	}
	if err := tableprinter.Render(&buf, header, alignmentRows(c)); err != nil {
		return err
	}
	buf.WriteByte('\n')
	if err := tableprinter.Render(&buf, []string{"MATCHED", "CHANGED", "INSERTED", "REMOVED"}, [][]string{{
		fmt.Sprint(c.Matched), fmt.Sprint(c.Changed), fmt.Sprint(c.Inserted), fmt.Sprint(c.Removed),
	}}); err != nil {
		return err
	}
	if c.Approximate {
		fmt.Fprintf(&buf, "\nnote: the runs differ over too long a stretch to align exactly; it was aligned position by position\n")
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// writeHeader writes the two header lines of a run labelled label: its id
// and name, then its boundaries and status; other is the trace id of the
// other run, labelled otherLabel.
func (r Run) writeHeader(buf *bytes.Buffer, label, other, otherLabel string) {
	fmt.Fprintf(buf, "%s: %s", label, r.TraceID)
	if r.Name != "" {
		fmt.Fprintf(buf, " (%s)", oneLine(r.Name))
	}
	buf.WriteByte('\n')
	s := cmdutil.Plural(r.Boundaries, "boundary", "boundaries") + ", " + r.Status
	switch r.Status {
	case string(spanlog.StatusDamaged):
		s += " (only the boundaries before the damage are compared: " + r.Reason + ")"
	case string(spanlog.StatusTruncated):
		s += " (its recorder was killed: a prefix of its run)"
	}
	if r.ReplayOf != "" {
		of := r.ReplayOf
		if of == other {
			of = otherLabel
		}
		verdict := r.Verdict
		if verdict == "" {
			verdict = "unfinished"
		}
		if r.ForkedFrom != nil {
			s += ", fork of " + of + " " + r.fork
		} else {
			s += ", replay of " + of + ": " + verdict
		}
	}
	for _, line := range cmdutil.Wrap(s, cmdutil.TermWidth-3) {
		buf.WriteString("   ")
		buf.WriteString(line)
		buf.WriteByte('\n')
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// maxErrorWidth is how much of an error text the first-divergence block
// shows; agentrr inspect shows it whole.
const maxErrorWidth = cmdutil.TermWidth - 14

func (o *Output) writeFirst(buf *bytes.Buffer, e *analyze.Entry) {
	what := string(e.Kind) + " " + e.Name
	if o.Comparison.Branched {
		what = "branch " + boundary.BranchLabel(e.Branch) + ", " + what
	}
	switch e.Op {
	case analyze.EntryInserted:
		fmt.Fprintf(buf, "first divergence: b seq %d, %s: inserted (only in b)\n", e.SeqB, what)
		fmt.Fprintf(buf, "  see: agentrr inspect %.8s --seq %d\n", o.B.TraceID, e.SeqB)
		return
	case analyze.EntryRemoved:
		fmt.Fprintf(buf, "first divergence: a seq %d, %s: removed (only in a)\n", e.SeqA, what)
		fmt.Fprintf(buf, "  see: agentrr inspect %.8s --seq %d\n", o.A.TraceID, e.SeqA)
		return
	}
	fmt.Fprintf(buf, "first divergence: a seq %d, b seq %d, %s: changed\n", e.SeqA, e.SeqB, what)
	if len(e.RequestDiff) > 0 {
		buf.WriteString("  request:\n")
		analyze.WriteChangesAt(buf, "    ", "request", e.RequestDiff)
	}
	if len(e.ResponseDiff) > 0 {
		buf.WriteString("  response:\n")
		analyze.WriteChangesAt(buf, "    ", "response", e.ResponseDiff)
	}
	for _, side := range []struct{ label, text string }{{"a", e.ErrorA}, {"b", e.ErrorB}} {
		if side.text != "" {
			fmt.Fprintf(buf, "  error in %s: %s\n", side.label, tableprinter.Cut(side.text, maxErrorWidth))
		}
	}
	fmt.Fprintf(buf, "  see: agentrr inspect %.8s --seq %d; agentrr inspect %.8s --seq %d\n", o.A.TraceID, e.SeqA, o.B.TraceID, e.SeqB)
}

var alignmentHeader = []string{"A", "B", "KIND", "NAME", "RESULT", "DIFFERS"}

// branchAlignmentHeader is the alignment table of runs with branches:
// BRANCH is the branch and the index (or indices) in it, on a's side where
// a has the boundary.
var branchAlignmentHeader = []string{"A", "B", "BRANCH", "KIND", "NAME", "RESULT", "DIFFERS"}

// minFold is the least number of consecutive matched entries folded into
// one row of the alignment table.
const minFold = 3

// alignmentRows are the rows of the alignment table: one per entry, with
// runs of at least minFold matched entries folded into one.
func alignmentRows(c *analyze.Comparison) [][]string {
	seq := func(s int64) string {
		if s < 0 {
			return "-"
		}
		return fmt.Sprint(s)
	}
	index := func(e analyze.Entry) int64 {
		if e.IndexA >= 0 {
			return e.IndexA
		}
		return e.IndexB
	}
	var rows [][]string
	for i := 0; i < len(c.Entries); {
		e := c.Entries[i]
		if e.Op == analyze.EntryMatched {
			j := i
			for j < len(c.Entries) && c.Entries[j].Op == analyze.EntryMatched && c.Entries[j].Branch == e.Branch {
				j++
			}
			if j-i >= minFold {
				last := c.Entries[j-1]
				row := []string{seq(e.SeqA) + "-" + seq(last.SeqA), seq(e.SeqB) + "-" + seq(last.SeqB)}
				if c.Branched {
					// Seqs of one branch need not be consecutive.
					row = []string{"", "", fmt.Sprintf("%s[%d-%d]", boundary.BranchLabel(e.Branch), index(e), index(last))}
				}
				rows = append(rows, append(row, "", "", fmt.Sprintf("%d matched", j-i), ""))
				i = j
				continue
			}
		}
		row := []string{seq(e.SeqA), seq(e.SeqB)}
		if c.Branched {
			row = append(row, boundary.Position(boundary.BranchLabel(e.Branch), index(e)))
		}
		rows = append(rows, append(row, string(e.Kind), e.Name, string(e.Op), strings.Join(e.Differs, ", ")))
		i++
	}
	header, name := alignmentHeader, 3
	if c.Branched {
		header, name = branchAlignmentHeader, 4
	}
	cmdutil.FitColumn(header, rows, name, 8)
	return rows
}
