package spanlog

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentrr/agentrr/boundary"
)

// IngestResult says what Ingest did with a batch of spans.
type IngestResult struct {
	// Runs is the number of runs (trace ids) the batch touched.
	Runs int
	// Stored counts boundary spans written; Duplicates those already
	// stored under the same seq and span id (a retried or repeated export),
	// which are left as they are.
	Stored, Duplicates int
	// Ended counts runs whose end record this batch wrote.
	Ended int
	// Ignored counts spans that are neither boundary spans nor run root
	// spans (the agent's own spans): the store keeps boundaries only.
	Ignored int
}

// IngestError is returned when a batch cannot be stored as it is: a
// boundary span without a usable agentrr.seq, a payload that is not whole,
// or a seq already stored with another span. Nothing of the batch is
// written. Problems lists every problem found.
type IngestError struct {
	Problems []string
}

func (e *IngestError) Error() string {
	const show = 5
	p := e.Problems
	more := ""
	if len(p) > show {
		more = fmt.Sprintf("; and %d more", len(p)-show)
		p = p[:show]
	}
	return fmt.Sprintf("%d problem(s), nothing stored: %s%s", len(e.Problems), strings.Join(p, "; "), more)
}

// ingestRun is what one batch brings for one run.
type ingestRun struct {
	trace [16]byte // the run id, which keys its database
	id    string
	meta  RunMeta
	root  bool    // meta comes from the run root span
	end   *RunEnd // the root span says the run ended
	spans map[int64]ingestSpan
}

type ingestSpan struct {
	spanID pcommon.SpanID
	data   []byte // OTLP protobuf TracesData holding this one span
}

// Ingest stores the boundary spans of td — received over OTLP, from an
// agent in any language that sets the agentrr boundary attributes,
// agentrr.seq included — into their runs, one run per trace id, creating
// runs as needed. It returns once everything is written with synced writes.
//
// The whole batch is checked before anything is written: every boundary
// span must carry a seq and whole payloads (boundary.Record.Check), and must
// not clash with a boundary already stored under its seq. Otherwise Ingest
// returns an *IngestError and writes nothing. A run being recorded by a live
// process yields a *RecordingError (try again later). Spans already stored
// (same seq, same span id) are skipped, so a retried export is harmless.
//
// Spans of one run may arrive in any number of batches and in any order; a
// run read while spans are missing shows as damaged (a hole) or truncated
// (no end yet) until they arrive. The run header is written from the first
// batch (service and resource from the span's resource); the run root span
// (the span carrying agentrr.run) fills in its name and start, and, when it
// carries agentrr.boundaries, writes the end record: the run then reads back
// complete once that many boundaries are stored.
//
// Writes to several runs are not one transaction: if the disk fails midway
// some runs may be written and others not; sending the batch again completes
// it.
func (s *Store) Ingest(td ptrace.Traces) (IngestResult, error) {
	var res IngestResult
	runs, problems := collectIngest(td, &res)
	if len(problems) > 0 {
		return res, &IngestError{Problems: problems}
	}
	ids := make([]string, 0, len(runs))
	for id := range runs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	res.Runs = len(ids)
	if len(ids) == 0 {
		return res, nil
	}

	// Lock, open and check every run before writing any.
	unlock := ingestLocks.lock(s.root, ids)
	defer unlock()
	dbs := make(map[string]*pebble.DB, len(ids))
	defer func() {
		for id, db := range dbs {
			db.Close()
			os.Remove(filepath.Join(s.runDir(id), writerFile))
		}
	}()
	for _, id := range ids {
		db, err := s.openIngest(id)
		if err != nil {
			return res, err
		}
		dbs[id] = db
	}
	type plan struct {
		run                *ingestRun
		batch              *pebble.Batch
		stored, duplicates int
		ended              bool
	}
	plans := make([]plan, 0, len(ids))
	defer func() {
		for _, p := range plans {
			p.batch.Close()
		}
	}()
	for _, id := range ids {
		r, db := runs[id], dbs[id]
		p := plan{run: r, batch: db.NewBatch()}
		err := planIngest(db, r, p.batch, &p.stored, &p.duplicates, &p.ended, &problems)
		plans = append(plans, p)
		if err != nil {
			return res, fmt.Errorf("ingest run %s: %w", id, err)
		}
	}
	if len(problems) > 0 {
		return res, &IngestError{Problems: problems}
	}
	for _, p := range plans {
		if p.batch.Empty() {
			res.Duplicates += p.duplicates
			continue
		}
		// Synced: the receiver acknowledges only what is on disk.
		if err := dbs[p.run.id].Apply(p.batch, pebble.Sync); err != nil {
			return res, fmt.Errorf("ingest run %s: write: %w", p.run.id, err)
		}
		res.Stored += p.stored
		res.Duplicates += p.duplicates
		if p.ended {
			res.Ended++
		}
	}
	if err := syncDir(filepath.Join(s.root, "runs")); err != nil {
		return res, err
	}
	return res, nil
}

// collectIngest sorts the spans of td into runs and checks each boundary.
func collectIngest(td ptrace.Traces, res *IngestResult) (map[string]*ingestRun, []string) {
	runs := map[string]*ingestRun{}
	var problems []string
	get := func(sp ptrace.Span, rsrc pcommon.Resource) *ingestRun {
		tid := sp.TraceID()
		id := hex.EncodeToString(tid[:])
		trace := ""
		if v, ok := sp.Attributes().Get(boundary.AttrRunID); ok && v.AsString() != id {
			// A run sharing its trace with another (see boundary.RunID).
			trace, id = id, v.AsString()
		}
		r := runs[id]
		if r == nil {
			key, err := ParseTraceID(id)
			if err != nil {
				problems = append(problems, fmt.Sprintf("span %s %q: %s: %v", sp.SpanID(), sp.Name(), boundary.AttrRunID, err))
				return nil
			}
			r = &ingestRun{trace: key, id: id, spans: map[int64]ingestSpan{}}
			r.meta, _, _ = boundary.ParseRootSpan(ptrace.NewSpan(), rsrc)
			r.meta.TraceID, r.meta.Trace, r.meta.RootSpan = id, trace, ""
			r.meta.Start = sp.StartTimestamp().AsTime().UTC()
			runs[id] = r
		}
		if t := sp.StartTimestamp().AsTime().UTC(); !r.root && t.Before(r.meta.Start) {
			r.meta.Start = t
		}
		return r
	}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				sp := spans.At(k)
				attrs := sp.Attributes()
				_, isBoundary := attrs.Get(boundary.AttrKind)
				_, isRoot := attrs.Get(boundary.AttrRun)
				if !isBoundary && !isRoot {
					res.Ignored++
					continue
				}
				if sp.TraceID().IsEmpty() {
					problems = append(problems, fmt.Sprintf("span %s %q has an empty trace id", sp.SpanID(), sp.Name()))
					continue
				}
				r := get(sp, rs.Resource())
				if r == nil {
					continue
				}
				if !isBoundary {
					if err := r.setRoot(sp, rs.Resource()); err != nil {
						problems = append(problems, fmt.Sprintf("trace %s: %v", r.id, err))
					}
					continue
				}
				rec, err := boundary.FromSpan(sp)
				if err == nil {
					err = rec.Check()
				}
				if err != nil {
					problems = append(problems, fmt.Sprintf("trace %s span %s %q: %v", r.id, sp.SpanID(), sp.Name(), err))
					continue
				}
				if prev, ok := r.spans[rec.Seq]; ok {
					if prev.spanID != sp.SpanID() {
						problems = append(problems, fmt.Sprintf("trace %s: seq %d is carried by two spans (%s and %s)", r.id, rec.Seq, prev.spanID, sp.SpanID()))
					}
					continue
				}
				data, err := encodeOne(ss.Scope(), ss.SchemaUrl(), sp)
				if err != nil {
					problems = append(problems, fmt.Sprintf("trace %s span %s: %v", r.id, sp.SpanID(), err))
					continue
				}
				r.spans[rec.Seq] = ingestSpan{spanID: sp.SpanID(), data: data}
			}
		}
	}
	return runs, problems
}

// setRoot takes the run's header and (if it ended) end from its root span.
func (r *ingestRun) setRoot(sp ptrace.Span, rsrc pcommon.Resource) error {
	meta, end, err := boundary.ParseRootSpan(sp, rsrc)
	if err != nil {
		return err
	}
	r.root, r.meta, r.end = true, meta, end
	return nil
}

// encodeOne encodes sp alone, with its scope and no resource (the run header
// holds the resource), as the recorder stores a boundary.
func encodeOne(scope pcommon.InstrumentationScope, schemaURL string, sp ptrace.Span) ([]byte, error) {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	ss.Scope().SetName(scope.Name())
	ss.Scope().SetVersion(scope.Version())
	ss.SetSchemaUrl(schemaURL)
	sp.CopyTo(ss.Spans().AppendEmpty())
	return (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
}

// planIngest fills b with what run r adds to db. Clashes with what db holds
// are appended to problems.
func planIngest(db *pebble.DB, r *ingestRun, b *pebble.Batch, stored, dups *int, ended *bool, problems *[]string) error {
	get := func(key []byte) ([]byte, bool, error) {
		v, closer, err := db.Get(key)
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
	if _, ok, err := get(versionKey()); err != nil {
		return err
	} else if !ok {
		b.Set(versionKey(), []byte{dbFormatVersion}, nil)
	}
	hdr, ok, err := get(headerKey(r.trace))
	if err != nil {
		return err
	}
	writeHeader := !ok
	if ok && r.root {
		// Replace a header written before the root span arrived.
		var old RunMeta
		writeHeader = json.Unmarshal(hdr, &old) == nil && old.Name == ""
	}
	if writeHeader {
		v, err := json.Marshal(r.meta)
		if err != nil {
			return err
		}
		b.Set(headerKey(r.trace), v, nil)
	}

	seqs := make([]int64, 0, len(r.spans))
	for seq := range r.spans {
		seqs = append(seqs, seq)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for _, seq := range seqs {
		sp := r.spans[seq]
		key := boundaryKey(r.trace, "", seq)
		old, ok, err := get(key)
		if err != nil {
			return err
		}
		if ok {
			rec, err := boundary.Unmarshal(old)
			switch {
			case err != nil:
				*problems = append(*problems, fmt.Sprintf("trace %s: seq %d is already stored and does not decode (%v)", r.id, seq, err))
			case rec.SpanID != sp.spanID:
				*problems = append(*problems, fmt.Sprintf("trace %s: seq %d is already stored with span %s, this batch has span %s", r.id, seq, rec.SpanID, sp.spanID))
			default:
				*dups++
			}
			continue
		}
		b.Set(key, sp.data, nil)
		*stored++
	}
	if r.end != nil {
		if _, ok, err := get(endKey(r.trace)); err != nil {
			return err
		} else if !ok {
			v, err := json.Marshal(r.end)
			if err != nil {
				return err
			}
			b.Set(endKey(r.trace), v, nil)
			*ended = true
		}
	}
	return nil
}

// openIngest opens (creating if needed) run id's database for an ingest
// write. Unlike openWriter it never touches the writer file of a run a live
// recorder holds.
func (s *Store) openIngest(id string) (*pebble.DB, error) {
	dir := s.runDir(id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ingest run %s: %w", id, err)
	}
	db, err := pebble.Open(filepath.Join(dir, "db"), pebbleOptions(false))
	if err != nil {
		if isLockErr(err) {
			if pid, ok := liveWriter(dir); ok {
				return nil, &RecordingError{TraceID: id, PID: pid}
			}
			return nil, fmt.Errorf("ingest run %s: its database is locked by another process: %w", id, ErrRecording)
		}
		return nil, fmt.Errorf("ingest run %s: %w", id, err)
	}
	// Advisory, not synced: it only lets readers say "recording (pid N)"
	// while the batch is written, instead of waiting for the lock.
	os.WriteFile(filepath.Join(dir, writerFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600)
	return db, nil
}

// ingestLocks serialises ingest writes to one run within this process
// (Pebble's directory lock already keeps other processes out).
var ingestLocks = &keyLocks{m: map[string]*keyLock{}}

type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

// lock locks the runs ids (sorted, so two batches never wait on each other
// in a cycle) of the store at root, and returns the unlock function.
func (l *keyLocks) lock(root string, ids []string) func() {
	keys := make([]string, len(ids))
	locks := make([]*keyLock, len(ids))
	l.mu.Lock()
	for i, id := range ids {
		keys[i] = root + "\x00" + id
		k := l.m[keys[i]]
		if k == nil {
			k = &keyLock{}
			l.m[keys[i]] = k
		}
		k.refs++
		locks[i] = k
	}
	l.mu.Unlock()
	for _, k := range locks {
		k.mu.Lock()
	}
	return func() {
		for _, k := range locks {
			k.mu.Unlock()
		}
		l.mu.Lock()
		for i, k := range locks {
			if k.refs--; k.refs == 0 {
				delete(l.m, keys[i])
			}
		}
		l.mu.Unlock()
	}
}
