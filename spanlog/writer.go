package spanlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
	dir   string
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
	// inflight counts commits between entering the commit pipeline and the
	// end of their fsync wait; Close waits for them before closing Pebble.
	inflight sync.WaitGroup
}

// forkMode is the replay mode of a fork (replayer.ForkMode), whose live
// tail is synced boundary by boundary, like a recording.
const forkMode = "fork"

// ErrRunExists is returned by CreateRun when the store already has a run
// with that id.
var ErrRunExists = errors.New("run already exists")

// CreateRun creates the run's database and writes its header with a synced
// write. The caller must call Finish or Close.
//
// The boundaries of a replayed run (meta.ReplayOf set) are written without
// a sync of their own: its answers come from a recording that is already
// durable, so a replay that a crash cuts short is simply run again. Their
// order in the write-ahead log is the same, so a crash still leaves a whole
// prefix, and the synced end record (Finish) makes every one of them durable.
// This keeps replay at memory speed instead of one disk sync per boundary.
func (s *Store) CreateRun(meta RunMeta) (*RunWriter, error) {
	trace, err := ParseTraceID(meta.TraceID)
	if err != nil {
		return nil, err
	}
	dir := s.runDir(meta.TraceID)
	// Mkdir, not MkdirAll: of two processes creating one run id, one wins.
	if err := os.Mkdir(dir, dirPerm); errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("%w: run %s in store %s", ErrRunExists, meta.TraceID, s.root)
	} else if err != nil {
		return nil, fmt.Errorf("create run %s in store %s: %w", meta.TraceID, s.root, err)
	}
	db, err := openWriter(dir)
	if err != nil {
		return nil, fmt.Errorf("create run %s in store %s: %w", meta.TraceID, s.root, err)
	}
	hdr, err := json.Marshal(meta)
	if err != nil {
		db.Close()
		return nil, err
	}
	b := db.NewBatch()
	b.Set(versionKey(), []byte{dbFormatVersion}, nil)
	b.Set(headerKey(trace), hdr, nil)
	// Synced: a run that recorded nothing is still listed after a crash.
	if err := db.Apply(b, pebble.Sync); err != nil {
		b.Close()
		db.Close()
		return nil, fmt.Errorf("create run %s: %w", meta.TraceID, err)
	}
	b.Close()
	if err := syncDir(filepath.Join(s.root, "runs")); err != nil {
		db.Close()
		return nil, err
	}
	w := &RunWriter{store: s, trace: trace, id: meta.TraceID, dir: dir, db: db, syncEach: meta.ReplayOf == "" || meta.ReplayMode == forkMode, branchNext: make(map[string]int64)}
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
	b.Set(boundaryKey(w.trace, "", pos.Seq), val, nil)
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

// Finish writes the run end record with a synced write and closes the run.
// end.Boundaries is filled in by Finish. Before closing, Finish flushes the
// run out of the write-ahead log into Snappy-compressed, block-checksummed
// sstables (one memtable flush, once per run).
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
	val, err := json.Marshal(end)
	if w.failed != nil {
		err = w.failed
	} else if err == nil {
		// Synced; it enters the WAL after every boundary already appended, so
		// a durable end record implies durable boundaries.
		if err = w.db.Set(endKey(w.trace), val, pebble.Sync); err != nil {
			w.failed = fmt.Errorf("write run end: %w", err)
			err = w.failed
		} else {
			// A finished run is read many times and never written again:
			// in sstables a corrupt byte fails a block checksum instead of
			// looking like the torn tail of a log, and JSON text compresses.
			// A failed flush loses nothing: the run is durable in the log
			// already and reads back the same from there.
			_ = w.db.Flush()
		}
	}
	w.closed = true
	w.turn.Broadcast()
	w.mu.Unlock()
	if cerr := w.closeDB(); err == nil {
		err = cerr
	}
	return err
}

// finishWait bounds how long Finish waits for boundaries already given
// their place to be written.
const finishWait = 30 * time.Second

// Close closes the run without marking it ended: it will read back as
// truncated. Closing a finished run is a no-op.
func (w *RunWriter) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.turn.Broadcast()
	w.mu.Unlock()
	return w.closeDB()
}

func (w *RunWriter) closeDB() error {
	w.inflight.Wait()
	err := w.db.Close()
	os.Remove(filepath.Join(w.dir, writerFile))
	if err != nil {
		return fmt.Errorf("close run %s: %w", w.id, err)
	}
	return nil
}
