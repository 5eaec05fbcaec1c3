package analyze

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/olekukonko/tablewriter/pkg/twwidth"

	"github.com/agentrr/agentrr/boundary"
)

// EntryOp says how one boundary of a compared pair of runs fares.
type EntryOp string

// The values of Entry.Op.
const (
	// EntryMatched: a boundary of a and one of b with the same kind, name
	// and signature, and the same response or error.
	EntryMatched EntryOp = "matched"
	// EntryChanged: a boundary of a and one of b with the same kind and
	// name, but a different request (signature), response or error.
	EntryChanged EntryOp = "changed"
	// EntryInserted: a boundary only in b.
	EntryInserted EntryOp = "inserted"
	// EntryRemoved: a boundary only in a.
	EntryRemoved EntryOp = "removed"
)

// What Entry.Differs lists for a changed boundary.
const (
	DiffersRequest  = "request"
	DiffersResponse = "response"
	DiffersError    = "error"
)

// Entry is one step of the alignment of two runs: a boundary of a paired
// with a boundary of b (matched or changed), or a boundary found in only
// one of them (removed: only in a; inserted: only in b).
type Entry struct {
	Op EntryOp `json:"op"`
	// SeqA and SeqB are the boundary's seq in a and in b; -1 on the side
	// that does not have it.
	SeqA int64 `json:"seq_a"`
	SeqB int64 `json:"seq_b"`
	// Branch is the path of the boundary's branch ("" for the root);
	// IndexA and IndexB its index in the branch in a and in b (-1 on the
	// side that does not have it).
	Branch string `json:"branch,omitempty"`
	IndexA int64  `json:"index_a"`
	IndexB int64  `json:"index_b"`
	// Kind and Name are the boundary's kind and name (the same on both
	// sides of a pair).
	Kind boundary.Kind `json:"kind"`
	Name string        `json:"name"`
	// SignatureA and SignatureB are the boundary's signatures, empty on the
	// side that does not have it.
	SignatureA string `json:"signature_a,omitempty"`
	SignatureB string `json:"signature_b,omitempty"`
	// Differs lists what differs in a changed pair, in this order:
	// DiffersRequest, DiffersResponse, DiffersError.
	Differs []string `json:"differs,omitempty"`
	// RequestDiff and ResponseDiff are the structural diffs (DiffJSON, a
	// as expected, b as observed) of the pair's requests and responses,
	// set for a changed pair when they differ. A call that failed has no
	// response: its side is absent from ResponseDiff.
	RequestDiff  []Change `json:"request_diff,omitempty"`
	ResponseDiff []Change `json:"response_diff,omitempty"`
	// ErrorA and ErrorB are the error texts of a failed call, on the side
	// that failed; set for every entry whose call failed on a side.
	ErrorA string `json:"error_a,omitempty"`
	ErrorB string `json:"error_b,omitempty"`
}

// Comparison is the outcome of comparing the boundary sequences of two runs
// (see Compare).
type Comparison struct {
	// LenA and LenB are the number of boundaries compared from a and b.
	LenA int `json:"len_a"`
	LenB int `json:"len_b"`
	// Entries is the alignment, in the order of both runs: every boundary
	// of a and of b appears exactly once, in seq order on each side. At a
	// point where a has boundaries b lacks and b has others, the removed
	// ones come first. Runs with branches are aligned branch by branch:
	// the entries of each branch, in index order, one branch after the
	// other (in the order their first boundary was made, a's branches
	// first).
	Entries []Entry `json:"entries"`
	// Branched is set when either run has branches besides the root.
	Branched bool `json:"branched,omitempty"`
	// Matched, Changed, Inserted and Removed count the entries of each Op.
	Matched  int `json:"matched"`
	Changed  int `json:"changed"`
	Inserted int `json:"inserted"`
	Removed  int `json:"removed"`
	// FirstDivergence is the index in Entries of the first entry that is
	// not matched, or -1 when the runs are identical. With branches it is
	// the one whose boundary came first (lowest seq in a, else in b).
	FirstDivergence int `json:"first_divergence"`
	// Approximate is set when the stretch where the runs differ was too
	// long to align optimally (more than MaxAlignCells boundary pairs):
	// that stretch was then aligned position by position, so an inserted
	// boundary there may show as a removal and an insertion of each later
	// one.
	Approximate bool `json:"approximate,omitempty"`
}

// MaxAlignCells bounds the work and memory of Compare's alignment: when the
// boundaries of a and of b between their common prefix and common suffix
// number n and m with n*m above it, that stretch is aligned by position
// instead (see Comparison.Approximate). At 4 bytes a cell it bounds the
// table to 16 MiB (2048 differing boundaries on each side).
const MaxAlignCells = 1 << 22

// Identical reports whether every boundary of a matched one of b.
func (c *Comparison) Identical() bool { return c.FirstDivergence < 0 }

// First returns the first entry that is not matched, or nil when the runs
// are identical.
func (c *Comparison) First() *Entry {
	if c.FirstDivergence < 0 {
		return nil
	}
	return &c.Entries[c.FirstDivergence]
}

// Compare aligns the boundary sequences a and b of two runs (typically a
// recording and its replay, or two runs of one agent) and says, boundary
// by boundary, what they share.
//
// The alignment is sequence-primary, like replay: it pairs boundaries in
// order and never reorders them; with branches, each branch is aligned
// with the same branch of the other run, by index, as replay matches them. Boundaries are paired by their kind and
// name along a longest common subsequence of the two (kind, name)
// sequences, so that one boundary inserted in b (or removed from a) is
// reported as that one insertion rather than making every later boundary
// differ. A pair is matched when its signatures (and so its requests) are
// equal and its responses (or error texts) are equal, and changed
// otherwise, with structural diffs of what differs. Boundaries left
// unpaired are removed (only in a) or inserted (only in b). Where several
// alignments are equally long, pairs are taken as early as possible.
//
// Compare does not look at timing, span ids or attributes other than the
// payloads. Records must be in seq order; Compare does not modify them.
func Compare(a, b []boundary.Record) *Comparison {
	c := &Comparison{LenA: len(a), LenB: len(b), FirstDivergence: -1}
	c.Entries = make([]Entry, 0, max(len(a), len(b)))
	c.Branched = boundary.Branched(a) || boundary.Branched(b)
	if !c.Branched {
		c.compareBranch(a, b)
		return c
	}
	byA, byB := byBranch(a), byBranch(b)
	order, seen := []string{}, map[string]bool{}
	for _, recs := range [][]boundary.Record{a, b} {
		for i := range recs {
			if br := recs[i].Branch; !seen[br] {
				seen[br] = true
				order = append(order, br)
			}
		}
	}
	for _, br := range order {
		c.compareBranch(byA[br], byB[br])
	}
	first := int64(-1)
	for i, e := range c.Entries {
		if e.Op == EntryMatched {
			continue
		}
		at := e.SeqA
		if at < 0 {
			at = e.SeqB
		}
		if first < 0 || at < first {
			first, c.FirstDivergence = at, i
		}
	}
	return c
}

// byBranch groups recs by branch, keeping their order.
func byBranch(recs []boundary.Record) map[string][]boundary.Record {
	out := map[string][]boundary.Record{}
	for _, r := range recs {
		out[r.Branch] = append(out[r.Branch], r)
	}
	return out
}

// compareBranch aligns a and b, the records of one branch of each run,
// and appends the entries.
func (c *Comparison) compareBranch(a, b []boundary.Record) {
	for _, s := range align(a, b, &c.Approximate) {
		var e Entry
		switch {
		case s.i >= 0 && s.j >= 0:
			e = pairEntry(&a[s.i], &b[s.j])
		case s.i >= 0:
			r := &a[s.i]
			e = Entry{Op: EntryRemoved, SeqA: r.Seq, SeqB: -1, Branch: r.Branch, IndexA: r.Index, IndexB: -1, Kind: r.Kind, Name: r.Name, SignatureA: r.Signature, ErrorA: r.Error}
		default:
			r := &b[s.j]
			e = Entry{Op: EntryInserted, SeqA: -1, SeqB: r.Seq, Branch: r.Branch, IndexA: -1, IndexB: r.Index, Kind: r.Kind, Name: r.Name, SignatureB: r.Signature, ErrorB: r.Error}
		}
		switch e.Op {
		case EntryMatched:
			c.Matched++
		case EntryChanged:
			c.Changed++
		case EntryInserted:
			c.Inserted++
		case EntryRemoved:
			c.Removed++
		}
		if e.Op != EntryMatched && c.FirstDivergence < 0 {
			c.FirstDivergence = len(c.Entries)
		}
		c.Entries = append(c.Entries, e)
	}
}

// pairEntry compares two boundaries of the same kind and name.
func pairEntry(x, y *boundary.Record) Entry {
	e := Entry{
		Op: EntryMatched, SeqA: x.Seq, SeqB: y.Seq, Branch: x.Branch, IndexA: x.Index, IndexB: y.Index, Kind: x.Kind, Name: x.Name,
		SignatureA: x.Signature, SignatureB: y.Signature, ErrorA: x.Error, ErrorB: y.Error,
	}
	if x.Signature != y.Signature || !bytes.Equal(x.Request, y.Request) {
		e.Differs = append(e.Differs, DiffersRequest)
		e.RequestDiff = DiffJSON(x.Request, y.Request)
	}
	if !bytes.Equal(x.Response, y.Response) {
		e.Differs = append(e.Differs, DiffersResponse)
		e.ResponseDiff = DiffJSON(x.Response, y.Response)
	}
	if x.Failed != y.Failed || x.Error != y.Error {
		e.Differs = append(e.Differs, DiffersError)
	}
	if len(e.Differs) > 0 {
		e.Op = EntryChanged
	}
	return e
}

// step is one step of an alignment: indices into a and b, -1 when absent.
type step struct{ i, j int }

type key struct {
	kind boundary.Kind
	name string
}

func keyOf(r *boundary.Record) key { return key{r.Kind, r.Name} }

// align returns the steps of a longest-common-subsequence alignment of the
// (kind, name) keys of a and b. Common prefixes and suffixes are paired
// directly (pairing equal ends is always optimal); the stretch between is
// aligned with the classic dynamic programme when it has at most
// MaxAlignCells cells, by position otherwise (setting *approx).
func align(a, b []boundary.Record, approx *bool) []step {
	steps := make([]step, 0, max(len(a), len(b)))
	pre := 0
	for pre < len(a) && pre < len(b) && keyOf(&a[pre]) == keyOf(&b[pre]) {
		steps = append(steps, step{pre, pre})
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && keyOf(&a[len(a)-1-suf]) == keyOf(&b[len(b)-1-suf]) {
		suf++
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]
	n, m := len(ma), len(mb)
	switch {
	case n == 0 || m == 0:
		for i := range n {
			steps = append(steps, step{pre + i, -1})
		}
		for j := range m {
			steps = append(steps, step{-1, pre + j})
		}
	case n*m > MaxAlignCells || n > MaxAlignCells || m > MaxAlignCells:
		*approx = true
		for k := 0; k < max(n, m); k++ {
			switch {
			case k < n && k < m && keyOf(&ma[k]) == keyOf(&mb[k]):
				steps = append(steps, step{pre + k, pre + k})
			default:
				if k < n {
					steps = append(steps, step{pre + k, -1})
				}
				if k < m {
					steps = append(steps, step{-1, pre + k})
				}
			}
		}
	default:
		// l[i*(m+1)+j] is the length of the LCS of ma[i:] and mb[j:].
		w := m + 1
		l := make([]int32, (n+1)*w)
		for i := n - 1; i >= 0; i-- {
			for j := m - 1; j >= 0; j-- {
				switch {
				case keyOf(&ma[i]) == keyOf(&mb[j]):
					l[i*w+j] = l[(i+1)*w+j+1] + 1
				case l[(i+1)*w+j] >= l[i*w+j+1]:
					l[i*w+j] = l[(i+1)*w+j]
				default:
					l[i*w+j] = l[i*w+j+1]
				}
			}
		}
		i, j := 0, 0
		for i < n && j < m {
			switch {
			case keyOf(&ma[i]) == keyOf(&mb[j]):
				steps = append(steps, step{pre + i, pre + j})
				i++
				j++
			case l[(i+1)*w+j] >= l[i*w+j+1]:
				steps = append(steps, step{pre + i, -1})
				i++
			default:
				steps = append(steps, step{-1, pre + j})
				j++
			}
		}
		for ; i < n; i++ {
			steps = append(steps, step{pre + i, -1})
		}
		for ; j < m; j++ {
			steps = append(steps, step{-1, pre + j})
		}
	}
	for k := suf; k > 0; k-- {
		steps = append(steps, step{len(a) - k, len(b) - k})
	}
	return steps
}

// WriteChanges writes changes for a person, one line each, every line
// starting with prefix: "path: expected → observed" for a changed value,
// "+ path: observed" for an added one and "- path: expected" for a removed
// one (the root path is written "request"; use WriteChangesAt to name it).
// Long values are cut around their first difference so that a line fits
// TableWidth columns, unless its prefix and path leave less than
// minChangeRoom columns for the values. It returns the first write error.
func WriteChanges(w io.Writer, prefix string, changes []Change) error {
	return WriteChangesAt(w, prefix, "request", changes)
}

// WriteChangesAt is WriteChanges with root naming the root path (for
// example "response").
func WriteChangesAt(w io.Writer, prefix, root string, changes []Change) error {
	var buf strings.Builder
	for _, c := range changes {
		path := c.Path
		if path == "" {
			path = root
		}
		path = oneLine(path) + ": "
		switch c.Op {
		case OpAdded:
			line := prefix + "+ " + path
			fmt.Fprintf(&buf, "%s%s\n", line, cutWidth(c.Observed, changeRoom(line)))
		case OpRemoved:
			line := prefix + "- " + path
			fmt.Fprintf(&buf, "%s%s\n", line, cutWidth(c.Expected, changeRoom(line)))
		default:
			line := prefix + path
			x, y := excerpts(c.Expected, c.Observed, changeRoom(line+" → "))
			fmt.Fprintf(&buf, "%s%s → %s\n", line, x, y)
		}
	}
	_, err := io.WriteString(w, buf.String())
	return err
}

// minChangeRoom is the least room WriteChanges gives the values of a line.
const minChangeRoom = 32

func changeRoom(prefix string) int {
	return max(TableWidth-twwidth.Width(prefix), minChangeRoom)
}
