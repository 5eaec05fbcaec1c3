package spanlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

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
	err := s.scan(traceID, true, func(info RunInfo, rec *boundary.Record) {
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
	err := s.scan(traceID, false, func(info RunInfo, _ *boundary.Record) { out = info })
	return out, err
}

// Runs lists every run in the store, newest first. A run being recorded is
// listed with StatusRecording; a run that cannot be opened is listed as
// damaged with the reason.
func (s *Store) Runs() ([]RunInfo, error) {
	ids, err := s.TraceIDs()
	if err != nil {
		return nil, err
	}
	out := make([]RunInfo, 0, len(ids))
	for _, id := range ids {
		info, err := s.Info(id)
		if err != nil {
			info = RunInfo{RunMeta: RunMeta{TraceID: id}, Status: StatusDamaged, Reason: err.Error()}
			var rec *RecordingError
			if errors.As(err, &rec) {
				info.Status = StatusRecording
				info.PID = rec.PID
				info.Reason = fmt.Sprintf("pid %d", rec.PID)
			}
		}
		out = append(out, info)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.After(out[j].Start) })
	return out, nil
}

// scan reads the run; visit is called with the info so far after each
// boundary (rec non-nil, only when decode is set) and once at the end.
func (s *Store) scan(traceID string, decode bool, visit func(RunInfo, *boundary.Record)) (err error) {
	// Pebble may panic on a corrupt file (see readerLogger): the run is
	// damaged, the process goes on.
	defer recoverDamage(traceID, filepath.Join(s.runDir(traceID), "db"), &err)
	trace, err := ParseTraceID(traceID)
	if err != nil {
		return err
	}
	dir := s.runDir(traceID)
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("%w %s in store %s (list runs with: agentrr runs)", ErrNotFound, traceID, s.root)
	}
	info := RunInfo{RunMeta: RunMeta{TraceID: traceID}, Status: StatusComplete}
	damaged := func(format string, args ...any) {
		if info.Status != StatusDamaged {
			info.Status = StatusDamaged
			info.Reason = fmt.Sprintf(format, args...)
		}
	}
	db, err := openReader(dir)
	if errors.Is(err, errNoDatabase) {
		info.Status, info.Reason = StatusTruncated, err.Error()
		visit(info, nil)
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

	if v, closer, err := db.Get(versionKey()); err == nil {
		ver := -1
		if len(v) == 1 {
			ver = int(v[0])
		}
		closer.Close()
		if ver > dbFormatVersion {
			return fmt.Errorf("run %s: %w (run format %d, this build reads up to %d): upgrade agentrr", traceID, ErrFutureFormat, ver, dbFormatVersion)
		}
		if ver < 1 {
			damaged("unreadable format version %x", v)
		}
	} else if !errors.Is(err, pebble.ErrNotFound) {
		damaged("%s", readFailure("its format version", err))
	}

	hdrFound := false
	if v, closer, err := db.Get(headerKey(trace)); err == nil {
		if jerr := json.Unmarshal(v, &info.RunMeta); jerr != nil {
			damaged("run header does not decode: %v", jerr)
		}
		info.TraceID = traceID
		hdrFound = true
		closer.Close()
	} else if !errors.Is(err, pebble.ErrNotFound) {
		damaged("%s", readFailure("the run header", err))
	}
	if v, closer, err := db.Get(endKey(trace)); err == nil {
		var end RunEnd
		if jerr := json.Unmarshal(v, &end); jerr != nil {
			damaged("run end record does not decode: %v", jerr)
		} else {
			info.Ended = &end
		}
		closer.Close()
	} else if !errors.Is(err, pebble.ErrNotFound) {
		damaged("%s", readFailure("the run end record", err))
	}

	prefix := boundaryPrefix(trace, "")
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixUpperBound(prefix)})
	if err != nil {
		return fmt.Errorf("read run %s: %w", traceID, err)
	}
	var n int64
	branchNext := map[string]int64{}
	for valid := it.First(); valid; valid = it.Next() {
		seq, err := parseBoundaryKey(prefix, it.Key())
		if err != nil {
			damaged("%v", err)
			break
		}
		if seq != n {
			damaged("hole in the sequence: seq %d missing (next stored is %d)", n, seq)
			break
		}
		if decode {
			val, err := it.ValueAndErr()
			if err != nil {
				damaged("%s", readFailure(fmt.Sprintf("boundary seq %d", seq), err))
				break
			}
			rec, err := boundary.Unmarshal(val)
			if err != nil {
				damaged("seq %d: %v", seq, err)
				break
			}
			if rec.Seq != seq {
				damaged("seq %d: stored span says seq %d", seq, rec.Seq)
				break
			}
			if want := info.SpanTrace(); rec.TraceIDString() != want {
				damaged("seq %d: span belongs to trace %s, not the run's trace %s", seq, rec.TraceIDString(), want)
				break
			}
			if err := rec.Check(); err != nil {
				damaged("%v", err)
				break
			}
			if want := branchNext[rec.Branch]; rec.Index != want {
				// Indices are assigned with seqs, in log order: a branch
				// with a hole means a stored boundary is missing or forged.
				damaged("hole in branch %s: index %d missing (seq %d has index %d)", boundary.BranchLabel(rec.Branch), want, seq, rec.Index)
				break
			}
			branchNext[rec.Branch] = rec.Index + 1
			n++
			info.Boundaries = n
			visit(info, &rec)
			continue
		}
		n++
	}
	if err := it.Close(); err != nil {
		damaged("%s", readFailure("the boundaries", err))
	}
	info.Boundaries = n
	if info.Status != StatusDamaged && info.Ended == nil {
		// A run that did not end reads from the write-ahead log, where
		// Pebble may take a corrupt record for the torn end of the log.
		if reason := corruptWAL(filepath.Join(dir, "db")); reason != "" {
			damaged("%s (%d boundaries before it are whole)", reason, n)
		}
	}
	switch {
	case info.Status == StatusDamaged:
	case !hdrFound && (n > 0 || info.Ended != nil):
		// The header is written, synced, before anything else.
		damaged("the run header is missing, yet %d boundaries are stored (and the end record: %t)", n, info.Ended != nil)
	case !hdrFound && walMissing(filepath.Join(dir, "db")):
		damaged("no run header and no write-ahead log: a file of the run's database is missing")
	case !hdrFound:
		info.Status, info.Reason = StatusTruncated, "no run header (the recorder stopped while creating the run)"
	case info.Ended == nil:
		info.Status, info.Reason = StatusTruncated, fmt.Sprintf("run did not end: %d boundaries stored (the recorder was killed or exited without ending the run)", n)
	case info.Ended.Boundaries != n:
		damaged("run end says %d boundaries, %d stored", info.Ended.Boundaries, n)
	}
	visit(info, nil)
	return nil
}
