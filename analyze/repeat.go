package analyze

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/olekukonko/tablewriter/pkg/twwidth"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/tableprinter"
)

// Comparing the runs of a fork's live tail: CompareRepeats.
//
// Models are nondeterministic: a fork run K times (`agentrr fork --repeat
// K`) takes, after its fork point, whatever paths the model leads it on.
// CompareRepeats says where each run leaves the original's path and the
// other runs', how each ended, and counts what matters for "does the fix
// hold": which tools the runs no longer call, or now call.
//
// A run's path is the boundaries it makes, by kind and name, in order (per
// branch), the arguments of its tool calls and HTTP exchanges, and which
// of its calls fail. The rest is not compared: a live model's answers
// differ every time in ids and wording, and so do the requests that carry
// them back (the next model call, with the conversation so far), and
// clock, random and id boundaries are fresh after the fork point by design.
// A different answer matters when it changes what the agent does next:
// then the path shows it.

// Repeat is one run of a fork, as CompareRepeats reads it: the replay's
// report and the boundaries its run recorded (the run named by
// Report.ReplayTrace), in seq order.
type Repeat struct {
	Report  *Report
	Records []boundary.Record
}

// Outcome says how one run of a fork ended.
type Outcome string

// The values of RepeatRun.Outcome.
const (
	// OutcomeOK: the agent ended its run without an error.
	OutcomeOK Outcome = "ok"
	// OutcomeError: the agent's run ended with an error.
	OutcomeError Outcome = "agent-error"
	// OutcomeRefused: the fork refused to run a tool live (it was not
	// allowed); the agent's error is that refusal, or what it made of it.
	OutcomeRefused Outcome = "refused"
	// OutcomeDiverged: the run diverged before its fork point, as a replay
	// does; nothing after it is the model's doing.
	OutcomeDiverged Outcome = "diverged"
	// OutcomeUnfinished: the agent did not end its run (it exited without
	// Run.End, or was killed).
	OutcomeUnfinished Outcome = "unfinished"
)

// Departure is the first boundary where one run's path leaves another's.
type Departure struct {
	// Op is EntryInserted (a boundary only this run made), EntryRemoved (a
	// boundary only the other run made) or EntryChanged (both made it, but
	// with other arguments, or it failed on one side only).
	Op EntryOp `json:"op"`
	// Seq is the boundary's seq in the run that made it: this run, or for
	// EntryRemoved the other one (before their fork point the two runs are
	// the same, boundary for boundary). Branch and Index are its identity.
	Seq    int64         `json:"seq"`
	Branch string        `json:"branch,omitempty"`
	Index  int64         `json:"index"`
	Kind   boundary.Kind `json:"kind"`
	Name   string        `json:"name"`
	// Differs says what differs in an EntryChanged boundary: DiffersRequest
	// (a tool's or HTTP exchange's arguments), DiffersError (it failed on
	// one side only), in that order.
	Differs []string `json:"differs,omitempty"`
	// Repeat is, in RepeatRun.FromRepeats, the run (numbered from 1) this
	// one leaves.
	Repeat int `json:"repeat,omitempty"`
}

// RepeatRun is one run of a fork, compared with the original and with the
// other runs.
type RepeatRun struct {
	// Repeat numbers the run, from 1, in the order the runs were made.
	Repeat int `json:"repeat"`
	// TraceID is the run's id; Boundaries counts its boundaries, Live
	// those that ran live.
	TraceID    string `json:"trace_id"`
	Boundaries int    `json:"boundaries"`
	Live       int    `json:"live"`
	// Fork is where the run left the recording (nil if it never did).
	Fork *ForkPoint `json:"fork,omitempty"`
	// FromOriginal is the first boundary where the run's path leaves the
	// original's; nil when it takes the original's path.
	FromOriginal *Departure `json:"from_original"`
	// SameAs is the first other run (numbered from 1) whose path is the
	// same as this one's, 0 when there is none; then FromRepeats is where
	// this run leaves the run whose path it follows longest (nil when there
	// is no other run).
	SameAs      int        `json:"same_as,omitempty"`
	FromRepeats *Departure `json:"from_repeats,omitempty"`
	// Outcome is how the run ended; AgentError the error its run ended
	// with, Refused the live calls the fork refused.
	Outcome    Outcome       `json:"outcome"`
	AgentError string        `json:"agent_error,omitempty"`
	Refused    []LiveRefusal `json:"refused,omitempty"`
	// Tools counts the run's tool calls (and HTTP exchanges other than
	// LLM calls) by name, refused ones included: what the agent asked for.
	Tools map[string]int `json:"tools"`
}

// ToolUse is how the runs use one tool, compared with the original.
type ToolUse struct {
	Name string `json:"name"`
	// Original is how many times the original called it; Runs how many of
	// the runs call it at least once (or try to: a refused call counts).
	Original int `json:"original_calls"`
	Runs     int `json:"runs_calling"`
}

// RepeatSummary counts what the runs did.
type RepeatSummary struct {
	// Runs is the number of runs; OriginalPath how many took the original's
	// path; Paths how many different paths they took.
	Runs         int `json:"runs"`
	OriginalPath int `json:"original_path"`
	Paths        int `json:"paths"`
	// OK, Errors, Refused, Diverged and Unfinished count the runs of each
	// Outcome.
	OK         int `json:"ok"`
	Errors     int `json:"agent_errors"`
	Refused    int `json:"refused"`
	Diverged   int `json:"diverged"`
	Unfinished int `json:"unfinished"`
	// Tools lists every tool the original or a run called: the original's
	// in the order it first called them, then the others.
	Tools []ToolUse `json:"tools"`
	// Lines says it in sentences: "3 of 5 runs no longer call
	// `refund_policy`", … .
	Lines []string `json:"lines"`
}

// Repeats is the outcome of CompareRepeats.
type Repeats struct {
	// OriginalTrace is the recording forked; Fork where the first run
	// forked.
	OriginalTrace string        `json:"original_trace"`
	Fork          *ForkPoint    `json:"fork,omitempty"`
	Runs          []RepeatRun   `json:"runs"`
	Summary       RepeatSummary `json:"summary"`
}

// CompareRepeats compares runs, the runs of one fork of the recording
// original (its boundaries, in seq order), with it and with each other:
// for each run, where its path first leaves the original's and the other
// runs', and how it ended; and a summary. A run's path is the boundaries
// it makes, by kind and name, in order (per branch), the arguments of its
// tool calls and HTTP exchanges, and which of its calls fail; model
// answers, and the model requests that carry them, are not compared. It aligns runs with Compare. Records must be in
// seq order; CompareRepeats does not modify them.
func CompareRepeats(original []boundary.Record, runs []Repeat) *Repeats {
	out := &Repeats{Runs: make([]RepeatRun, len(runs))}
	for i, r := range runs {
		rr := RepeatRun{Repeat: i + 1, Boundaries: len(r.Records), Tools: toolCalls(r.Records), Outcome: OutcomeUnfinished}
		if rep := r.Report; rep != nil {
			if out.OriginalTrace == "" {
				out.OriginalTrace, out.Fork = rep.OriginalTrace, rep.Fork
			}
			rr.TraceID, rr.Live, rr.Fork, rr.AgentError, rr.Refused = rep.ReplayTrace, rep.Live, rep.Fork, rep.AgentError, rep.Refused
			rr.Outcome = outcomeOf(rep)
		}
		rr.FromOriginal = firstDeparture(Compare(original, r.Records))
		out.Runs[i] = rr
	}
	// Every pair, both ways: a departure is told from the run that has it.
	from := make([][]*Departure, len(runs))
	distance := make([][]int, len(runs))
	for i := range runs {
		from[i], distance[i] = make([]*Departure, len(runs)), make([]int, len(runs))
		for j := range runs {
			if i != j {
				c := Compare(runs[j].Records, runs[i].Records)
				from[i][j], distance[i][j] = firstDeparture(c), departures(c)
			}
		}
	}
	for i := range out.Runs {
		rr := &out.Runs[i]
		// The closest run is the one this one follows longest; of those,
		// the one it differs from least.
		closest := -1
		for j := range runs {
			if j == i {
				continue
			}
			if from[i][j] == nil {
				rr.SameAs, rr.FromRepeats = j+1, nil
				break
			}
			if c := closest; c < 0 || from[i][j].Seq > from[i][c].Seq ||
				from[i][j].Seq == from[i][c].Seq && distance[i][j] < distance[i][c] {
				closest = j
			}
		}
		if rr.SameAs == 0 && closest >= 0 {
			d := *from[i][closest]
			d.Repeat = closest + 1
			rr.FromRepeats = &d
		}
	}
	out.Summary = summarize(original, out.Runs)
	return out
}

func outcomeOf(rep *Report) Outcome {
	switch {
	case !rep.Faithful():
		return OutcomeDiverged
	case len(rep.Refused) > 0:
		return OutcomeRefused
	case rep.AgentError != "":
		return OutcomeError
	case !rep.Finished:
		return OutcomeUnfinished
	}
	return OutcomeOK
}

// sideEffect reports whether boundaries of kind are calls whose arguments
// make a run's path: tools and HTTP exchanges other than LLM calls.
func sideEffect(kind boundary.Kind) bool {
	return kind == boundary.KindTool || kind == boundary.KindHTTP
}

func toolCalls(recs []boundary.Record) map[string]int {
	n := map[string]int{}
	for i := range recs {
		if sideEffect(recs[i].Kind) {
			n[recs[i].Name]++
		}
	}
	return n
}

// firstDeparture is the first entry of c where b's path leaves a's (see
// the comment at the top of this file), or nil when it never does. With
// branches it is the one whose boundary came first.
func firstDeparture(c *Comparison) *Departure {
	var first *Departure
	for _, e := range c.Entries {
		d := departure(e)
		if d == nil {
			continue
		}
		if first == nil || d.Seq < first.Seq {
			first = d
		}
		if !c.Branched {
			break
		}
	}
	return first
}

// departures counts the entries of c that change the path.
func departures(c *Comparison) int {
	n := 0
	for _, e := range c.Entries {
		if departure(e) != nil {
			n++
		}
	}
	return n
}

// departure is e as a Departure, or nil when e does not change the path.
func departure(e Entry) *Departure {
	d := &Departure{Op: e.Op, Seq: e.SeqB, Branch: e.Branch, Index: e.IndexB, Kind: e.Kind, Name: e.Name}
	switch e.Op {
	case EntryMatched:
		return nil
	case EntryRemoved:
		d.Seq, d.Index = e.SeqA, e.IndexA
	case EntryChanged:
		if sideEffect(e.Kind) && slices.Contains(e.Differs, DiffersRequest) {
			d.Differs = append(d.Differs, DiffersRequest)
		}
		if (e.ErrorA == "") != (e.ErrorB == "") {
			d.Differs = append(d.Differs, DiffersError)
		}
		if len(d.Differs) == 0 {
			return nil
		}
	}
	return d
}

func summarize(original []boundary.Record, runs []RepeatRun) RepeatSummary {
	s := RepeatSummary{Runs: len(runs), Tools: []ToolUse{}}
	index := map[string]int{}
	use := func(name string) *ToolUse {
		i, ok := index[name]
		if !ok {
			i = len(s.Tools)
			index[name] = i
			s.Tools = append(s.Tools, ToolUse{Name: name})
		}
		return &s.Tools[i]
	}
	for i := range original {
		if sideEffect(original[i].Kind) {
			use(original[i].Name).Original++
		}
	}
	for _, r := range runs {
		for _, name := range slices.Sorted(maps.Keys(r.Tools)) {
			use(name).Runs++
		}
		if r.FromOriginal == nil {
			s.OriginalPath++
		}
		if r.SameAs == 0 || r.SameAs > r.Repeat {
			s.Paths++ // the first run of its path
		}
		switch r.Outcome {
		case OutcomeOK:
			s.OK++
		case OutcomeError:
			s.Errors++
		case OutcomeRefused:
			s.Refused++
		case OutcomeDiverged:
			s.Diverged++
		default:
			s.Unfinished++
		}
	}
	k := len(runs)
	if k == 0 {
		s.Lines = []string{"no runs"}
		return s
	}
	of := func(n int) string { return fmt.Sprintf("%d of %d runs", n, k) }
	for _, t := range s.Tools {
		switch {
		case t.Original > 0 && t.Runs < k:
			s.Lines = append(s.Lines, fmt.Sprintf("%s no longer %s `%s`", of(k-t.Runs), verb(k-t.Runs, "calls", "call"), t.Name))
		case t.Original == 0 && t.Runs > 0:
			s.Lines = append(s.Lines, fmt.Sprintf("%s now %s `%s`", of(t.Runs), verb(t.Runs, "calls", "call"), t.Name))
		}
	}
	switch s.OriginalPath {
	case k:
		s.Lines = append(s.Lines, fmt.Sprintf("%s the original's path", allOf(k, "takes", "take")))
	case 0:
		s.Lines = append(s.Lines, "no run takes the original's path")
	default:
		s.Lines = append(s.Lines, fmt.Sprintf("%s %s the original's path", of(s.OriginalPath), verb(s.OriginalPath, "takes", "take")))
	}
	if s.OriginalPath < k && k > 1 {
		if s.Paths == 1 {
			s.Lines = append(s.Lines, fmt.Sprintf("all %d runs take one path", k))
		} else {
			s.Lines = append(s.Lines, fmt.Sprintf("the %d runs take %d different paths", k, s.Paths))
		}
	}
	switch s.OK {
	case k:
		s.Lines = append(s.Lines, fmt.Sprintf("%s without an agent error", allOf(k, "ends", "end")))
	case 0:
	default:
		s.Lines = append(s.Lines, fmt.Sprintf("%s %s without an agent error", of(s.OK), verb(s.OK, "ends", "end")))
	}
	for _, c := range []struct {
		n          int
		one, other string
	}{
		{s.Errors, "ends with an agent error", "end with an agent error"},
		{s.Refused, "was stopped by a live call it was not allowed to make", "were stopped by a live call they were not allowed to make"},
		{s.Diverged, "diverged before the fork point", "diverged before the fork point"},
		{s.Unfinished, "did not end its run", "did not end their run"},
	} {
		if c.n > 0 {
			s.Lines = append(s.Lines, of(c.n)+" "+verb(c.n, c.one, c.other))
		}
	}
	return s
}

func verb(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// allOf is "the run takes" or "all 5 runs take".
func allOf(k int, one, many string) string {
	if k == 1 {
		return "the run " + one
	}
	return fmt.Sprintf("all %d runs %s", k, many)
}

// String is the departure for people: "seq 3: -tool refund_policy" (only
// in the other run), "seq 3: +tool escalate" (only in this one), "seq 3:
// tool refund_policy: request" (other arguments); with the branch when it
// is not the root, "seq 3 (b[1]): …".
func (d *Departure) String() string {
	where := fmt.Sprintf("seq %d", d.Seq)
	if d.Branch != "" {
		where += " (" + boundary.Position(boundary.BranchLabel(d.Branch), d.Index) + ")"
	}
	what := oneLine(kindName(d.Kind, d.Name))
	switch d.Op {
	case EntryRemoved:
		return where + ": -" + what
	case EntryInserted:
		return where + ": +" + what
	}
	return where + ": " + what + ": " + strings.Join(d.Differs, ", ")
}

// Where names the refused boundary's place: "seq 3" on a run without
// branches, else its branch and index.
func (l LiveRefusal) Where(branched bool) string {
	if !branched && l.Branch == "" {
		return fmt.Sprintf("seq %d", l.Index)
	}
	return boundary.Position(boundary.BranchLabel(l.Branch), l.Index)
}

var repeatHeader = []string{"RUN", "TRACE ID", "FROM ORIGINAL", "FROM OTHER RUNS", "OUTCOME"}

// repeatMinWidths are the widths fitRepeatColumns may narrow the columns
// to (0: kept whole), and repeatNarrowing the order it narrows them in:
// FROM ORIGINAL matters most.
var (
	repeatMinWidths = []int{0, 0, 16, 16, 11}
	repeatNarrowing = []int{4, 3, 2}
)

// fitRepeatColumns narrows the columns, in the order of repeatNarrowing,
// until the table fits width, then wraps the cells of those columns at
// spaces to their widths.
func fitRepeatColumns(rows [][]string, width int) {
	widths := make([]int, len(repeatHeader))
	for i, h := range repeatHeader {
		widths[i] = twwidth.Width(h)
	}
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], twwidth.Width(cell))
		}
	}
	budget := width - tableprinter.ColumnGap*(len(widths)-1)
	for _, i := range repeatNarrowing {
		if over := total(widths) - budget; over > 0 {
			widths[i] = max(widths[i]-over, repeatMinWidths[i], twwidth.Width(repeatHeader[i]))
		}
	}
	for _, row := range rows {
		for i := range row {
			if repeatMinWidths[i] > 0 {
				row[i] = wrapWords(row[i], widths[i])
			}
		}
	}
}

// WriteTable writes the comparison for a person: a line naming the
// original and the fork point, a table with one row per run (its number,
// the first 8 digits of its trace id, where it leaves the original's path,
// where it leaves the other runs' or which run it follows, and its
// outcome), fitted to TableWidth columns, then the summary's lines. The
// text may change between versions; programs should read WriteJSON.
func (r *Repeats) WriteTable(w io.Writer) error {
	var buf bytes.Buffer
	head := "fork of " + orNone(r.OriginalTrace)
	if f := r.Fork; f != nil {
		head += fmt.Sprintf(" at %s (%s)", forkWhere(f), orNone(oneLine(kindName(f.Kind, f.Name))))
	}
	head += ", " + plural(len(r.Runs), "run", "runs")
	buf.WriteString(wrapWords(head, TableWidth))
	buf.WriteByte('\n')
	for _, run := range r.Runs {
		if !sameForkPoint(run.Fork, r.Fork) {
			buf.WriteString("note: the runs did not all fork at the same boundary (see --json: runs[].fork)\n")
			break
		}
	}
	buf.WriteByte('\n')
	rows := make([][]string, len(r.Runs))
	for i, run := range r.Runs {
		from := none
		if run.FromOriginal != nil {
			from = run.FromOriginal.String()
		}
		others := none
		switch {
		case run.SameAs > 0:
			others = fmt.Sprintf("same as %d", run.SameAs)
		case run.FromRepeats != nil:
			others = fmt.Sprintf("%s (vs %d)", run.FromRepeats, run.FromRepeats.Repeat)
		}
		rows[i] = []string{fmt.Sprint(run.Repeat), orNone(short(run.TraceID)), from, others, run.outcomeText()}
	}
	fitRepeatColumns(rows, TableWidth)
	if err := tableprinter.Render(&buf, repeatHeader, rows); err != nil {
		return fmt.Errorf("repeat table: %w", err)
	}
	buf.WriteByte('\n')
	for _, line := range r.Summary.Lines {
		buf.WriteString(line)
		buf.WriteByte('\n')
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// WriteJSON writes r as one indented JSON document.
func (r *Repeats) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

func (run *RepeatRun) outcomeText() string {
	switch run.Outcome {
	case OutcomeRefused:
		names := make([]string, 0, len(run.Refused))
		for _, l := range run.Refused {
			names = append(names, l.Name)
		}
		return "refused: " + strings.Join(names, ", ")
	case OutcomeError:
		return "agent error"
	}
	return string(run.Outcome)
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func forkWhere(f *ForkPoint) string {
	if f.Seq < 0 {
		return "the end of the recording"
	}
	return (&Divergence{Seq: f.Seq, Branch: f.Branch, Index: f.Index}).Where()
}

func sameForkPoint(a, b *ForkPoint) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Seq == b.Seq && a.Branch == b.Branch && a.Index == b.Index
}
