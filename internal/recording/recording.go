// Package recording holds the state of a run while it is recorded, shared
// by the two sides that make it: the durable span processor
// (exporter.Processor), which creates the run when its root span starts,
// writes its boundary spans and ends it when the root span ends; and the
// boundary helpers (otelrr), which give each boundary its place before its
// span ends and learn from the processor whether it was written.
//
// The two sides meet through the run's root span: the processor registers
// the run under the root span's id when it starts, and otelrr's StartRun
// claims it right after starting the span. Nothing here is API: it is the
// handshake between two packages of this module.
package recording

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/spanlog"
)

// Run is one run being recorded.
type Run struct {
	// ID is the run id; Trace and Root the trace and root span of its spans.
	ID    string
	Trace trace.TraceID
	Root  trace.SpanID
	// Meta is the run header as stored.
	Meta spanlog.RunMeta
	// W writes the run.
	W *spanlog.RunWriter
	// Owner is the processor that created the run (so that StartRun can
	// check that the run is recorded by the recorder it was asked to use).
	Owner any

	replayed bool
	ended    atomic.Bool

	mu      sync.Mutex
	results map[trace.SpanID]Result
	endErr  error
	endDone bool

	// Boundaries in flight, by span and by branch (see flight.go).
	flights                        map[trace.SpanID]*flight
	branches                       map[string]*branchFlights
	groups                         int64
	warnedOverlap, warnedAmbiguous bool
}

// New returns the state of a run written by w.
func New(id string, tid trace.TraceID, root trace.SpanID, meta spanlog.RunMeta, w *spanlog.RunWriter, owner any) *Run {
	return &Run{
		ID: id, Trace: tid, Root: root, Meta: meta, W: w, Owner: owner,
		replayed: meta.ReplayOf != "",
		results:  make(map[trace.SpanID]Result),
		flights:  make(map[trace.SpanID]*flight),
		branches: make(map[string]*branchFlights),
	}
}

// Result is the outcome of writing one boundary span.
type Result struct {
	// Pos is the boundary's place in its run and branch.
	Pos spanlog.Pos
	// Err is non-nil when the boundary is not durably and wholly stored.
	Err error
}

// Ended reports whether the run has ended (its root span ended, or the
// processor shut down): a boundary can no longer be recorded in it.
func (r *Run) Ended() bool { return r.ended.Load() }

// MarkEnded marks the run ended.
func (r *Run) MarkEnded() { r.ended.Store(true) }

// Reserve gives the boundary span id, of branch, its place in the run, as
// it ends: its seq and index from the writer and, under one lock with them,
// its concurrency group, so that a boundary that starts after this one is
// placed after it. It returns the attributes that say so (agentrr.seq,
// agentrr.branch.index and, for a member of a concurrency group other than
// its first, agentrr.concurrent), to be set on the span before it ends.
func (r *Run) Reserve(id trace.SpanID, branch, sig, payloadHash string) (spanlog.Pos, []attribute.KeyValue, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.flights[id]
	if f == nil {
		f = &flight{branch: branch, released: true}
		r.flights[id] = f
	}
	pos, err := r.W.Reserve(branch)
	if err != nil {
		f.abandoned = true
		if f.released {
			delete(r.flights, id)
		}
		return pos, nil, err
	}
	f.pos, f.reserved = pos, true
	attrs := []attribute.KeyValue{attribute.Int64(boundary.AttrSeq, pos.Seq), attribute.Int64(boundary.AttrBranchIndex, pos.Index)}
	if first := r.placeLocked(f, pos, sig, payloadHash); first != nil {
		attrs = append(attrs, attribute.Int64(boundary.AttrConcurrent, *first))
	}
	return pos, attrs, nil
}

// Placed returns the place Reserve gave the span id, for the processor.
// ok is false for a span whose place was not reserved (a boundary span made
// without otelrr's helpers); abandoned is true for one whose reservation
// failed, which must not be written.
func (r *Run) Placed(id trace.SpanID) (pos spanlog.Pos, ok, abandoned bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.flights[id]
	if f == nil {
		return pos, false, false
	}
	if f.released {
		delete(r.flights, id)
	}
	if f.abandoned {
		return pos, false, true
	}
	return f.pos, f.reserved, false
}

// Forget drops what the run knows of the span id's flight (a boundary that
// will not be written).
func (r *Run) Forget(id trace.SpanID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f := r.flights[id]; f != nil {
		r.releaseLocked(f)
		delete(r.flights, id)
	}
}

// Done records the outcome of writing the boundary span id.
func (r *Run) Done(id trace.SpanID, res Result) {
	r.mu.Lock()
	r.results[id] = res
	r.mu.Unlock()
}

// Take returns, and forgets, the outcome of writing the boundary span id.
// ok is false when the span never reached the processor.
func (r *Run) Take(id trace.SpanID) (res Result, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res, ok = r.results[id]
	delete(r.results, id)
	return res, ok
}

// SetEnd records the outcome of ending the run (writing its end record).
func (r *Run) SetEnd(err error) {
	r.mu.Lock()
	r.endErr, r.endDone = err, true
	r.mu.Unlock()
}

// EndResult returns the outcome of ending the run; done is false when the
// processor never saw the root span end.
func (r *Run) EndResult() (err error, done bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.endErr, r.endDone
}

// The registry of runs started and not yet claimed, by root span id.

type pending struct {
	run *Run
	err error
}

var registry sync.Map // trace.SpanID → pending

// Register makes the run started with root span id root (or the error
// that kept it from starting) available to Claim.
func Register(root trace.SpanID, r *Run, err error) {
	registry.Store(root, pending{run: r, err: err})
}

// ErrNotRegistered is returned by Claim for a root span no recorder saw start.
var ErrNotRegistered = errors.New("no agentrr recorder saw the run's root span start")

// Claim returns, and forgets, the run registered for root span id root.
func Claim(root trace.SpanID) (*Run, error) {
	v, ok := registry.LoadAndDelete(root)
	if !ok {
		return nil, ErrNotRegistered
	}
	p := v.(pending)
	return p.run, p.err
}

// Unregister forgets root, claimed or not.
func Unregister(root trace.SpanID) { registry.Delete(root) }

// A context may ask the processor to record the run it starts into another
// store (a replay from a test records its replayed run into the test's
// temporary directory).

type storeKey struct{}

// WithStore returns a context asking the processor that sees a run's root
// span start with it to record the run into store.
func WithStore(ctx context.Context, store *spanlog.Store) context.Context {
	return context.WithValue(ctx, storeKey{}, store)
}

// StoreFrom returns the store WithStore put in ctx, or nil.
func StoreFrom(ctx context.Context) *spanlog.Store {
	s, _ := ctx.Value(storeKey{}).(*spanlog.Store)
	return s
}

type commandKey struct{}

// WithCommand returns a context asking the processor that sees a run's
// root span start with it to record cmd as the run's command line instead
// of this process's (spanlog.CurrentCommand). A command with no arguments
// records that the run has none to replay it by: a proxy's runs, whose
// client must be pointed at a replaying proxy.
func WithCommand(ctx context.Context, cmd *boundary.Command) context.Context {
	return context.WithValue(ctx, commandKey{}, cmd)
}

// CommandFrom returns the command WithCommand put in ctx, or nil.
func CommandFrom(ctx context.Context) *boundary.Command {
	c, _ := ctx.Value(commandKey{}).(*boundary.Command)
	return c
}

// String names the run for messages.
func (r *Run) String() string { return fmt.Sprintf("run %s", r.ID) }
