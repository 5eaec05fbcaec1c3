package analyze

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/olekukonko/tablewriter/pkg/twwidth"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/tableprinter"
)

// TableWidth is the width, in terminal columns, that WriteTable fits its
// divergence table and diff lines to. The table exceeds it only when even
// its narrowest layout does not fit; a diff line exceeds it when its seq,
// kind, name and path leave less than 64 columns for its values.
const TableWidth = 80

// Column layout of the divergence table: cells are left-aligned, separated
// by tableprinter.ColumnGap spaces, without borders.

// layout is the column layout of a divergence table.
type layout struct {
	header []string
	// minWidths are the widths fitColumns may narrow the columns to: SEQ
	// and KIND are short and kept whole (0), short signatures keep their
	// 12 digits.
	minWidths []int
	// what is the index of WHAT DIFFERS, the column that matters most: it
	// is narrowed last, and its cells are wrapped rather than cut.
	what int
}

// plainLayout is the table of a replay of one branch.
var plainLayout = layout{
	header:    []string{"SEQ", "KIND", "NAME", "EXPECTED", "OBSERVED", "WHAT DIFFERS"},
	minWidths: []int{0, 0, 8, 12, 12, minWhatWidth},
	what:      5,
}

// branchLayout is the table of a replay with branches: BRANCH is the
// branch and the boundary's index in it, "gamma[0]".
var branchLayout = layout{
	header:    []string{"SEQ", "BRANCH", "KIND", "NAME", "EXPECTED", "OBSERVED", "WHAT DIFFERS"},
	minWidths: []int{0, 10, 0, 8, 12, 12, minWhatWidth},
	what:      6,
}

func (r *Report) layout() layout {
	if r.Branched {
		return branchLayout
	}
	for i := range r.Divergences {
		if r.Divergences[i].Branch != "" {
			return branchLayout
		}
	}
	return plainLayout
}

// minWhatWidth is the least width of WHAT DIFFERS.
const minWhatWidth = 24

// none fills a table cell that has nothing to show.
const none = "-"

// WriteTable writes r for a person to read, as plain text without colour.
//
// It first writes a summary: the recording replayed, the mode, the verdict,
// how many boundaries were served and where strict mode halted or the replay
// was stopped on request, followed by one line each for the replayed run's
// trace id, whether the agent's code changed since the recording, a
// truncated recording and the agent's error when there are any, and, for a
// stopped replay, the pending boundary with its request as indented JSON
// (see [IndentJSON]). When r has divergences it then
// writes a table of them, one row per divergence, with the columns SEQ,
// KIND, NAME, EXPECTED, OBSERVED and WHAT DIFFERS, kept within [TableWidth]
// columns by cutting long cells with "…" (WHAT DIFFERS is word-wrapped
// instead); and finally, for each signature divergence, one line per change
// of its request diff, long values cut around their first difference:
//
//	seq 3 llm fake-gpt: messages[0].content: "You are a helpful…" → "You are a terse…"
//	seq 3 llm fake-gpt: + tools[2]: {"name":"refund"}
//	seq 3 llm fake-gpt: - temperature: 0.7
//
// The output is for people and may change between versions; programs should
// read [Report.WriteJSON] instead. WriteTable returns the first error from
// formatting the table or writing to w.
func (r *Report) WriteTable(w io.Writer) error {
	var buf bytes.Buffer
	r.writeSummary(&buf)
	if len(r.Divergences) > 0 {
		buf.WriteByte('\n')
		if err := r.writeDivergenceTable(&buf); err != nil {
			return err
		}
		r.writeDiffs(&buf)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func (r *Report) writeSummary(buf *bytes.Buffer) {
	if r.Fork != nil {
		r.writeForkSummary(buf)
		return
	}
	buf.WriteString("replay")
	if r.OriginalTrace != "" {
		buf.WriteString(" of ")
		buf.WriteString(r.OriginalTrace)
	}
	if r.Mode != "" {
		fmt.Fprintf(buf, " (%s)", r.Mode)
	}
	fmt.Fprintf(buf, ": %s — ", r.Verdict())
	if !r.Faithful() {
		fmt.Fprintf(buf, "%s, ", plural(len(r.Divergences), "divergence", "divergences"))
	}
	fmt.Fprintf(buf, "%d of %s served", r.Served, plural(r.Recorded, "boundary", "boundaries"))
	if r.Requested != r.Served {
		fmt.Fprintf(buf, " (%d requested)", r.Requested)
	}
	if r.Halted {
		if len(r.Divergences) > 0 {
			fmt.Fprintf(buf, ", halted at %s", r.Divergences[0].Where())
		} else {
			buf.WriteString(", halted")
		}
	}
	if r.Stopped != nil {
		fmt.Fprintf(buf, ", stopped before %s", r.Stopped.where())
		if r.Stopped.Reason != "" {
			fmt.Fprintf(buf, " (%s)", r.Stopped.Reason)
		}
	}
	buf.WriteByte('\n')
	if r.ReplayTrace != "" {
		fmt.Fprintf(buf, "the replayed run was recorded as trace %s\n", r.ReplayTrace)
	}
	r.writeNotes(buf)
}

// writeNotes writes the lines of the summary that replays and forks share.
func (r *Report) writeNotes(buf *bytes.Buffer) {
	if r.CodeChange != "" {
		fmt.Fprintf(buf, "%s\n", r.CodeChange)
	}
	if r.Chaos != "" {
		fmt.Fprintf(buf, "chaos mode, %s: the replay's scheduling was perturbed (the same seed perturbs it the same way)\n", r.Chaos)
	}
	if r.RecordingTruncated {
		fmt.Fprintf(buf, "the recording is truncated (its recorder was killed): it holds only the first %s of its run\n",
			plural(r.Recorded, "boundary", "boundaries"))
	}
	if r.AgentError != "" {
		fmt.Fprintf(buf, "the agent's run ended with an error: %s\n", r.AgentError)
	}
	if r.Stopped != nil {
		r.writeStop(buf)
	}
	r.writeRefused(buf)
}

// writeForkSummary is writeSummary for a fork that left its recording: the
// verdict up to the fork point, what was served and run live, where and
// why it forked (with the request diff when it forked at a divergence),
// and the run it was recorded as.
func (r *Report) writeForkSummary(buf *bytes.Buffer) {
	f := r.Fork
	buf.WriteString("fork")
	if r.OriginalTrace != "" {
		buf.WriteString(" of ")
		buf.WriteString(r.OriginalTrace)
	}
	verdict := "exact up to the fork point"
	if !r.Faithful() {
		verdict = "diverged, " + plural(len(r.Divergences), "divergence", "divergences")
	}
	fmt.Fprintf(buf, ": %s — %d of %s served, then %d run live\n", verdict, r.Served, plural(r.Recorded, "boundary", "boundaries"), r.Live)
	fmt.Fprintf(buf, "forked at %s, %s (%s)", forkWhere(f), orNone(oneLine(kindName(f.Kind, f.Name))), f.Reason)
	if f.Divergence != nil {
		fmt.Fprintf(buf, ": %s", r.whatDiffers(f.Divergence))
	}
	buf.WriteByte('\n')
	if d := f.Divergence; d != nil && d.Reason == ReasonSignature && len(d.Diff) > 0 {
		writeDiff(buf, d)
	}
	if r.ReplayTrace != "" {
		fmt.Fprintf(buf, "the fork was recorded as trace %s (compare: agentrr diff %s %s)\n", r.ReplayTrace, short(r.OriginalTrace), short(r.ReplayTrace))
	}
	r.writeNotes(buf)
}

// writeRefused writes a line for each boundary a fork refused to run live.
func (r *Report) writeRefused(buf *bytes.Buffer) {
	for _, l := range r.Refused {
		line := fmt.Sprintf("refused to run %s live at %s: it was not called (allow it with --live-tool%c%s, or every tool with --live-tools)",
			oneLine(kindName(l.Kind, l.Name)), l.Where(r.Branched), nbsp, strings.ReplaceAll(quoteArg(l.Name), " ", string(nbsp)))
		buf.WriteString(wrapWords(line, TableWidth))
		buf.WriteByte('\n')
	}
}

// quoteArg quotes a command-line argument for a POSIX shell when it needs it.
func quoteArg(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '_' || r == '-' || r == '.' || r == '/' || r == ':' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// where names the pending boundary's place, as Divergence.Where does.
func (st *Stop) where() string {
	return (&Divergence{Seq: st.Seq, Branch: st.Branch, Index: st.Index}).Where()
}

// stopLines is how many lines of the pending request writeStop shows.
const stopLines = 20

// writeStop writes the boundary pending where the replay was stopped: its
// seq, kind and name, whether it matches the recording, and its request as
// indented JSON cut to stopLines lines.
func (r *Report) writeStop(buf *bytes.Buffer) {
	st := r.Stopped
	fmt.Fprintf(buf, "\npending at %s (not served): %s", st.where(), orNone(oneLine(kindName(st.Kind, st.Name))))
	if st.Divergence == nil {
		buf.WriteString(", matches the recording\n")
	} else {
		fmt.Fprintf(buf, ", differs from the recording: %s\n", r.whatDiffers(st.Divergence))
	}
	if len(st.Request) > 0 {
		buf.WriteString("request:\n")
		buf.WriteString(IndentJSON(st.Request, "  ", stopLines))
	}
}

// IndentJSON returns the JSON text raw indented for reading, each line
// starting with prefix and ending with a newline, and cut after maxLines
// lines (0: no limit) with a last line saying how many were left out.
// Text that is not valid JSON is returned as it is, under the same rules.
func IndentJSON(raw []byte, prefix string, maxLines int) string {
	var pretty bytes.Buffer
	text := string(raw)
	if err := json.Indent(&pretty, bytes.TrimSpace(raw), "", "  "); err == nil {
		text = pretty.String()
	}
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	var b strings.Builder
	for i, line := range lines {
		if maxLines > 0 && i == maxLines && len(lines) > maxLines+1 {
			fmt.Fprintf(&b, "%s%s %d more lines\n", prefix, ellipsis, len(lines)-i)
			break
		}
		b.WriteString(prefix)
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

func (r *Report) writeDivergenceTable(buf *bytes.Buffer) error {
	l := r.layout()
	rows := make([][]string, len(r.Divergences))
	for i := range r.Divergences {
		rows[i] = r.divergenceRow(&r.Divergences[i], l)
	}
	fitColumns(l, rows, TableWidth)

	if err := tableprinter.Render(buf, l.header, rows); err != nil {
		return fmt.Errorf("divergence table: %w", err)
	}
	return nil
}

// divergenceRow is the table row of d in layout l, uncut.
func (r *Report) divergenceRow(d *Divergence, l layout) []string {
	kind, name := d.ExpectedKind, d.ExpectedName
	if kind == "" && name == "" {
		kind, name = d.ObservedKind, d.ObservedName
	}
	expected := orNone(boundary.ShortSignature(d.ExpectedSignature))
	observed := orNone(boundary.ShortSignature(d.ObservedSignature))
	if d.Reason == ReasonKind {
		expected = orNone(kindName(d.ExpectedKind, d.ExpectedName))
		observed = orNone(kindName(d.ObservedKind, d.ObservedName))
	}
	seq := none
	if d.Seq >= 0 {
		seq = fmt.Sprint(d.Seq)
	}
	row := []string{seq}
	if len(l.header) == len(branchLayout.header) {
		row = append(row, boundary.Position(boundary.BranchLabel(d.Branch), d.Index))
	}
	return append(row,
		orNone(string(kind)),
		orNone(oneLine(name)),
		expected,
		observed,
		r.whatDiffers(d),
	)
}

// Where names the place of a divergence for people: "seq 4", with the
// branch and index when the boundary is not on the root branch,
// "seq 4 (branch gamma[1])", or only those past the end of a branch.
func (d *Divergence) Where() string {
	switch {
	case d.Branch == "" && d.Seq < 0:
		return fmt.Sprintf("index %d of the root branch", d.Index)
	case d.Branch == "":
		return fmt.Sprintf("seq %d", d.Seq)
	case d.Seq < 0:
		return "branch " + boundary.Position(d.Branch, d.Index)
	}
	return fmt.Sprintf("seq %d (branch %s)", d.Seq, boundary.Position(d.Branch, d.Index))
}

// whatDiffers is the short phrase of the WHAT DIFFERS column.
func (r *Report) whatDiffers(d *Divergence) string {
	switch d.Reason {
	case ReasonSignature:
		if len(d.Diff) == 0 {
			return "request differs"
		}
		c := d.Diff[0]
		s := displayPath(c.Path) + " " + c.Op
		if n := len(d.Diff) - 1; n > 0 {
			s += fmt.Sprintf(" and%c%d%cmore", nbsp, n, nbsp) // wrapped as one word
		}
		return s
	case ReasonKind:
		got := kindName(d.ObservedKind, d.ObservedName)
		if got == "" {
			got = "nothing"
		}
		return fmt.Sprintf("expected %s, got %s", orNone(kindName(d.ExpectedKind, d.ExpectedName)), got)
	case ReasonExtra:
		if d.Branch != "" {
			return "boundary past the end of its branch's recording"
		}
		return "boundary past the end of the recording"
	case ReasonConcurrent:
		return "made while another boundary of its branch was in flight (unbranched concurrency)"
	case ReasonAmbiguous:
		return "request recorded more than once among concurrent boundaries, answers differ"
	case ReasonVersion:
		return "the recording predates the oldest supported version"
	case ReasonMissing:
		n := max(d.Count, 1)
		return fmt.Sprintf("%s never requested", plural(n, "recorded boundary", "recorded boundaries"))
	case ReasonTruncated:
		if r.Recorded == 0 {
			return "recording is empty (recorder was killed)"
		}
		return fmt.Sprintf("recording ends at seq %d (recorder was killed)", r.Recorded-1)
	}
	return string(d.Reason)
}

// writeDiffs writes the request diff of each signature divergence, one line
// per change.
func (r *Report) writeDiffs(buf *bytes.Buffer) {
	first := true
	for i := range r.Divergences {
		d := &r.Divergences[i]
		if d.Reason != ReasonSignature || len(d.Diff) == 0 {
			continue
		}
		if first {
			buf.WriteByte('\n')
			first = false
		}
		writeDiff(buf, d)
	}
}

// writeDiff writes the request diff of d, one line per change.
func writeDiff(buf *bytes.Buffer, d *Divergence) {
	who := "  " + d.Where()
	if kn := oneLine(kindName(d.ExpectedKind, d.ExpectedName)); kn != "" {
		who += " " + kn
	}
	who += ": "
	for _, c := range d.Diff {
		path := displayPath(c.Path) + ": "
		switch c.Op {
		case OpAdded:
			line := who + "+ " + path
			fmt.Fprintf(buf, "%s%s\n", line, cutWidth(c.Observed, valueRoom(line)))
		case OpRemoved:
			line := who + "- " + path
			fmt.Fprintf(buf, "%s%s\n", line, cutWidth(c.Expected, valueRoom(line)))
		default:
			line := who + path
			x, y := excerpts(c.Expected, c.Observed, valueRoom(line+" → "))
			fmt.Fprintf(buf, "%s%s → %s\n", line, x, y)
		}
	}
}

// minValueRoom is the least room a diff line gives its values, however long
// its prefix: a changed value and its replacement share it, an added or
// removed value has it alone.
const minValueRoom = 64

// valueRoom is the room the values of a diff line that starts with prefix
// may take: what is left of TableWidth, or minValueRoom if that is more.
func valueRoom(prefix string) int {
	return max(TableWidth-twwidth.Width(prefix), minValueRoom)
}

// diffContext is how many runes before the first difference excerpts keeps.
const diffContext = 12

// excerpts fits the two values of a change into room columns. Values that
// fit are kept whole; otherwise the shorter keeps its whole text if it fits
// in half the room and the other value takes the rest. When the first
// difference between them would be cut off, both start diffContext runes
// before it, after a "…", so that what changed stays in view.
func excerpts(x, y string, room int) (string, string) {
	wx, wy := twwidth.Width(x), twwidth.Width(y)
	if wx+wy <= room {
		return x, y
	}
	cx, cy := room/2, room-room/2
	switch {
	case wx < cx:
		cx, cy = wx, room-wx
	case wy < cy:
		cx, cy = room-wy, wy
	}
	if skip := commonPrefixRunes(x, y) - diffContext; skip > 0 && skip+2*diffContext > min(cx, cy) {
		x, y = ellipsis+dropRunes(x, skip), ellipsis+dropRunes(y, skip)
	}
	return cutWidth(x, cx), cutWidth(y, cy)
}

func commonPrefixRunes(x, y string) int {
	n := 0
	for x != "" && y != "" {
		rx, sx := utf8.DecodeRuneInString(x)
		ry, sy := utf8.DecodeRuneInString(y)
		if rx != ry {
			break
		}
		x, y = x[sx:], y[sy:]
		n++
	}
	return n
}

func dropRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[i:]
		}
		n--
	}
	return ""
}

// fitColumns makes the table, header included, fit in width columns where
// it can. While the table is too wide, the widest of NAME, EXPECTED and
// OBSERVED still wider than its minimum loses one column; when they are all
// at their minimum, WHAT DIFFERS narrows down to minWhatWidth. Cells wider
// than their column are then cut with "…", except WHAT DIFFERS cells, which
// are word-wrapped onto several lines.
func fitColumns(l layout, rows [][]string, width int) {
	widths := make([]int, len(l.header))
	for i, h := range l.header {
		widths[i] = twwidth.Width(h)
	}
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], twwidth.Width(cell))
		}
	}
	budget := width - tableprinter.ColumnGap*(len(widths)-1)
	for total(widths) > budget {
		widest := -1
		for i, w := range widths {
			if i != l.what && l.minWidths[i] > 0 && w > max(l.minWidths[i], twwidth.Width(l.header[i])) &&
				(widest < 0 || w > widths[widest]) {
				widest = i
			}
		}
		if widest < 0 {
			widths[l.what] = max(minWhatWidth, widths[l.what]-(total(widths)-budget))
			break
		}
		widths[widest]--
	}
	for _, row := range rows {
		for i := range row {
			if i == l.what {
				row[i] = wrapWords(row[i], widths[i])
			} else {
				row[i] = cutWidth(row[i], widths[i])
			}
		}
	}
}

// wrapWords breaks s into lines of at most width columns at spaces; a word
// longer than width is cut with "…". A no-break space joins words that must
// stay on one line; it is written as a space.
func wrapWords(s string, width int) string {
	var lines []string
	line := ""
	for _, word := range strings.Split(s, " ") {
		if word == "" {
			continue
		}
		word = cutWidth(word, width)
		switch {
		case line == "":
			line = word
		case twwidth.Width(line)+1+twwidth.Width(word) <= width:
			line += " " + word
		default:
			lines = append(lines, line)
			line = word
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	return strings.ReplaceAll(strings.Join(lines, "\n"), string(nbsp), " ")
}

// nbsp is the no-break space.
const nbsp = '\u00a0'

func total(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// cutWidth cuts s to at most width terminal columns, ending it with "…"
// when it was cut.
func cutWidth(s string, width int) string {
	if twwidth.Width(s) <= width {
		return s
	}
	return twwidth.Truncate(s, width, ellipsis)
}

// displayPath is a Change path as shown to people: the root is "request".
func displayPath(path string) string {
	if path == "" {
		return "request"
	}
	return path
}

func kindName(kind boundary.Kind, name string) string {
	return strings.TrimSpace(string(kind) + " " + name)
}

func orNone(s string) string {
	if s == "" {
		return none
	}
	return s
}

// oneLine makes s fit on one line: each run of white space becomes a space.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\t\n\v\f\r") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// Line describes divergence d of r in one line, for a list of replays
// (agentrr test): where it is, the boundary and what differs, as the
// divergence table's WHAT DIFFERS column says it, e.g.
//
//	seq 2 llm fake-gpt-1: messages[0].content changed
//
// Like WriteTable's text it is for people and may change between versions.
func (r *Report) Line(d *Divergence) string {
	kind, name := d.ExpectedKind, d.ExpectedName
	if kind == "" && name == "" {
		kind, name = d.ObservedKind, d.ObservedName
	}
	s := d.Where()
	if kn := oneLine(kindName(kind, name)); kn != "" && d.Reason != ReasonKind { // that one names both
		if d.Seq < 0 { // "index 2 of the root branch", "branch a[3]"
			s += ","
		}
		s += " " + kn
	}
	return s + ": " + strings.ReplaceAll(r.whatDiffers(d), string(nbsp), " ")
}
