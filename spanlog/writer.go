package spanlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// RunMeta describes a run when it starts. It is stored as the run header.
type RunMeta struct {
	TraceID    string            `json:"trace_id"`
	Name       string            `json:"name"`
	Service    string            `json:"service,omitempty"`
	Start      time.Time         `json:"start"`
	PID        int               `json:"pid"`
	ReplayOf   string            `json:"replay_of,omitempty"`
	ReplayMode string            `json:"replay_mode,omitempty"`
	Resource   map[string]string `json:"resource,omitempty"`
}

// RunEnd describes how a run ended. It is stored when the run ends; a run
// without it was cut short.
type RunEnd struct {
	End        time.Time `json:"end"`
	Boundaries int64     `json:"boundaries"`
	// Error is the error the agent's run ended with, if any.
	Error string `json:"error,omitempty"`
	// Verdict is "faithful" or "diverged" for a replayed run.
	Verdict     string `json:"verdict,omitempty"`
	Divergences int    `json:"divergences,omitempty"`
}

// RunWriter records one run. Append is safe for concurrent use.
type RunWriter struct {
	store *Store
	trace [16]byte
	id    string
	dir   string
	// syncEach is false for a replayed run, whose boundaries are not
	// synced one by one (see CreateRun).
	syncEach bool

	mu   sync.Mutex // held while a boundary enters the commit pipeline, never across fsync
	db   *pebble.DB
	next int64
	// branchNext is the index the next boundary of each branch gets.
	branchNext map[string]int64
	failed     error // once set, every later write fails (fail-stop)
	closed     bool
	// inflight counts Appends between entering the commit pipeline and the
	// end of their fsync wait; Close waits for them before closing Pebble.
	inflight sync.WaitGroup
}

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
	if _, err := os.Stat(dir); err == nil {
		return nil, fmt.Errorf("run %s already exists in store %s", meta.TraceID, s.root)
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
	return &RunWriter{store: s, trace: trace, id: meta.TraceID, dir: dir, db: db, syncEach: meta.ReplayOf == "", branchNext: make(map[string]int64)}, nil
}

// TraceID returns the run's trace id.
func (w *RunWriter) TraceID() string { return w.id }

// Replayed reports whether the run is a replay of a recording (its
// RunMeta.ReplayOf was set).
func (w *RunWriter) Replayed() bool { return !w.syncEach }

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

// AppendBranch durably writes the next boundary of the run, made by
// branch. encode is called with the boundary's position (its seq in the
// run, its index in the branch) while the writer's lock is held and must
// return the encoded span; it should be quick. AppendBranch returns once
// the write is synced to disk (pebble.Sync): only then may the boundary's
// result reach the agent. (A replayed run's boundaries are not synced one
// by one: see CreateRun.)
//
// Concurrent appends share fsyncs. Seqs and indices are assigned in the
// order writes enter the WAL, so a crash leaves a prefix of the run, and so
// of every branch. After any write error the writer is failed and every
// later append returns that error.
func (w *RunWriter) AppendBranch(branch string, encode func(Pos) ([]byte, error)) (Pos, error) {
	w.mu.Lock()
	if err := w.usable(); err != nil {
		w.mu.Unlock()
		return Pos{}, err
	}
	pos := Pos{Seq: w.next, Index: w.branchNext[branch]}
	val, err := encode(pos)
	if err != nil {
		w.mu.Unlock()
		return Pos{}, fmt.Errorf("encode boundary seq %d: %w", pos.Seq, err)
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
		w.failed = fmt.Errorf("write boundary seq %d: %w", pos.Seq, err)
		w.mu.Unlock()
		b.Close()
		return Pos{}, w.failed
	}
	w.next++
	w.branchNext[branch] = pos.Index + 1
	w.inflight.Add(1)
	w.mu.Unlock()

	err = b.SyncWait()
	b.Close()
	w.inflight.Done()
	if err != nil {
		w.mu.Lock()
		if w.failed == nil {
			w.failed = fmt.Errorf("sync boundary seq %d: %w", pos.Seq, err)
		}
		err = w.failed
		w.mu.Unlock()
		return Pos{}, err
	}
	return pos, nil
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
	w.mu.Unlock()
	if cerr := w.closeDB(); err == nil {
		err = cerr
	}
	return err
}

// Close closes the run without marking it ended: it will read back as
// truncated. Closing a finished run is a no-op.
func (w *RunWriter) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
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
