package spanlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/agentrr/agentrr/boundary"
)

// RunMeta is the run header (see boundary.RunMeta).
type RunMeta = boundary.RunMeta

// RunEnd is the run end record (see boundary.RunEnd).
type RunEnd = boundary.RunEnd

// RunWriter records one run. Its methods are safe for concurrent use.
//
// A boundary is written in two steps: Reserve gives it its place (seq in
// the run, index in its branch), and Commit writes it. Commits enter the
// write-ahead log in seq order, each waiting for the seqs before it, so a
// crash leaves a prefix of the run, and of every branch; the fsync is
// waited for after the turn is passed on, so concurrent commits share
// fsyncs. The place is known before the span that holds the boundary ends,
// so the span itself carries it, for every processor and exporter.
type RunWriter struct {
	store *Store
	trace [16]byte
	id    string
	slot  *slot
	// syncEach is false for a replayed run, whose boundaries are not
	// synced one by one (see CreateRun).
	syncEach bool

	mu   sync.Mutex // never held across fsync
	turn *sync.Cond // on mu: the next seq to enter the log changed
	db   *pebble.DB
	// next is the seq the next Reserve gets; applied the next seq to
	// enter the log.
	next, applied int64
	// branchNext is the index the next boundary of each branch gets.
	branchNext map[string]int64
	failed     error // once set, every later write fails (fail-stop)
	closed     bool
	// sealer writes the run's sealed file as it goes (see sealer); its
	// boundaries are added in log order, on mu.
	sealer *sealer
	// inflight counts commits between entering the commit pipeline and the
	// end of their fsync wait; sealing waits for them.
	inflight sync.WaitGroup
}

// forkMode is the replay mode of a fork (replayer.ForkMode), whose live
// tail is synced boundary by boundary, like a recording.
const forkMode = "fork"

// ErrRunExists is returned by CreateRun when the store already has a run
// with that id.
var ErrRunExists = errors.New("run already exists")

// CreateRun creates the run and writes its header with a synced write. The
// caller must call Finish or Close.
//
// The run is recorded into the writer slot this process holds in the store
// (taking one if it holds none: see slot.go), which every run the process
// records at the same time shares; runs/<id>.live names the slot until the
// run is sealed. A header without a command line gets the calling
// process's (see CurrentCommand): a run records what to run to replay it.
//
// The boundaries of a replayed run (meta.ReplayOf set) are written without
// a sync of their own: its answers come from a recording that is already
// durable, so a replay that a crash cuts short is simply run again. Their
// order in the write-ahead log is the same, so a crash still leaves a whole
// prefix, and the sealed file Finish writes (synced) holds every one of them.
// This keeps replay at memory speed instead of one disk sync per boundary.
func (s *Store) CreateRun(meta RunMeta) (*RunWriter, error) {
	trace, err := ParseTraceID(meta.TraceID)
	if err != nil {
		return nil, err
	}
	if fileExists(s.sealedPath(meta.TraceID)) || fileExists(s.runDir(meta.TraceID)) || fileExists(s.markerPath(meta.TraceID)) {
		return nil, fmt.Errorf("%w: run %s in store %s", ErrRunExists, meta.TraceID, s.root)
	}
	if meta.Command == nil {
		meta.Command = CurrentCommand()
	}
	hdr, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	if err := s.upgradeFormat(); err != nil {
		return nil, err
	}
	sl, err := s.acquireSlot()
	if err != nil {
		return nil, fmt.Errorf("create run %s in store %s: %w", meta.TraceID, s.root, err)
	}
	heldSlots.mu.Lock()
	sl.writers[meta.TraceID] = true
	heldSlots.mu.Unlock()
	abandon := func(err error) (*RunWriter, error) {
		heldSlots.mu.Lock()
		delete(sl.writers, meta.TraceID)
		heldSlots.mu.Unlock()
		s.releaseSlot(sl)
		return nil, err
	}
	// The marker first, synced: it claims the id (of two processes creating
	// one run, one wins) and names the slot, so that even a run killed
	// before its first boundary is listed.
	if err := s.writeMarker(meta.TraceID, marker{Slot: sl.n, PID: os.Getpid(), Name: meta.Name, Start: meta.Start}); err != nil {
		if errors.Is(err, ErrRunExists) {
			return abandon(err)
		}
		return abandon(fmt.Errorf("create run %s in store %s: %w", meta.TraceID, s.root, err))
	}
	// Synced: a run that recorded nothing is still listed after a crash.
	if err := sl.db.Set(headerKey(trace), hdr, pebble.Sync); err != nil {
		os.Remove(s.markerPath(meta.TraceID))
		return abandon(fmt.Errorf("create run %s: %w", meta.TraceID, err))
	}
	w := &RunWriter{store: s, trace: trace, id: meta.TraceID, slot: sl, db: sl.db, syncEach: meta.ReplayOf == "" || meta.ReplayMode == forkMode, branchNext: make(map[string]int64),
		sealer: newSealer(s.sealedPath(meta.TraceID), hdr)}
	w.turn = sync.NewCond(&w.mu)
	return w, nil
}

// TraceID returns the run's trace id.
func (w *RunWriter) TraceID() string { return w.id }

// ErrRunClosed is returned by writes to a run that has been finished or closed.
var ErrRunClosed = errors.New("run is already finished")

// Pos is where a boundary lies in its run: Seq in the run's completion
// order, Index in its branch.
type Pos struct {
	Seq   int64
	Index int64
}

// Append durably writes the next boundary of the run's root branch: see
// AppendBranch.
func (w *RunWriter) Append(encode func(seq int64) ([]byte, error)) (int64, error) {
	pos, err := w.AppendBranch("", func(p Pos) ([]byte, error) { return encode(p.Seq) })
	return pos.Seq, err
}

// AppendBranch durably writes the next boundary of the run, made by branch:
// Reserve, then Commit of what encode returns for the place reserved.
// encode should be quick. An encode error fails the writer: the place it
// was given is never filled.
func (w *RunWriter) AppendBranch(branch string, encode func(Pos) ([]byte, error)) (Pos, error) {
	pos, err := w.Reserve(branch)
	if err != nil {
		return Pos{}, err
	}
	val, err := encode(pos)
	if err != nil {
		err = fmt.Errorf("encode boundary seq %d: %w", pos.Seq, err)
		w.fail(err)
		return Pos{}, err
	}
	if err := w.Commit(pos, val); err != nil {
		return Pos{}, err
	}
	return pos, nil
}

// Reserve gives the next boundary of branch its place: its seq in the run
// and its index in the branch. The caller must Commit it: until it does,
// the commits of later seqs wait (a place that cannot be filled must be
// committed anyway, for example as a failed boundary, or the writer closed).
func (w *RunWriter) Reserve(branch string) (Pos, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return Pos{}, err
	}
	pos := Pos{Seq: w.next, Index: w.branchNext[branch]}
	w.next++
	w.branchNext[branch] = pos.Index + 1
	return pos, nil
}

// Commit durably writes val, the encoded span of the boundary reserved at
// pos. It waits until every earlier seq has entered the write-ahead log,
// then writes, passes the turn on and returns once the write is synced to
// disk (pebble.Sync): only then may the boundary's result reach the agent.
// (A replayed run's boundaries are not synced one by one: see CreateRun.)
// After any write error the writer is failed and every later write returns
// that error.
func (w *RunWriter) Commit(pos Pos, val []byte) error {
	w.mu.Lock()
	for w.applied != pos.Seq && w.usable() == nil {
		w.turn.Wait()
	}
	if err := w.usable(); err != nil {
		w.mu.Unlock()
		return err
	}
	b := w.db.NewBatch()
	key := boundaryKey(w.trace, "", pos.Seq)
	b.Set(key, val, nil)
	// Synced write, waited for below after the lock is released so that
	// concurrent boundaries join the same fsync. A replayed run's write
	// (pebble.NoSync) has nothing to wait for.
	apply := w.db.Apply
	opts := pebble.NoSync
	if w.syncEach {
		apply, opts = w.db.ApplyNoSyncWait, pebble.Sync
	}
	if err := apply(b, opts); err != nil {
		w.failLocked(fmt.Errorf("write boundary seq %d: %w", pos.Seq, err))
		err := w.failed
		w.mu.Unlock()
		b.Close()
		return err
	}
	w.sealer.add(key, val)
	w.applied++
	w.turn.Broadcast()
	w.inflight.Add(1)
	w.mu.Unlock()

	err := b.SyncWait()
	b.Close()
	w.inflight.Done()
	if err != nil {
		w.mu.Lock()
		w.failLocked(fmt.Errorf("sync boundary seq %d: %w", pos.Seq, err))
		err = w.failed
		w.mu.Unlock()
		return err
	}
	return nil
}

// Fail makes every later write return err (fail-stop), unless the writer
// already failed: for a caller that reserved a place it cannot fill.
func (w *RunWriter) Fail(err error) { w.fail(err) }

// fail makes every later write return err (fail-stop), unless the writer
// already failed.
func (w *RunWriter) fail(err error) {
	w.mu.Lock()
	w.failLocked(err)
	w.mu.Unlock()
}

func (w *RunWriter) failLocked(err error) {
	if w.failed == nil {
		w.failed = err
	}
	w.turn.Broadcast()
}

func (w *RunWriter) usable() error {
	if w.closed {
		return ErrRunClosed
	}
	return w.failed
}

// Next returns the seq the next Append will get.
func (w *RunWriter) Next() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.next
}

// NextIndex returns the index the next boundary of branch will get.
func (w *RunWriter) NextIndex(branch string) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.branchNext[branch]
}

// Finish ends the run: its end record (end.Boundaries is filled in by
// Finish) is written, with every boundary and the header, into the run's
// sealed file, which is synced before Finish returns; then the run is
// deleted from its writer slot. A durable end record implies durable
// boundaries.
func (w *RunWriter) Finish(end RunEnd) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrRunClosed
	}
	// Every boundary reserved must be in the log before the end record.
	// A reserved place is committed right after (its span ends), so this
	// is a short wait; one that never comes is a bug, and fails the run.
	deadline := time.AfterFunc(finishWait, func() {
		w.fail(fmt.Errorf("boundary seq %d was given its place and never written (within %s of the run's end)", w.applied, finishWait))
	})
	for w.applied != w.next && w.usable() == nil {
		w.turn.Wait()
	}
	deadline.Stop()
	end.Boundaries = w.next
	err := w.failed
	w.closed = true
	w.turn.Broadcast()
	w.mu.Unlock()
	if err != nil {
		// Not ended: the run is sealed as it is, truncated.
		w.seal(nil)
		return err
	}
	if err := w.seal(&end); err != nil {
		return fmt.Errorf("write run end: %w", err)
	}
	return nil
}

// finishWait bounds how long Finish waits for boundaries already given
// their place to be written.
const finishWait = 30 * time.Second

// Close closes the run without marking it ended: it is sealed as it is,
// and reads back as truncated. Closing a finished run is a no-op.
func (w *RunWriter) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.turn.Broadcast()
	w.mu.Unlock()
	return w.seal(nil)
}

// seal waits for the commits in flight, seals the run (with end, if not
// nil) and gives the writer's slot back.
func (w *RunWriter) seal(end *RunEnd) error {
	w.inflight.Wait()
	_, err := w.slot.seal(w.trace, end, w.sealer)
	heldSlots.mu.Lock()
	delete(w.slot.writers, w.id)
	heldSlots.mu.Unlock()
	if rerr := w.store.releaseSlot(w.slot); err == nil && rerr != nil {
		err = fmt.Errorf("close run %s: %w", w.id, rerr)
	}
	return err
}
