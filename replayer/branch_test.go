package replayer_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/replayer"
)

// rb is a recorded boundary of a branched recording.
type rb struct {
	branch string
	group  int64
	b      bnd
	resp   string
}

// branchedRecording lays the boundaries out in the order given (their seq),
// numbering each branch's boundaries in turn; boundaries with one group
// label (not 0) form a concurrency group.
func branchedRecording(bs ...rb) *replayer.Recording {
	rec := &replayer.Recording{TraceID: "0123456789abcdef0123456789abcdef"}
	next := map[string]int64{}
	first := map[int64]int64{}
	for i, x := range bs {
		r := x.b.record(int64(i), x.resp)
		r.Branch, r.Index = x.branch, next[x.branch]
		r.Group = r.Index
		if x.group != 0 {
			if f, ok := first[x.group]; ok {
				r.Group = f
			} else {
				first[x.group] = r.Index
			}
		}
		next[x.branch]++
		rec.Records = append(rec.Records, r)
	}
	return rec
}

func search(q string) bnd { return bnd{boundary.KindTool, "search", fmt.Sprintf(`{"q":%q}`, q)} }

var clock = bnd{boundary.KindClock, "now", `null`}

func ask(s *replayer.Session, branch string, b bnd) (*boundary.Record, *analyze.Divergence, error) {
	defer s.Release(branch)
	return s.Next3(replayer.Query{Branch: branch, Kind: b.kind, Name: b.name, Signature: b.sig(), Request: []byte(b.req)})
}

// Branches are matched each on its own, in whatever order they come.
func TestBranchesMatchInAnyOrder(t *testing.T) {
	rec := branchedRecording(
		rb{branch: "a", b: search("x"), resp: `"a0"`},
		rb{branch: "b", b: search("y"), resp: `"b0"`},
		rb{branch: "a", b: clock, resp: `"a1"`},
		rb{branch: "b", b: clock, resp: `"b1"`},
		rb{b: clock, resp: `"root0"`},
	)
	s := replayer.NewSession(rec)
	for _, c := range []struct {
		branch string
		b      bnd
		want   string
	}{{"b", search("y"), `"b0"`}, {"b", clock, `"b1"`}, {"", clock, `"root0"`}, {"a", search("x"), `"a0"`}, {"a", clock, `"a1"`}} {
		r, div, err := ask(s, c.branch, c.b)
		if err != nil || div != nil || string(r.Response) != c.want {
			t.Fatalf("%s %s: %v %v %v", c.branch, c.b.name, r, div, err)
		}
	}
	if rep := s.Finish(nil); !rep.Faithful() || rep.Served != 5 || !rep.Branched {
		t.Errorf("report %+v", rep)
	}
}

// A branch's boundary past its recorded end, a branch the recording does
// not have, and branches left unfinished are each named.
func TestBranchExtraAndMissing(t *testing.T) {
	rec := branchedRecording(
		rb{branch: "a", b: search("x"), resp: `"a0"`},
		rb{branch: "b", b: search("y"), resp: `"b0"`},
		rb{branch: "b", b: clock, resp: `"b1"`},
	)
	s := replayer.NewSession(rec, replayer.WithMode(replayer.Observe))
	ask(s, "a", search("x"))
	_, _, err := ask(s, "a", clock)
	var de *replayer.DivergenceError
	if !errors.As(err, &de) || de.Reason != analyze.ReasonExtra || de.Branch != "a" || de.Index != 1 || de.Seq != -1 {
		t.Fatalf("past a's end: %v", err)
	}
	_, _, err = ask(s, "c", clock)
	if !errors.As(err, &de) || de.Reason != analyze.ReasonExtra || de.Branch != "c" || de.Index != 0 {
		t.Fatalf("unknown branch: %v", err)
	}
	rep := s.Finish(nil)
	last := rep.Divergences[len(rep.Divergences)-1]
	if last.Reason != analyze.ReasonMissing || last.Branch != "b" || last.Index != 0 || last.Seq != 1 || last.Count != 2 {
		t.Errorf("missing %+v, want b's two boundaries from seq 1", last)
	}
}

// A boundary made while another of its branch is in flight, where the
// recording has them one after the other, is a divergence: which goroutine
// gets which answer would be luck.
func TestOverlapOnOneBranchWithoutAGroupDiverges(t *testing.T) {
	rec := branchedRecording(rb{b: search("x"), resp: `"0"`}, rb{b: search("y"), resp: `"1"`})
	s := replayer.NewSession(rec)
	q := func(b bnd) replayer.Query {
		return replayer.Query{Kind: b.kind, Name: b.name, Signature: b.sig(), Request: []byte(b.req)}
	}
	if _, _, err := s.Next3(q(search("x"))); err != nil { // in flight: not released
		t.Fatal(err)
	}
	_, _, err := s.Next3(q(search("y")))
	var de *replayer.DivergenceError
	if !errors.As(err, &de) || de.Reason != analyze.ReasonConcurrent {
		t.Fatalf("second boundary in flight on the root: %v", err)
	}
	if msg := err.Error(); !containsAll(msg, "in flight", "otelrr.Go") {
		t.Errorf("message %q", msg)
	}
}

// A recorded concurrency group is served in any order, by exact request;
// a request that none of its members has is a divergence; two members with
// one request and different answers are ambiguous.
func TestConcurrencyGroupMatchesByExactRequest(t *testing.T) {
	rec := branchedRecording(
		rb{group: 1, b: search("x"), resp: `"x"`},
		rb{group: 1, b: search("y"), resp: `"y"`},
		rb{group: 1, b: search("z"), resp: `"z"`},
		rb{b: clock, resp: `"t"`},
	)
	for _, order := range [][]string{{"z", "x", "y"}, {"y", "z", "x"}, {"x", "y", "z"}} {
		s := replayer.NewSession(rec)
		var held []string
		for _, q := range order {
			// All three in flight together, as recorded.
			r, _, err := s.Next3(replayer.Query{Kind: boundary.KindTool, Name: "search", Signature: search(q).sig(), Request: []byte(search(q).req)})
			if err != nil || string(r.Response) != fmt.Sprintf("%q", q) {
				t.Fatalf("order %v, %s: %v %v", order, q, r, err)
			}
			held = append(held, q)
		}
		for range held {
			s.Release("")
		}
		if _, div, err := ask(s, "", clock); err != nil || div != nil {
			t.Fatalf("after the group: %v %v", div, err)
		}
		if rep := s.Finish(nil); !rep.Faithful() {
			t.Errorf("order %v: %+v", order, rep.Divergences)
		}
	}

	s := replayer.NewSession(rec)
	_, _, err := ask(s, "", search("w"))
	var de *replayer.DivergenceError
	if !errors.As(err, &de) || de.Reason != analyze.ReasonSignature || !containsAll(de.Note, "3 boundaries recorded in flight together") {
		t.Errorf("unknown member: %v", err)
	}

	amb := branchedRecording(rb{group: 2, b: clock, resp: `"t1"`}, rb{group: 2, b: clock, resp: `"t2"`})
	s = replayer.NewSession(amb)
	_, _, err = ask(s, "", clock)
	if !errors.As(err, &de) || de.Reason != analyze.ReasonAmbiguous || !containsAll(err.Error(), "ambiguous", "otelrr.Go") {
		t.Errorf("two clock reads in one group: %v", err)
	}
	// The same request twice with the same answer is not ambiguous.
	same := branchedRecording(rb{group: 3, b: clock, resp: `"t"`}, rb{group: 3, b: clock, resp: `"t"`})
	s = replayer.NewSession(same)
	for range 2 {
		if _, _, err := ask(s, "", clock); err != nil {
			t.Fatal(err)
		}
	}
}

// --until-seq N serves what was recorded up to seq N, in every branch.
func TestUntilSeqWithBranches(t *testing.T) {
	rec := branchedRecording(
		rb{branch: "a", b: search("x"), resp: `"a0"`}, // seq 0
		rb{branch: "b", b: search("y"), resp: `"b0"`}, // seq 1
		rb{branch: "a", b: clock, resp: `"a1"`},       // seq 2
		rb{branch: "b", b: clock, resp: `"b1"`},       // seq 3
	)
	s := replayer.NewSession(rec, replayer.WithUntilSeq(2))
	// a runs ahead: both of its boundaries are within seq 2.
	for _, b := range []bnd{search("x"), clock} {
		if _, _, err := ask(s, "a", b); err != nil {
			t.Fatalf("a: %v", err)
		}
	}
	if _, _, err := ask(s, "b", search("y")); err != nil {
		t.Fatalf("b[0] (seq 1): %v", err)
	}
	_, _, err := ask(s, "b", clock)
	var se *replayer.StopError
	if !errors.As(err, &se) || se.Seq != 3 || se.Branch != "b" || se.Index != 1 {
		t.Fatalf("b[1] (seq 3): %v", err)
	}
	if rep := s.Finish(err); !rep.Faithful() || rep.Served != 3 || rep.Stopped == nil || rep.Stopped.Branch != "b" {
		t.Errorf("report %+v", rep)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// A branch the recording shows shared by goroutines, asked in another
// order: the request the recording has later is reported as unbranched
// concurrency (how to fix it), not served out of its place.
func TestReorderOnASharedBranchIsUnbranchedConcurrency(t *testing.T) {
	rec := branchedRecording(
		rb{group: 1, b: search("x"), resp: `"x"`},
		rb{group: 1, b: search("y"), resp: `"y"`},
		rb{b: search("z"), resp: `"z"`},
	)
	s := replayer.NewSession(rec)
	_, _, err := ask(s, "", search("z"))
	var de *replayer.DivergenceError
	if !errors.As(err, &de) || de.Reason != analyze.ReasonConcurrent || !containsAll(de.Note, "later on branch (root), at index 2", "otelrr.Go") {
		t.Errorf("z asked before the group: %v", err)
	}
	// Without groups the same reorder is an ordinary divergence.
	plain := branchedRecording(rb{b: search("x"), resp: `"x"`}, rb{b: search("z"), resp: `"z"`})
	s = replayer.NewSession(plain)
	if _, _, err := ask(s, "", search("z")); !errors.As(err, &de) || de.Reason != analyze.ReasonSignature {
		t.Errorf("z asked first on a branch never shared: %v", err)
	}
}
