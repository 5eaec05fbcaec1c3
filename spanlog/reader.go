package spanlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/cockroachdb/pebble/v2"

	"github.com/agentrr/agentrr/boundary"
)

// Status is the integrity verdict of a run.
type Status string

// Run statuses.
const (
	// StatusComplete: the run ended and every boundary is whole.
	StatusComplete Status = "complete"
	// StatusTruncated: the run did not end (its recorder was killed or is
	// gone); what is stored is a whole prefix, safe to replay up to its end.
	StatusTruncated Status = "truncated"
	// StatusDamaged: something stored is not whole (a hole in the sequence,
	// a span that does not decode, a payload whose hash does not match).
	StatusDamaged Status = "damaged"
	// StatusRecording: a live process is recording the run.
	StatusRecording Status = "recording"
)

// RunInfo describes a stored run.
type RunInfo struct {
	RunMeta
	// Ended is how the run ended; nil when it did not.
	Ended *RunEnd `json:"ended,omitempty"`
	// Boundaries is the number of boundaries stored.
	Boundaries int64 `json:"boundaries"`
	// Status is the run's integrity verdict, and Reason says why it is not
	// complete.
	Status Status `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// Run is a stored run read back whole.
type Run struct {
	Info RunInfo
	// Records holds the boundaries in seq order. For a damaged run it holds
	// the whole prefix before the damage.
	Records []boundary.Record
}

// ReadRun reads every boundary of the run and checks it: each span decodes,
// its payload matches its hash, seqs run 0..n-1 with no hole. The verdict is
// in Info.Status. It returns an error only when the run cannot be read at all
// (unknown id, *RecordingError, an unopenable database).
func (s *Store) ReadRun(traceID string) (*Run, error) {
	run := &Run{}
	err := s.scan(traceID, true, func(info RunInfo, rec *boundary.Record, _ []byte) {
		if rec != nil {
			run.Records = append(run.Records, *rec)
		}
		run.Info = info
	})
	if err != nil {
		return nil, err
	}
	return run, nil
}

// Info describes the run without decoding its payloads: the verdict checks
// the structure (header, contiguous seqs, end record) but not each span;
// ReadRun checks everything.
func (s *Store) Info(traceID string) (RunInfo, error) {
	var out RunInfo
	err := s.scan(traceID, false, func(info RunInfo, _ *boundary.Record, _ []byte) { out = info })
	return out, err
}

// scan reads the run; visit is called with the info so far after each
// boundary (rec non-nil, only when decode is set) and once at the end.
func (s *Store) scan(traceID string, decode bool, visit func(RunInfo, *boundary.Record, []byte)) error {
	trace, err := ParseTraceID(traceID)
	if err != nil {
		return err
	}
	// A run being sealed moves from its slot to its file while it is read:
	// then it is looked up again.
	for range 5 {
		var err error
		switch {
		case fileExists(s.sealedPath(traceID)):
			err = s.scanSealed(traceID, trace, decode, visit)
		case fileExists(s.markerPath(traceID)):
			err = s.scanLive(traceID, trace, decode, visit)
		case fileExists(s.runDir(traceID)):
			return s.scanLegacy(traceID, trace, decode, visit)
		case s.orphanSlot(traceID) >= 0:
			err = s.scanSlot(traceID, trace, marker{Slot: s.orphanSlot(traceID)}, decode, visit)
		case slices.Contains(s.lostRuns(), traceID):
			info := RunInfo{RunMeta: RunMeta{TraceID: traceID}, Status: StatusDamaged,
				Reason: fmt.Sprintf("its file %s is missing (the run index lists it as sealed)", s.sealedPath(traceID))}
			if e, ok := s.readIndex().entries[traceID]; ok && e.info != nil {
				info.RunMeta = e.info.RunMeta
			}
			visit(info, nil, nil)
			return nil
		default:
			return fmt.Errorf("%w %s in store %s (list runs with: agentrr runs)", ErrNotFound, traceID, s.root)
		}
		if !errors.Is(err, errMoved) {
			return err
		}
	}
	return fmt.Errorf("run %s: its files kept changing while it was read; try again", traceID)
}

// errMoved: the run left the place it was being read from (it was sealed).
var errMoved = errors.New("the run moved while it was read")

// scanSealed reads a sealed run.
func (s *Store) scanSealed(traceID string, trace [16]byte, decode bool, visit func(RunInfo, *boundary.Record, []byte)) (err error) {
	path := s.sealedPath(traceID)
	// Pebble may panic on a corrupt file (see readerLogger).
	defer recoverDamage(traceID, path, &err)
	src, err := openSealed(path)
	if errors.Is(err, fs.ErrNotExist) {
		return errMoved
	}
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("run %s: %w", traceID, err)
	}
	if err != nil {
		return &DamagedError{TraceID: traceID, Dir: path, Err: err}
	}
	defer src.close()
	return s.scanSource(traceID, trace, src, decode, "", false, visit)
}

// scanLive reads a run in a writer slot: one this process holds, or one
// no process holds (its recorder was killed). A run in a slot another live
// process holds is being recorded: *RecordingError.
func (s *Store) scanLive(traceID string, trace [16]byte, decode bool, visit func(RunInfo, *boundary.Record, []byte)) (err error) {
	m, err := readMarker(s.markerPath(traceID))
	if errors.Is(err, fs.ErrNotExist) {
		return errMoved
	}
	if err != nil {
		return &DamagedError{TraceID: traceID, Dir: s.markerPath(traceID), Err: err}
	}
	return s.scanSlot(traceID, trace, m, decode, visit)
}

// scanSlot reads run traceID in the writer slot m names.
func (s *Store) scanSlot(traceID string, trace [16]byte, m marker, decode bool, visit func(RunInfo, *boundary.Record, []byte)) (err error) {
	// In this process: a run with an open writer is being recorded; one
	// without (received by Ingest) is read from the open database.
	heldSlots.mu.Lock()
	sl := heldSlots.m[slotKey(s.root)]
	if sl != nil && sl.n == m.Slot {
		if sl.writers[traceID] {
			heldSlots.mu.Unlock()
			return &RecordingError{TraceID: traceID, PID: os.Getpid()}
		}
		sl.refs++
		heldSlots.mu.Unlock()
		defer s.releaseSlot(sl)
		return s.scanSource(traceID, trace, dbSource{sl.db}, decode, "", false, visit)
	}
	heldSlots.mu.Unlock()

	dir := s.slotDir(m.Slot)
	lock, err := lockFile(filepath.Join(dir, slotLockFile), syscall.LOCK_SH)
	if errors.Is(err, errSlotBusy) {
		pid := slotPID(dir)
		if pid == 0 {
			pid = m.PID
		}
		if fileExists(s.sealedPath(traceID)) {
			return errMoved
		}
		return &RecordingError{TraceID: traceID, PID: pid}
	}
	if err != nil {
		return fmt.Errorf("run %s: writer slot %s: %w", traceID, dir, err)
	}
	defer lock.Close()
	// With the slot's lock, nobody seals into or out of it: a sealed file
	// now is the run's last word.
	if fileExists(s.sealedPath(traceID)) {
		return errMoved
	}
	dbDir := filepath.Join(dir, "db")
	defer recoverDamage(traceID, dbDir, &err)
	if !fileExists(dbDir) {
		info := RunInfo{RunMeta: RunMeta{TraceID: traceID, Name: m.Name, Start: m.Start, PID: m.PID}, Status: StatusDamaged,
			Reason: fmt.Sprintf("its writer slot %s is missing", dir)}
		visit(info, nil, nil)
		return nil
	}
	db, err := openReader(dir)
	if errors.Is(err, errNoDatabase) {
		info := RunInfo{RunMeta: RunMeta{TraceID: traceID}, Status: StatusTruncated, Reason: err.Error()}
		visit(info, nil, nil)
		return nil
	}
	var dmg *DamagedError
	if errors.As(err, &dmg) {
		dmg.TraceID = traceID
		return dmg
	}
	if err != nil {
		return fmt.Errorf("open run %s: %w", traceID, err)
	}
	defer db.Close()
	return s.scanSource(traceID, trace, dbSource{db}, decode, dbDir, true, visit)
}

// scanLegacy reads a format-1 run: its own database, runs/<id>/db.
func (s *Store) scanLegacy(traceID string, trace [16]byte, decode bool, visit func(RunInfo, *boundary.Record, []byte)) (err error) {
	dir := s.runDir(traceID)
	// Pebble may panic on a corrupt file (see readerLogger): the run is
	// damaged, the process goes on.
	defer recoverDamage(traceID, filepath.Join(dir, "db"), &err)
	db, err := openReader(dir)
	if errors.Is(err, errNoDatabase) {
		info := RunInfo{RunMeta: RunMeta{TraceID: traceID}, Status: StatusTruncated, Reason: err.Error()}
		visit(info, nil, nil)
		return nil
	}
	var (
		dmg *DamagedError
		rec *RecordingError
	)
	if errors.As(err, &dmg) || errors.As(err, &rec) {
		return err // names the run already
	}
	if err != nil {
		return fmt.Errorf("open run %s: %w", traceID, err)
	}
	defer db.Close()
	return s.scanSource(traceID, trace, dbSource{db}, decode, filepath.Join(dir, "db"), false, visit)
}

// runSource is where a run's keys are read from: a database (a writer
// slot, a format-1 run's own) or a sealed file.
type runSource interface {
	// get returns a copy of key's value, and whether it is there.
	get(key []byte) ([]byte, bool, error)
	// each calls fn for each key in [lower, upper), in order, until fn
	// returns false; value reads the key's value.
	each(lower, upper []byte, fn func(key []byte, value func() ([]byte, error)) bool) error
}

type dbSource struct{ db *pebble.DB }

func (d dbSource) get(key []byte) ([]byte, bool, error) {
	v, closer, err := d.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := append([]byte(nil), v...)
	closer.Close()
	return out, true, nil
}

func (d dbSource) each(lower, upper []byte, fn func(key []byte, value func() ([]byte, error)) bool) error {
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	for valid := it.First(); valid; valid = it.Next() {
		if !fn(it.Key(), it.ValueAndErr) {
			break
		}
	}
	return it.Close()
}

// scanSource reads run traceID from src and checks it. walDir, when not
// empty, is the database directory whose write-ahead log holds the run if
// it did not end (see corruptWAL); slotDB says it is a writer slot's.
func (s *Store) scanSource(traceID string, trace [16]byte, src runSource, decode bool, walDir string, slotDB bool, visit func(RunInfo, *boundary.Record, []byte)) error {
	info := RunInfo{RunMeta: RunMeta{TraceID: traceID}, Status: StatusComplete}
	damaged := func(format string, args ...any) {
		if info.Status != StatusDamaged {
			info.Status = StatusDamaged
			info.Reason = fmt.Sprintf(format, args...)
		}
	}
	if v, ok, err := src.get(versionKey()); err != nil {
		damaged("%s", readFailure("its format version", err))
	} else if ok {
		ver := -1
		if len(v) == 1 {
			ver = int(v[0])
		}
		if ver > dbFormatVersion {
			return fmt.Errorf("run %s: %w (run format %d, this build reads up to %d): upgrade agentrr", traceID, ErrFutureFormat, ver, dbFormatVersion)
		}
		if ver < 1 {
			damaged("unreadable format version %x", v)
		}
	}

	hdrFound := false
	if v, ok, err := src.get(headerKey(trace)); err != nil {
		damaged("%s", readFailure("the run header", err))
	} else if ok {
		if jerr := json.Unmarshal(v, &info.RunMeta); jerr != nil {
			damaged("run header does not decode: %v", jerr)
		}
		info.TraceID = traceID
		hdrFound = true
	}
	if v, ok, err := src.get(endKey(trace)); err != nil {
		damaged("%s", readFailure("the run end record", err))
	} else if ok {
		var end RunEnd
		if jerr := json.Unmarshal(v, &end); jerr != nil {
			damaged("run end record does not decode: %v", jerr)
		} else {
			info.Ended = &end
		}
	}

	prefix := boundaryPrefix(trace, "")
	var n int64
	branchNext := map[string]int64{}
	err := src.each(prefix, prefixUpperBound(prefix), func(key []byte, value func() ([]byte, error)) bool {
		seq, err := parseBoundaryKey(prefix, key)
		if err != nil {
			damaged("%v", err)
			return false
		}
		if seq != n {
			damaged("hole in the sequence: seq %d missing (next stored is %d)", n, seq)
			return false
		}
		if !decode {
			n++
			return true
		}
		val, err := value()
		if err != nil {
			damaged("%s", readFailure(fmt.Sprintf("boundary seq %d", seq), err))
			return false
		}
		rec, err := boundary.Unmarshal(val)
		if err != nil {
			damaged("seq %d: %v", seq, err)
			return false
		}
		if rec.Seq != seq {
			damaged("seq %d: stored span says seq %d", seq, rec.Seq)
			return false
		}
		if want := info.SpanTrace(); rec.TraceIDString() != want {
			damaged("seq %d: span belongs to trace %s, not the run's trace %s", seq, rec.TraceIDString(), want)
			return false
		}
		if err := rec.Check(); err != nil {
			damaged("%v", err)
			return false
		}
		if want := branchNext[rec.Branch]; rec.Index != want {
			// Indices are assigned with seqs, in log order: a branch
			// with a hole means a stored boundary is missing or forged.
			damaged("hole in branch %s: index %d missing (seq %d has index %d)", boundary.BranchLabel(rec.Branch), want, seq, rec.Index)
			return false
		}
		branchNext[rec.Branch] = rec.Index + 1
		n++
		info.Boundaries = n
		visit(info, &rec, val)
		return true
	})
	if err != nil {
		damaged("%s", readFailure("the boundaries", err))
	}
	info.Boundaries = n
	if walDir != "" && info.Status != StatusDamaged && info.Ended == nil {
		// A run that did not end reads from the write-ahead log, where
		// Pebble may take a corrupt record for the torn end of the log.
		if reason := corruptWAL(walDir); reason != "" {
			damaged("%s (%d boundaries before it are whole)", reason, n)
		}
	}
	switch {
	case info.Status == StatusDamaged:
	case !hdrFound && (n > 0 || info.Ended != nil):
		// The header is written, synced, before anything else.
		damaged("the run header is missing, yet %d boundaries are stored (and the end record: %t)", n, info.Ended != nil)
	case !hdrFound && walDir != "" && !slotDB && walMissing(walDir):
		damaged("no run header and no write-ahead log: a file of the run's database is missing")
	case !hdrFound && slotDB && slotWALMissing(walDir):
		damaged("no run header and no write-ahead log in its writer slot %s: a file of the slot's database is missing", filepath.Dir(walDir))
	case !hdrFound:
		info.Status, info.Reason = StatusTruncated, "no run header (the recorder stopped while creating the run)"
	case info.Ended == nil:
		info.Status, info.Reason = StatusTruncated, fmt.Sprintf("run did not end: %d boundaries stored (the recorder was killed or exited without ending the run)", n)
	case info.Ended.Boundaries != n:
		damaged("run end says %d boundaries, %d stored", info.Ended.Boundaries, n)
	}
	visit(info, nil, nil)
	return nil
}

// orphanSlot returns the writer slot that holds run id although no marker
// names it (its marker was lost), -1 when none does. Only slots whose
// holder died (their writer file is left) and that no process holds are
// looked into: every other slot's runs have their markers.
func (s *Store) orphanSlot(id string) int {
	trace, err := ParseTraceID(id)
	if err != nil {
		return -1
	}
	for _, n := range s.slotNumbers() {
		dir := s.slotDir(n)
		if !fileExists(filepath.Join(dir, writerFile)) {
			continue
		}
		if found := func() bool {
			lock, err := lockFile(filepath.Join(dir, slotLockFile), syscall.LOCK_SH)
			if err != nil {
				return false
			}
			defer lock.Close()
			db, err := openReader(dir)
			if err != nil {
				return false
			}
			defer db.Close()
			traces, err := slotRuns(db)
			return err == nil && slices.Contains(traces, trace)
		}(); found {
			return n
		}
	}
	return -1
}

// orphans returns the runs held by writer slots whose holder died, that no
// marker names.
func (s *Store) orphans() []string {
	var out []string
	for _, n := range s.slotNumbers() {
		dir := s.slotDir(n)
		if !fileExists(filepath.Join(dir, writerFile)) {
			continue
		}
		func() {
			lock, err := lockFile(filepath.Join(dir, slotLockFile), syscall.LOCK_SH)
			if err != nil {
				return
			}
			defer lock.Close()
			db, err := openReader(dir)
			if err != nil {
				return
			}
			defer db.Close()
			traces, _ := slotRuns(db)
			for _, t := range traces {
				id := traceHex(t)
				if !fileExists(s.markerPath(id)) && !fileExists(s.sealedPath(id)) {
					out = append(out, id)
				}
			}
		}()
	}
	return out
}
