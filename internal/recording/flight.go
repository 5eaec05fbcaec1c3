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
// overlap. The run notices: a boundary is in flight from the moment its
// helper starts until the helper returns (a streamed HTTP exchange, until
// its response arrives), its synced write included, and the boundaries of
// a branch that were in flight together, directly or through each other,
// form a concurrency group. Every member of a group but the first placed
// is stored with agentrr.concurrent set to the branch index of that first
// one; a group's indices are contiguous (a boundary placed while a group is
// in flight is one of it), and replay matches a group's members among
// themselves by exact request instead of by position.

// flight is one boundary between Begin and Release.
type flight struct {
	branch   string
	group    int64  // the branch's group number when it began
	what     string // "kind name", for warnings
	released bool
	// pos is the place Reserve gave the boundary; abandoned is set when
	// the reservation failed (the writer is closed or failed).
	pos                 spanlog.Pos
	reserved, abandoned bool
}

// branchFlights is the state of one branch's boundaries in flight.
type branchFlights struct {
	inflight int
	group    int64 // the group of the boundaries in flight now
	// first is the index of the group's first boundary placed, -1 before.
	first int64
	last  *flight
	// sigs maps each signature placed in the current group to its payload
	// hash: two members with one request and different answers cannot be
	// told apart on replay.
	sigs map[string]string
}

// Begin tells the run that the boundary span id of branch has started;
// kind and name are for messages. Spans of boundaries that end without
// Begin (made without otelrr's helpers) are placed as they end, alone.
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
		bf.group, bf.first, bf.sigs = r.groups, -1, nil
	} else if !r.warnedOverlap && !r.replayed {
		r.warnedOverlap = true
		otel.Handle(fmt.Errorf("agentrr: run %s: %s and %s were in flight at once on branch %s: they replay matched among themselves by exact request; start each goroutine on its own branch (otelrr.Go, otelrr.Branch) so that every call replays in its place",
			r.ID, bf.last.what, f.what, boundary.BranchLabel(branch)))
	}
	f.group = bf.group
	bf.inflight++
	bf.last = f
	r.flights[id] = f
}

// Release ends the in-flight life of the boundary span id: its helper
// returns, or a streamed exchange's response arrived (the stream is placed
// and written when its body ends).
func (r *Run) Release(id trace.SpanID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f := r.flights[id]; f != nil {
		r.releaseLocked(f)
		if f.reserved || f.abandoned {
			delete(r.flights, id)
		}
	}
}

func (r *Run) releaseLocked(f *flight) {
	if f.released {
		return
	}
	f.released = true
	r.branches[f.branch].inflight--
}

// placeLocked decides the concurrency group of the boundary f, placed at
// pos with signature sig and payload hash: it returns the branch index of
// the first boundary of its group when it is in one and not that first
// one, nil otherwise. Called with r.mu held.
func (r *Run) placeLocked(f *flight, pos spanlog.Pos, sig, payloadHash string) *int64 {
	bf := r.branches[f.branch]
	if bf == nil || bf.inflight == 0 {
		return nil // placed alone: nothing of its branch is in flight
	}
	// A group is in flight (this boundary's, or one a stream released
	// earlier joins as it is placed among its members).
	if !r.replayed {
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
	if bf.first < 0 {
		bf.first = pos.Index
		return nil
	}
	first := bf.first
	return &first
}
