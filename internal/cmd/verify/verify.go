// Package verify implements `agentrr verify`.
package verify

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/tableprinter"
	"github.com/agentrr/agentrr/spanlog"
)

// Verdicts of verify, from best to worst.
const (
	VerdictOK        = "ok"        // complete: every boundary whole, the run ended
	VerdictRecording = "recording" // being recorded: cannot be checked until it ends
	VerdictTruncated = "truncated" // a whole prefix of a run: safe to replay up to its end
	VerdictDamaged   = "damaged"   // something stored is not whole
)

// Options are the inputs of `agentrr verify`.
type Options struct {
	IO    *cmdutil.IOStreams
	Store func() (*spanlog.Store, error)

	TraceIDs []string
	All      bool
	JSON     bool
	// Progress writes a progress line to IO.ErrOut while verifying several
	// runs (set when stderr is a terminal).
	Progress bool
}

// NewCmdVerify returns the verify command. runF, if not nil, replaces the
// command's logic (for tests).
func NewCmdVerify(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Store: f.Store}
	cmd := &cobra.Command{
		Use:   "verify (<trace-id>... | <bundle-file>... | --all)",
		Short: "Check that runs are whole",
		Long: `Read every boundary of the runs named (or of every run, with --all) and
check it: each span decodes, its payloads match their recorded lengths and
hash, its signature matches its request, seqs run 0, 1, 2, … with no hole,
and the run's end record agrees with what is stored.

An argument that names a file is read as a bundle (agentrr export --file,
gzip or not) and checked the same way, with the same verdicts: a bundle
cut short, garbled, or missing boundaries is damaged. No store is needed
to verify bundles.

Verdicts:
  ok         the run is complete and whole
  truncated  the run did not end (its recorder was killed): what is stored
             is a whole prefix of it, safe to replay up to its end
  damaged    something stored is not whole; the reason says what and where
  recording  a live process is recording the run (pid N): it cannot be
             read until the recorder ends it

Exit status is that of the worst verdict: 0 ok, 5 truncated, 3 damaged. A
run being recorded is not a failure under --all (exit 0, with a note); a run
named on the command line that is being recorded exits 6, as every command
does for such a run.`,
		Example: `  agentrr verify 4bf92f35
  agentrr verify run.otlp.json.gz
  agentrr verify --all
  agentrr verify --all --json | jq -r '.runs[] | select(.verdict != "ok") | .trace_id'`,
		ValidArgsFunction: cmdutil.CompleteRunIDs(f, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.TraceIDs = args
			switch {
			case opts.All && len(args) > 0:
				return cmdutil.FlagError("give trace ids or --all, not both")
			case !opts.All && len(args) == 0:
				return cmdutil.FlagError("give the trace id (or a unique prefix) of a run to verify, or --all (list runs with: agentrr runs)")
			}
			opts.Progress = opts.IO.IsStderrTerminal()
			if runF != nil {
				return runF(opts)
			}
			return runVerify(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.All, "all", false, "verify every run in the store")
	cmdutil.AddJSONFlag(cmd, &opts.JSON)
	return cmd
}

// Output is the JSON document `agentrr verify --json` writes.
type Output struct {
	// Verdict is the worst verdict of the runs (ok when there are none);
	// under --all a run being recorded counts as ok.
	Verdict string `json:"verdict"`
	// Runs are the runs verified, newest first.
	Runs []Result `json:"runs"`
}

// Result is the verdict on one run.
type Result struct {
	TraceID string `json:"trace_id"`
	Name    string `json:"name,omitempty"`
	Verdict string `json:"verdict"`
	// Boundaries is the number of whole boundaries read (for a damaged
	// run, those before the damage).
	Boundaries int64 `json:"boundaries"`
	// Reason says why the verdict is not ok.
	Reason string `json:"reason,omitempty"`
	// PID is the recording process, for a run being recorded.
	PID int `json:"pid,omitempty"`
	// Bundle is the file the run was read from, for a bundle.
	Bundle string `json:"bundle,omitempty"`

	start int64 // unix nanoseconds, for ordering
}

// Verify checks the run with the full trace id in store.
func Verify(store *spanlog.Store, traceID string) Result {
	res := Result{TraceID: traceID}
	run, err := store.ReadRun(traceID)
	var rec *spanlog.RecordingError
	switch {
	case errors.As(err, &rec):
		res.Verdict, res.PID = VerdictRecording, rec.PID
		res.Reason = fmt.Sprintf("being recorded by pid %d; verify it again when the run ends", rec.PID)
		return res
	case err != nil:
		res.Verdict, res.Reason = VerdictDamaged, err.Error()
		return res
	}
	return verdictOf(run)
}

// VerifyBundle checks the run of the bundle file at path: the same checks,
// the same verdicts. A file that holds no agentrr run (or several) is an
// error (exit status 2); one that cannot be read is an error too.
func VerifyBundle(path string) (Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	b, err := spanlog.ReadBundle(f)
	if errors.Is(err, spanlog.ErrBundle) {
		return Result{}, cmdutil.Exit(cmdutil.ExitUsage, "%s is not an agentrr bundle: %v", path, err)
	}
	if err != nil {
		return Result{TraceID: path, Verdict: VerdictDamaged, Reason: fmt.Sprintf("bundle %s: %v", path, err)}, nil
	}
	res := verdictOf(&b.Run)
	res.Bundle = path
	return res, nil
}

func verdictOf(run *spanlog.Run) Result {
	res := Result{TraceID: run.Info.TraceID}
	info := run.Info
	res.Name, res.Boundaries, res.Reason, res.start = info.Name, int64(len(run.Records)), info.Reason, info.Start.UnixNano()
	switch info.Status {
	case spanlog.StatusComplete:
		res.Verdict = VerdictOK
	case spanlog.StatusTruncated:
		res.Verdict = VerdictTruncated
		if res.Boundaries > 0 {
			res.Reason += fmt.Sprintf("; safe to replay up to seq %d", res.Boundaries-1)
		}
		if boundary.Branched(run.Records) {
			res.Reason += "; " + branchPrefixes(run.Records)
		}
	default:
		res.Verdict = VerdictDamaged
	}
	return res
}

// branchPrefixes says what a truncated run holds of each of its branches:
// a whole prefix of each, cut where the recorder was killed.
func branchPrefixes(recs []boundary.Record) string {
	byBranch, _ := boundary.BranchIndex(recs) // whole: the run is not damaged
	branches := boundary.SortedBranches(byBranch)
	parts := make([]string, 0, len(branches))
	for _, b := range branches {
		rs := byBranch[b]
		parts = append(parts, fmt.Sprintf("%s 0..%d", boundary.BranchLabel(b), len(rs)-1))
	}
	return fmt.Sprintf("each of its %d branches holds a whole prefix of itself, cut where the recorder stopped (what each branch would have done next is unknown): %s",
		len(branches), strings.Join(parts, ", "))
}

func newest(r Result) int64 {
	if r.Verdict == VerdictRecording {
		return math.MaxInt64
	}
	return r.start
}

// rank orders verdicts from best to worst.
func rank(verdict string) int {
	switch verdict {
	case VerdictOK:
		return 0
	case VerdictRecording:
		return 1
	case VerdictTruncated:
		return 2
	}
	return 3
}

// ExitCode is the exit status for verdict: 0 ok, 6 recording, 5 truncated,
// 3 damaged.
func ExitCode(verdict string) int {
	switch verdict {
	case VerdictOK:
		return cmdutil.ExitOK
	case VerdictRecording:
		return cmdutil.ExitRecording
	case VerdictTruncated:
		return cmdutil.ExitTruncated
	}
	return cmdutil.ExitDamaged
}

// isBundle reports whether arg names a file (a bundle), not a run.
func isBundle(arg string) bool {
	fi, err := os.Stat(arg)
	return err == nil && fi.Mode().IsRegular()
}

func runVerify(opts *Options) error {
	var bundles, args []string
	for _, arg := range opts.TraceIDs {
		if isBundle(arg) {
			bundles = append(bundles, arg)
		} else {
			args = append(args, arg)
		}
	}
	var store *spanlog.Store
	var err error
	if opts.All || len(args) > 0 {
		if store, err = opts.Store(); err != nil {
			return err
		}
	}
	var ids []string
	if opts.All {
		if ids, err = store.TraceIDs(); err != nil {
			return err
		}
	} else if ids, err = cmdutil.ResolveRuns(store, args); err != nil {
		return err
	}

	out := Output{Verdict: VerdictOK, Runs: make([]Result, 0, len(ids)+len(bundles))}
	for _, path := range bundles {
		res, err := VerifyBundle(path)
		if err != nil {
			return err
		}
		out.Runs = append(out.Runs, res)
	}
	progress := opts.Progress && len(ids) > 1
	for i, id := range ids {
		if progress {
			fmt.Fprintf(opts.IO.ErrOut, "\rverifying run %d of %d…", i+1, len(ids))
		}
		out.Runs = append(out.Runs, Verify(store, id))
	}
	if progress {
		// Erase the progress line.
		fmt.Fprintf(opts.IO.ErrOut, "\r%s\r", strings.Repeat(" ", utf8.RuneCountInString(fmt.Sprintf("verifying run %d of %d…", len(ids), len(ids)))))
	}
	// Newest first; a run being recorded (start unknown) is newest of all.
	sort.SliceStable(out.Runs, func(i, j int) bool { return newest(out.Runs[i]) > newest(out.Runs[j]) })

	worst := VerdictOK
	recording := 0
	for _, r := range out.Runs {
		v := r.Verdict
		if v == VerdictRecording {
			recording++
			if opts.All {
				continue // not a failure: it cannot be checked yet
			}
		}
		if rank(v) > rank(worst) {
			worst = v
		}
	}
	out.Verdict = worst

	if opts.JSON {
		if err := cmdutil.WriteJSON(opts.IO.Out, out); err != nil {
			return err
		}
	} else {
		if len(out.Runs) == 0 {
			root := ""
			if store != nil {
				root = store.Root()
			}
			fmt.Fprintf(opts.IO.ErrOut, "no runs in %s: nothing to verify\n", root)
			return nil
		}
		if err := writeText(opts.IO.Out, out.Runs); err != nil {
			return err
		}
		if recording > 0 {
			note := fmt.Sprintf("note: %s being recorded and not verified", cmdutil.Plural(recording, "run is", "runs are"))
			if opts.All {
				note += " (not counted as a failure)"
			}
			note += "; verify again when the recording ends"
			for i, line := range cmdutil.Wrap(note, cmdutil.TermWidth-6) {
				if i > 0 {
					line = "      " + line
				}
				fmt.Fprintln(opts.IO.ErrOut, line)
			}
		}
	}
	if code := ExitCode(worst); code != cmdutil.ExitOK {
		return cmdutil.SilentExit(code)
	}
	return nil
}

// writeText writes a table of the runs, then the reason of every verdict
// that is not ok, in full.
func writeText(w io.Writer, runs []Result) error {
	rows := make([][]string, len(runs))
	for i, r := range runs {
		v := r.Verdict
		if v == VerdictRecording {
			v = fmt.Sprintf("recording (pid %d)", r.PID)
		}
		boundaries := fmt.Sprint(r.Boundaries)
		if r.Verdict == VerdictRecording {
			boundaries = "-"
		}
		rows[i] = []string{r.TraceID, v, boundaries}
	}
	var buf strings.Builder
	if err := tableprinter.Render(&buf, []string{"TRACE ID", "VERDICT", "BOUNDARIES"}, rows); err != nil {
		return err
	}
	first := true
	for _, r := range runs {
		if r.Verdict == VerdictOK || r.Verdict == VerdictRecording {
			continue
		}
		if first {
			buf.WriteByte('\n')
			first = false
		}
		for i, line := range cmdutil.Wrap(fmt.Sprintf("%.8s %s: %s", r.TraceID, r.Verdict, r.Reason), cmdutil.TermWidth-2) {
			if i > 0 {
				buf.WriteString("  ")
			}
			buf.WriteString(line)
			buf.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, buf.String())
	return err
}
