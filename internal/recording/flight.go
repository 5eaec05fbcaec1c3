package recording

import (
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/spanlog"
)

// Boundaries in flight.
//
// A branch of a run is meant to make one boundary at a time: that is what
// makes "the n-th boundary of the branch" a fixed identity. When an agent
// shares one branch's context between goroutines, boundaries of that branch
// overlap. The processor notices: every boundary that was in flight together
// with another one of its branch is stored with agentrr.concurrent set to
// the number of its group (the boundaries that overlapped, directly or
// through each other), and replay matches a group's members among
// themselves by exact request instead of by position. The group is decided
// as the boundary is given its place (Reserve), under one lock with the
// place, so a boundary that starts after another's is placed is in a later
// group and has a later index.

// flight is one boundary between Begin and its write.
type flight struct {
	branch   string
	group    int64
	what     string // "kind name", for warnings
	released bool
	// concurrent is decided at release: another boundary of the branch
	// was in flight during this one's life.
	concurrent bool
	// pos is the place Reserve gave the boundary; abandoned is set when
	// the reservation failed (the writer is closed or failed).
	pos                 spanlog.Pos
	reserved, abandoned bool
}

// branchFlights is the state of one branch's boundaries in flight.
type branchFlights struct {
	inflight int
	group    int64 // the group of the boundaries in flight now
	members  int   // boundaries in that group so far
	last     *flight
	// sigs maps each signature written in the current group to its payload
	// hash: two members with one request and different answers cannot be
	// told apart on replay.
	sigs map[string]string
}

// Begin tells the run that the boundary span id of branch has started;
// kind and name are for messages. The processor writes the span with the
// concurrency group it belongs to, if any (see AttrConcurrent). Spans that
// end without Begin are written as sequential.
func (r *Run) Begin(id trace.SpanID, branch string, kind boundary.Kind, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	bf := r.branches[branch]
	if bf == nil {
		bf = &branchFlights{}
		r.branches[branch] = bf
	}
	f := &flight{branch: branch, what: string(kind) + " " + name}
	if bf.inflight == 0 {
		r.groups++
		bf.group, bf.members, bf.sigs = r.groups, 0, nil
	} else if !r.warnedOverlap && !r.replayed {
		r.warnedOverlap = true
		otel.Handle(fmt.Errorf("agentrr: run %s: %s and %s were in flight at once on branch %s: they replay matched among themselves by exact request; start each goroutine on its own branch (otelrr.Go, otelrr.Branch) so that every call replays in its place",
			r.ID, bf.last.what, f.what, boundary.BranchLabel(branch)))
	}
	f.group = bf.group
	bf.inflight++
	bf.members++
	bf.last = f
	r.flights[id] = f
}

// Release ends the in-flight life of the boundary span id before its
// write: a streamed HTTP exchange is in flight until its response arrives,
// and written when its body ends, after whatever the branch did meanwhile.
func (r *Run) Release(id trace.SpanID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f := r.flights[id]; f != nil {
		r.releaseLocked(f)
	}
}

func (r *Run) releaseLocked(f *flight) {
	if f.released {
		return
	}
	f.released = true
	bf := r.branches[f.branch]
	f.concurrent = bf.members > 1
	bf.inflight--
}

// landedLocked is called as the boundary span id is given its place: it
// releases the span if it was in flight and returns its concurrency group
// and whether it belongs to one (was in flight with another boundary of
// its branch). Called with r.mu held.
func (r *Run) landedLocked(id trace.SpanID, sig, payloadHash string) (int64, bool) {
	f := r.flights[id]
	if f == nil {
		return 0, false
	}
	r.releaseLocked(f)
	if !f.concurrent {
		return 0, false
	}
	if bf := r.branches[f.branch]; bf.group == f.group && !r.replayed {
		if bf.sigs == nil {
			bf.sigs = make(map[string]string)
		}
		if h, dup := bf.sigs[sig]; dup && h != payloadHash && !r.warnedAmbiguous {
			r.warnedAmbiguous = true
			otel.Handle(fmt.Errorf("agentrr: run %s: two %s boundaries with the same request were in flight at once on branch %s and got different answers: replay cannot tell which goroutine got which, and will report it; start each goroutine on its own branch (otelrr.Go, otelrr.Branch)",
				r.ID, f.what, boundary.BranchLabel(f.branch)))
		}
		bf.sigs[sig] = payloadHash
	}
	return f.group, true
}
