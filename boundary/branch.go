package boundary

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Branches.
//
// A branch is a logical thread of a run: the run's root is the branch "" and
// every branch an agent starts (otelrr.Branch, otelrr.Go) is a child of the
// branch it was started from. A boundary's identity is its branch and its
// index in that branch (0, 1, 2, … in the order the branch made them), not
// its place in the run's completion order (agentrr.seq), which depends on
// the scheduler when branches run in parallel.
//
// A branch path is its ancestors' names and its own, joined by "/": "search",
// "search/fetch". A second child of one parent with the same name gets
// "#1", a third "#2" (in the order they were started): "search#1". In a name,
// '/', '#' and '%' are escaped as %2F, %23 and %25.

// RootBranch is the path of the run's root branch.
const RootBranch = ""

// ChildBranch returns the path of the child of branch parent named name,
// the ordinal-th child of that name (0 for the first).
func ChildBranch(parent, name string, ordinal int) string {
	seg := EscapeBranchName(name)
	if ordinal > 0 {
		seg += "#" + strconv.Itoa(ordinal)
	}
	if parent == RootBranch {
		return seg
	}
	return parent + "/" + seg
}

// EscapeBranchName escapes the characters of a branch name that have a
// meaning in a branch path. An empty name is "branch".
func EscapeBranchName(name string) string {
	if name == "" {
		return "branch"
	}
	if !strings.ContainsAny(name, "/#%") {
		return name
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		switch c := name[i]; c {
		case '/', '#', '%':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// BranchParent returns the path of branch's parent ("" for a child of the
// root, and for the root itself).
func BranchParent(branch string) string {
	if i := strings.LastIndexByte(branch, '/'); i >= 0 {
		return branch[:i]
	}
	return RootBranch
}

// BranchDepth is the number of ancestors of branch below the root: 0 for
// the root, 1 for its children.
func BranchDepth(branch string) int {
	if branch == RootBranch {
		return 0
	}
	return strings.Count(branch, "/") + 1
}

// BranchLabel is branch for display: "(root)" for the root branch.
func BranchLabel(branch string) string {
	if branch == RootBranch {
		return "(root)"
	}
	return branch
}

// Position is "branch[index]" for display, "[index]" on the root branch.
func Position(branch string, index int64) string {
	return branch + "[" + strconv.FormatInt(index, 10) + "]"
}

// Branched reports whether any record lies outside the root branch.
func Branched(recs []Record) bool {
	for i := range recs {
		if recs[i].Branch != RootBranch {
			return true
		}
	}
	return false
}

// BranchIndex groups recs (in seq order) by branch. Each branch's records
// are in index order, and the index of the i-th record of a branch must be
// i: it returns the records grouped so far and an error naming the first
// record that breaks this (a hole, or a repeated index, in a branch).
func BranchIndex(recs []Record) (map[string][]*Record, error) {
	out := make(map[string][]*Record)
	for i := range recs {
		r := &recs[i]
		got := out[r.Branch]
		if r.Index != int64(len(got)) {
			if r.Index < int64(len(got)) {
				return out, fmt.Errorf("seq %d: branch %s index %d is stored twice", r.Seq, BranchLabel(r.Branch), r.Index)
			}
			return out, fmt.Errorf("hole in branch %s: index %d missing (seq %d has index %d)", BranchLabel(r.Branch), len(got), r.Seq, r.Index)
		}
		out[r.Branch] = append(got, r)
	}
	return out, nil
}

// SortedBranches returns the branches of m in the order their first
// boundary was made (the root first when it has boundaries).
func SortedBranches(m map[string][]*Record) []string {
	out := make([]string, 0, len(m))
	for b := range m {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool {
		bi, bj := m[out[i]], m[out[j]]
		if len(bi) == 0 || len(bj) == 0 {
			return len(bi) > len(bj) || (len(bi) == len(bj) && out[i] < out[j])
		}
		return bi[0].Seq < bj[0].Seq
	})
	return out
}
