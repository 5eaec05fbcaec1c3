// Package test implements `agentrr test`: every recording of a folder of
// bundles (or of the store) replayed against the current build, a verdict
// per recording, as a regression suite.
package test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/agentrr/agentrr/internal/cmd/internal/agentrun"

	"github.com/spf13/cobra"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/internal/cmd/replay"
	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// Options are the inputs of `agentrr test`.
type Options struct {
	IO        *cmdutil.IOStreams
	Store     func() (*spanlog.Store, error)
	StorePath string

	// Paths are the recordings to replay: bundle files, directories
	// walked for bundles, run ids (or unique prefixes) in the store.
	Paths []string
	// Command is the agent command (after --); nil: each recording's
	// recorded command.
	Command []string
	// Jobs is how many replays run at once (-j).
	Jobs    int
	Observe bool
	JSON    bool
	// JUnit, when not empty, is the file to write a JUnit XML report to.
	JUnit string
}

// DefaultJobs is the default of -j: one replay per CPU Go may use
// (GOMAXPROCS), and at least 4. Each replay is an agent process of its
// own, which spends much of its time starting and waiting for the store
// (on 2 CPUs, -j 4 replays six example recordings in half the time of
// -j 2: docs/cli.md).
func DefaultJobs() int { return max(4, runtime.GOMAXPROCS(0)) }

// NewCmdTest returns the test command. runF, if not nil, replaces the
// command's logic (for tests).
func NewCmdTest(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Store: f.Store}
	cmd := &cobra.Command{
		Use:   "test <path | trace-id>... [-j N] [--observe] [--json] [--junit FILE] [-- <agent command> [args...]]",
		Short: "Replay a folder of recordings against the current build: a regression suite",
		Long: `Replay every recording named against the agent's current code, each in an
agent process of its own, and print one line per recording — faithful,
diverged (where, and what differs), truncated, damaged, agent failed,
recording (still being recorded) — then a summary line with the counts and
the time taken.

A path may be a bundle file (agentrr export <id> --file PATH: OTLP JSON,
gzip or not) or a directory, walked for bundles: files named *.json or
*.json.gz (so *.otlp.json and *.otlp.json.gz too), in lexical order. A file
found in a directory that holds no agentrr run is skipped, with a note on
stderr; one given by name is a usage error. An argument that is not a file
or directory is a run id (or a unique prefix of one) in the store.
Recordings are listed in the order given, directories sorted within.

The agent command after -- replays every recording (cd to where it expects
to run first). Without it, each recording is replayed with the command it
was recorded with (as agentrr replay <id> does): its executable, rebuilt
since if you like, with its recorded arguments, in its recorded directory.
A recording that has none (recorded by go run, received over OTLP) is a
usage error before anything runs: give the command after --.

-j N runs N replays at once (default: GOMAXPROCS, the CPUs Go may use, and
at least 4); verdicts do not depend on it, and lines are printed whole, in
the order of the recordings. Replays halt at the first divergence; --observe collects
every divergence instead. Each replayed run is recorded into the store, as
agentrr replay records it.

After the lines, the report of each recording that is not faithful is
printed (the divergence table, the request diff; the end of the agent's
output when it failed), then the summary. --json prints one JSON document
instead; --junit FILE also writes a JUnit XML report, one <testcase> per
recording.

Exit status: 0 every recording replayed faithfully; 1 at least one did not
(diverged, truncated, damaged, agent failed, still being recorded); 2 usage:
bad flags, a path that does not exist and is no run, a file given by name
that is not a bundle, no recordings found, a recording with no command to
replay it by, an unknown or ambiguous run id.`,
		Example: `  agentrr test testdata/agentrr -- go run ./cmd/agent
  agentrr test testdata/agentrr -j 1 --junit agentrr-junit.xml -- ./bin/agent
  agentrr test testdata/agentrr/refund.json.gz 4bf92f35 --observe -- ./bin/agent
  agentrr test testdata/agentrr --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			paths := args
			if dash := cmd.ArgsLenAtDash(); dash >= 0 {
				paths, opts.Command = args[:dash], args[dash:]
				if len(opts.Command) == 0 {
					return cmdutil.FlagError("nothing after --: give the agent command there, or leave -- out to replay each recording with the command it was recorded with")
				}
			}
			if len(paths) == 0 {
				return cmdutil.FlagError("give the recordings to replay: bundle files, directories of bundles (e.g. testdata/agentrr) or run ids (usage: %s)", cmd.UseLine())
			}
			if opts.Jobs < 1 {
				return cmdutil.FlagError("-j must be 1 or more, not %d (the number of replays to run at once)", opts.Jobs)
			}
			if opts.JUnit != "" {
				if fi, err := os.Stat(filepath.Dir(opts.JUnit)); err != nil || !fi.IsDir() {
					return cmdutil.FlagError("--junit %s: the directory %s does not exist: make it first, or write the report elsewhere", opts.JUnit, filepath.Dir(opts.JUnit))
				}
			}
			opts.Paths = paths
			opts.StorePath = f.StorePath()
			if runF != nil {
				return runF(opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().IntVarP(&opts.Jobs, "jobs", "j", DefaultJobs(), "run `N` replays at once")
	cmd.Flags().BoolVar(&opts.Observe, "observe", false, "never halt: collect every divergence of each replay")
	cmd.Flags().StringVar(&opts.JUnit, "junit", "", "also write a JUnit XML report to `file`")
	cmdutil.AddJSONFlag(cmd, &opts.JSON)
	return cmd
}

// Verdicts of one recording.
const (
	Faithful    = "faithful"
	Diverged    = "diverged"
	Truncated   = "truncated"
	Damaged     = "damaged"
	AgentFailed = "agent failed"
	Recording   = "recording"
)

// verdicts in the order the summary counts them.
var verdicts = []string{Faithful, Diverged, Truncated, Damaged, AgentFailed, Recording}

// Result is the outcome of one recording, an element of --json's
// "recordings".
type Result struct {
	// Name is the recording as listed: the bundle's path, or the run's
	// name and id.
	Name string `json:"name"`
	// File is the bundle's path; empty for a run of the store.
	File    string `json:"file,omitempty"`
	TraceID string `json:"trace_id,omitempty"`
	RunName string `json:"run_name,omitempty"`
	// Verdict is one of faithful, diverged, truncated, damaged, "agent
	// failed", recording.
	Verdict string `json:"verdict"`
	// Reason says, in one line, why the recording is not faithful.
	Reason string `json:"reason,omitempty"`
	// Seconds is how long its replay took.
	Seconds float64 `json:"seconds"`
	// Report is the replay's report, as agentrr replay --json prints it;
	// absent when no replay took place.
	Report json.RawMessage `json:"report,omitempty"`

	report *analyze.Report
	// output is what the agent printed (stdout and stderr).
	output []byte
}

// Summary is --json's "summary": how many recordings got each verdict.
type Summary struct {
	Total       int `json:"total"`
	Faithful    int `json:"faithful"`
	Diverged    int `json:"diverged"`
	Truncated   int `json:"truncated"`
	Damaged     int `json:"damaged"`
	AgentFailed int `json:"agent_failed"`
	Recording   int `json:"recording"`
	// Skipped counts files found in directories that are not bundles.
	Skipped int `json:"skipped"`
}

// Output is the --json document.
type Output struct {
	Recordings []*Result `json:"recordings"`
	Summary    Summary   `json:"summary"`
	Mode       string    `json:"mode"`
	Jobs       int       `json:"jobs"`
	Seconds    float64   `json:"seconds"`
}

// item is one recording to replay, as found.
type item struct {
	res     *Result
	rec     *replayer.Recording
	env     []string
	command []string
	dir     string
}

// Run replays every recording of opts.Paths and prints the verdicts.
func Run(ctx context.Context, opts *Options) error {
	if ctx == nil {
		ctx = context.Background()
	}
	start := time.Now()
	items, skipped, cleanup, err := collect(ctx, opts)
	defer cleanup()
	if err != nil {
		return err
	}
	mode := replayer.Strict
	if opts.Observe {
		mode = replayer.Observe
	}
	p := &printer{opts: opts, items: items}
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(opts.Jobs, len(items)) {
		wg.Go(func() {
			for i := range next {
				replayOne(ctx, opts, mode, items[i])
				p.done(i)
			}
		})
	}
	for i, it := range items {
		switch {
		case it.rec == nil: // verdict known without a replay
			p.done(i)
			continue
		case ctx.Err() != nil: // interrupted: the rest is not replayed
			it.res.Verdict, it.res.Reason = AgentFailed, "not replayed: agentrr test was interrupted"
			p.done(i)
			continue
		}
		next <- i
	}
	close(next)
	wg.Wait()

	out := Output{Mode: string(mode), Jobs: opts.Jobs, Seconds: seconds(time.Since(start))}
	out.Summary.Skipped = skipped
	for _, it := range items {
		out.Recordings = append(out.Recordings, it.res)
		out.Summary.count(it.res.Verdict)
	}
	if opts.JUnit != "" {
		if err := writeJUnit(opts.JUnit, &out); err != nil {
			return err
		}
	}
	if opts.JSON {
		if err := cmdutil.WriteJSON(opts.IO.Out, &out); err != nil {
			return err
		}
	} else if err := p.finish(&out); err != nil {
		return err
	}
	if out.Summary.Faithful != out.Summary.Total {
		return cmdutil.SilentExit(cmdutil.ExitDiverged)
	}
	return nil
}

func (s *Summary) count(verdict string) {
	s.Total++
	switch verdict {
	case Faithful:
		s.Faithful++
	case Diverged:
		s.Diverged++
	case Truncated:
		s.Truncated++
	case Damaged:
		s.Damaged++
	case AgentFailed:
		s.AgentFailed++
	case Recording:
		s.Recording++
	}
}

func (s *Summary) of(verdict string) int {
	return map[string]int{Faithful: s.Faithful, Diverged: s.Diverged, Truncated: s.Truncated,
		Damaged: s.Damaged, AgentFailed: s.AgentFailed, Recording: s.Recording}[verdict]
}

// collect finds the recordings of opts.Paths and loads each, checking
// that it can be replayed: every usage error is found before anything
// runs. cleanup removes the temporary files of the recordings loaded.
func collect(ctx context.Context, opts *Options) (items []*item, skipped int, cleanup func(), err error) {
	var cleanups []func()
	cleanup = func() {
		for _, c := range cleanups {
			c()
		}
	}
	seen := map[string]bool{}
	var noCommand []string
	add := func(it *item) {
		key := it.res.File
		if key == "" {
			key = it.res.TraceID
		}
		if seen[key] {
			return
		}
		seen[key] = true
		if it.rec != nil && opts.Command == nil {
			cmd, dir, cerr := agentrun.RecordedCommand(it.rec.TraceID, it.rec.Info.Command, opts.IO.ErrOut)
			if cerr != nil {
				noCommand = append(noCommand, fmt.Sprintf("%s: %v", it.res.Name, cerr))
			}
			it.command, it.dir = cmd, dir
		} else {
			it.command = opts.Command
		}
		items = append(items, it)
	}
	for _, arg := range opts.Paths {
		fi, serr := os.Stat(arg)
		switch {
		case serr == nil && fi.IsDir():
			files, werr := bundleFiles(arg)
			if werr != nil {
				return nil, 0, cleanup, werr
			}
			if len(files) == 0 {
				return nil, 0, cleanup, cmdutil.FlagError("%s holds no bundles (files named *.json or *.json.gz): export runs into it with agentrr export <id> --file %s", arg, filepath.Join(arg, "<name>.json"))
			}
			for _, file := range files {
				it, lerr := loadFile(ctx, file, &cleanups)
				if errors.Is(lerr, errNotBundle) {
					fmt.Fprintf(opts.IO.ErrOut, "agentrr: skipped %s: %v\n", file, lerr)
					skipped++
					continue
				}
				if lerr != nil {
					return nil, 0, cleanup, lerr
				}
				add(it)
			}
		case serr == nil:
			it, lerr := loadFile(ctx, arg, &cleanups)
			if errors.Is(lerr, errNotBundle) {
				return nil, 0, cleanup, cmdutil.FlagError("%s: %v: give bundles written by agentrr export <id> --file PATH", arg, lerr)
			}
			if lerr != nil {
				return nil, 0, cleanup, lerr
			}
			add(it)
		case errors.Is(serr, fs.ErrNotExist) && looksLikeRunID(arg):
			it, lerr := loadRun(ctx, opts, arg, &cleanups)
			if lerr != nil {
				if errors.Is(lerr, spanlog.ErrNotFound) {
					return nil, 0, cleanup, cmdutil.FlagError("%s is no file or directory, and no run in store %s (list runs with: agentrr runs)", arg, opts.StorePath)
				}
				return nil, 0, cleanup, lerr
			}
			add(it)
		case errors.Is(serr, fs.ErrNotExist):
			return nil, 0, cleanup, cmdutil.FlagError("%s: no such file or directory (give bundle files, directories of bundles, or run ids)", arg)
		default:
			return nil, 0, cleanup, cmdutil.FlagError("%s: %v", arg, serr)
		}
	}
	if len(noCommand) > 0 {
		return nil, 0, cleanup, cmdutil.FlagError("%s cannot be replayed by the command it was recorded with (give the agent command after --: agentrr test PATH... -- <agent>):\n  %s",
			cmdutil.Plural(len(noCommand), "recording", "recordings"), strings.Join(noCommand, "\n  "))
	}
	if len(items) == 0 {
		return nil, skipped, cleanup, cmdutil.FlagError("no recordings to replay: the files found are not bundles")
	}
	return items, skipped, cleanup, nil
}

// bundleFiles returns the bundle files under dir, in lexical order.
func bundleFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && spanlog.IsBundleName(d.Name()) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, cmdutil.FlagError("read %s: %v", dir, err)
	}
	return files, nil
}

// looksLikeRunID reports whether arg can be a run id or a prefix of one.
func looksLikeRunID(arg string) bool {
	if arg == "" || len(arg) > 32 {
		return false
	}
	for _, r := range strings.ToLower(arg) {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

// errNotBundle matches errors saying that a file holds no agentrr run.
var errNotBundle = errors.New("not an agentrr bundle")

type notBundleError struct{ err error }

func (e *notBundleError) Error() string {
	msg := e.err.Error()
	if strings.Contains(msg, errNotBundle.Error()) {
		return msg
	}
	return errNotBundle.Error() + " (" + msg + ")"
}
func (e *notBundleError) Is(target error) bool { return target == errNotBundle }

// loadFile loads the bundle at path. A bundle that is damaged gets its
// verdict (no replay); a file that is not a bundle is errNotBundle.
func loadFile(ctx context.Context, path string, cleanups *[]func()) (*item, error) {
	res := &Result{Name: path, File: path}
	rec, env, cleanup, err := replay.LoadRecording(ctx, &replay.Options{FromFile: path})
	*cleanups = append(*cleanups, cleanup)
	var amb *spanlog.AmbiguousError
	switch {
	case err == nil:
	case errors.Is(err, spanlog.ErrDamaged), errors.Is(err, replayer.ErrDamaged):
		var dmg *replayer.DamagedError
		if errors.As(err, &dmg) {
			res.TraceID = dmg.TraceID
		}
		res.Verdict, res.Reason = Damaged, oneLine(err.Error())
		return &item{res: res}, nil
	case errors.Is(err, spanlog.ErrBundle), errors.Is(err, spanlog.ErrNotFound), errors.As(err, &amb):
		return nil, &notBundleError{err}
	default:
		return nil, cmdutil.FlagError("%s: %v", path, err)
	}
	res.TraceID, res.RunName = rec.TraceID, rec.Info.Name
	return &item{res: res, rec: rec, env: env}, nil
}

// loadRun loads run id (or a unique prefix) of the store. A run that is
// damaged or being recorded gets its verdict.
func loadRun(ctx context.Context, opts *Options, id string, cleanups *[]func()) (*item, error) {
	res := &Result{Name: id}
	rec, env, cleanup, err := replay.LoadRecording(ctx, &replay.Options{TraceID: id, Store: opts.Store})
	*cleanups = append(*cleanups, cleanup)
	var recording *spanlog.RecordingError
	var dmg *replayer.DamagedError
	switch {
	case err == nil:
	case errors.As(err, &recording):
		res.Name, res.TraceID = runName(liveRunName(opts, recording.TraceID), recording.TraceID), recording.TraceID
		res.Verdict, res.Reason = Recording, oneLine(err.Error())
		return &item{res: res}, nil
	case errors.As(err, &dmg):
		res.Name, res.TraceID = runName("", dmg.TraceID), dmg.TraceID
		res.Verdict, res.Reason = Damaged, oneLine(err.Error())
		return &item{res: res}, nil
	default:
		return nil, err
	}
	res.Name, res.TraceID, res.RunName = runName(rec.Info.Name, rec.TraceID), rec.TraceID, rec.Info.Name
	return &item{res: res, rec: rec, env: env}, nil
}

// liveRunName is the name of run id, being recorded, as agentrr runs
// lists it ("" when not known).
func liveRunName(opts *Options, id string) string {
	store, err := opts.Store()
	if err != nil {
		return ""
	}
	runs, err := store.Runs()
	if err != nil {
		return ""
	}
	for _, r := range runs {
		if r.TraceID == id {
			return r.Name
		}
	}
	return ""
}

// runName names a run of the store in the list: its name and id.
func runName(name, id string) string {
	if name == "" {
		return "run " + id
	}
	return name + " " + id
}

// replayOne replays one recording in a child process and sets its verdict.
func replayOne(ctx context.Context, opts *Options, mode replayer.Mode, it *item) {
	start := time.Now()
	defer func() { it.res.Seconds = seconds(time.Since(start)) }()
	var output bytes.Buffer
	child := &agentrun.Child{
		Recording: it.rec,
		StorePath: opts.StorePath,
		Mode:      mode,
		Command:   it.command,
		Dir:       it.dir,
		Env:       it.env,
		Stdout:    &output, // one writer for both: os/exec copies them in order
		Stderr:    &output,
	}
	report, runErr, err := agentrun.RunChild(ctx, child)
	it.res.output = output.Bytes()
	if err != nil {
		res := it.res
		if it.res.File == "" {
			if lerr := replay.FullCheck(&replay.Options{Store: opts.Store}, it.rec); lerr != nil {
				err = lerr
			}
		}
		res.Verdict = AgentFailed
		if errors.Is(err, replayer.ErrDamaged) || errors.Is(err, spanlog.ErrDamaged) {
			res.Verdict = Damaged
		}
		res.Reason = oneLine(err.Error())
		return
	}
	it.res.report = report
	var buf bytes.Buffer
	if err := report.WriteJSON(&buf); err == nil {
		it.res.Report = json.RawMessage(bytes.TrimSpace(buf.Bytes()))
	}
	it.res.Verdict, it.res.Reason = verdict(report, runErr)
}

// verdict is the verdict of a replay that took place, and its reason.
func verdict(r *analyze.Report, runErr error) (string, string) {
	if !r.Faithful() {
		d := &r.Divergences[0]
		if d.Reason == analyze.ReasonTruncated {
			return Truncated, fmt.Sprintf("the recording holds only %s (its recorder was killed) and the agent went on past its end", cmdutil.Plural(r.Recorded, "boundary", "boundaries"))
		}
		reason := "at " + r.Line(d)
		if n := len(r.Divergences) - 1; n > 0 {
			reason += fmt.Sprintf(" (and %d more)", n)
		}
		return Diverged, reason
	}
	switch {
	case runErr != nil:
		return AgentFailed, fmt.Sprintf("the agent failed (%s) without diverging from the recording", agentrun.ExitStatus(runErr))
	case !r.Finished:
		return AgentFailed, "the agent exited without ending its run (Run.End was not called)"
	}
	return Faithful, ""
}

// printer prints the verdict lines whole, in the order of the recordings,
// as soon as every recording before them is done.
type printer struct {
	opts     *Options
	items    []*item
	mu       sync.Mutex
	finished []bool
	next     int
	err      error
}

func (p *printer) done(i int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished == nil {
		p.finished = make([]bool, len(p.items))
	}
	p.finished[i] = true
	if p.opts.JSON {
		return
	}
	width := p.nameWidth()
	for p.next < len(p.items) && p.finished[p.next] {
		if _, err := io.WriteString(p.opts.IO.Out, line(p.items[p.next].res, width)); err != nil && p.err == nil {
			p.err = err
		}
		p.next++
	}
}

// nameWidth is the width of the name column: the longest name.
func (p *printer) nameWidth() int {
	w := 0
	for _, it := range p.items {
		w = max(w, utf8.RuneCountInString(it.res.Name))
	}
	return w
}

// line is the verdict line of res.
func line(res *Result, width int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-12s  %s", res.Verdict, res.Name)
	if res.Verdict == Faithful {
		if res.report != nil {
			fmt.Fprintf(&b, "%s  %s", strings.Repeat(" ", max(0, width-utf8.RuneCountInString(res.Name))), cmdutil.Plural(res.report.Recorded, "boundary", "boundaries"))
		}
	} else if res.Reason != "" {
		fmt.Fprintf(&b, "%s  %s", strings.Repeat(" ", max(0, width-utf8.RuneCountInString(res.Name))), res.Reason)
	}
	b.WriteByte('\n')
	return b.String()
}

// finish prints the reports of the recordings that are not faithful, then
// the summary line.
func (p *printer) finish(out *Output) error {
	if p.err != nil {
		return p.err
	}
	w := p.opts.IO.Out
	reports := false
	for _, it := range p.items {
		res := it.res
		if res.Verdict == Faithful {
			continue
		}
		reports = true
		fmt.Fprintf(w, "\n--- %s: %s\n", res.Verdict, res.Name)
		if res.report != nil && !res.report.Faithful() {
			if err := res.report.WriteTable(w); err != nil {
				return err
			}
		} else if res.Reason != "" {
			fmt.Fprintln(w, res.Reason)
		}
		if res.Verdict == AgentFailed && len(res.output) > 0 {
			fmt.Fprintf(w, "the agent's output ended with:\n%s", indent(tail(res.output, 20)))
		}
	}
	if reports {
		fmt.Fprintln(w)
	}
	_, err := fmt.Fprintln(w, summaryLine(out))
	return err
}

// summaryLine is the last line: the counts and the time taken.
func summaryLine(out *Output) string {
	s := &out.Summary
	parts := []string{fmt.Sprintf("%d faithful", s.Faithful)}
	for _, v := range verdicts[1:] {
		if n := s.of(v); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, v))
		}
	}
	if s.Skipped > 0 {
		parts = append(parts, fmt.Sprintf("%d skipped (not bundles)", s.Skipped))
	}
	verdict := "ok"
	if s.Faithful != s.Total {
		verdict = "FAIL"
	}
	return fmt.Sprintf("%s: %s: %s (%.2fs, -j %d)", verdict, cmdutil.Plural(s.Total, "recording", "recordings"), strings.Join(parts, ", "), out.Seconds, out.Jobs)
}

func seconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// tail returns the last n lines of b.
func tail(b []byte, n int) []byte {
	b = bytes.TrimRight(b, "\n")
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return append(bytes.Join(lines, []byte("\n")), '\n')
}

func indent(b []byte) string {
	var out strings.Builder
	for l := range strings.Lines(string(b)) {
		out.WriteString("  " + l)
	}
	return out.String()
}
