package spanlog

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

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
	trace  [16]byte // the run id, which keys its database
	id     string
	sealed bool // the run is complete and sealed: the batch only repeats it
	meta   RunMeta
	root   bool    // meta comes from the run root span
	end    *RunEnd // the root span says the run ended
	spans  map[int64]ingestSpan
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
//
// The runs received are kept in the writer slot this store holds for
// ingest, across requests (so that concurrent requests share syncs), and
// sealed when they are whole: their root span says they ended and every
// boundary it counts is stored. Until then other processes list them as
// recording (pid of this one); a run that receives nothing for
// IngestIdle is sealed as it is (a later span for it takes it back into
// the slot). Close seals the rest.
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
	ing, err := s.ingester()
	if err != nil {
		return res, err
	}
	defer ing.done()

	// Lock every run, and bring each into the slot, before writing any.
	unlock := ingestLocks.lock(s.root, ids)
	defer unlock()
	for _, id := range ids {
		if err := ing.take(id, runs[id]); err != nil {
			var ie *IngestError
			if errors.As(err, &ie) {
				problems = append(problems, ie.Problems...)
				continue
			}
			return res, err
		}
	}
	if len(problems) > 0 {
		return res, &IngestError{Problems: problems}
	}
	db := ing.slot.db
	batch := db.NewBatch()
	defer batch.Close()
	type plan struct {
		run        *ingestRun
		stored     []int64 // seqs written
		duplicates int
		ended      bool
	}
	plans := make([]plan, 0, len(ids))
	for _, id := range ids {
		p := plan{run: runs[id]}
		if p.run.sealed {
			p.duplicates = len(p.run.spans)
			plans = append(plans, p)
			continue
		}
		ing.mu.Lock()
		st := ing.runs[id]
		ing.mu.Unlock()
		if err := planIngest(db, p.run, st, batch, &p.stored, &p.duplicates, &p.ended, &problems); err != nil {
			return res, fmt.Errorf("ingest run %s: %w", id, err)
		}
		plans = append(plans, p)
	}
	if len(problems) > 0 {
		return res, &IngestError{Problems: problems}
	}
	if !batch.Empty() {
		// Synced: the receiver acknowledges only what is on disk. One
		// batch for every run of the request; concurrent requests share
		// the sync (group commit).
		if err := db.Apply(batch, pebble.Sync); err != nil {
			return res, fmt.Errorf("ingest: write: %w", err)
		}
	}
	for _, p := range plans {
		res.Stored += len(p.stored)
		res.Duplicates += p.duplicates
		if p.ended {
			res.Ended++
		}
		if err := ing.stored(p.run, p.stored); err != nil {
			return res, err
		}
	}
	return res, nil
}

// IngestIdle is how long a run received by Ingest waits in the writer slot
// for more spans before it is sealed as it is.
var IngestIdle = 30 * time.Second

// ingester is the writer slot a store's Ingest writes into, and what it
// knows of the runs there.
type ingester struct {
	store *Store
	slot  *slot

	mu    sync.Mutex // on runs
	runs  map[string]*ingestState
	users int // Ingest calls in progress
	stop  chan struct{}
}

type ingestState struct {
	trace   [16]byte
	stored  int64   // boundaries in the slot
	end     *RunEnd // the end record in the slot
	touched time.Time
	// seqs holds the seqs of the boundaries in the slot, so that a batch
	// of new spans is checked against them without a database read per
	// span. It is written under the run's ingest lock (ingestLocks).
	seqs seqSet
}

// seqSet is a set of seqs: a bitmap of the seqs below seqSetMax (boundary
// seqs are dense from 0). Seqs past that bound, or every seq once the set
// is not trusted, are not known: the caller reads the database instead.
type seqSet struct {
	bits      []uint64
	untrusted bool
}

const seqSetMax = 1 << 24

// known reports whether the set can tell whether seq is in it.
func (q *seqSet) known(seq int64) bool { return !q.untrusted && seq >= 0 && seq < seqSetMax }

// has reports whether seq is in the set; only for a known seq.
func (q *seqSet) has(seq int64) bool {
	w := int(seq / 64)
	return w < len(q.bits) && q.bits[w]&(1<<(uint(seq)%64)) != 0
}

// add puts seq in the set; a seq past its bound makes it untrusted.
func (q *seqSet) add(seq int64) {
	if !q.known(seq) {
		q.untrusted = true
		return
	}
	w := int(seq / 64)
	if w >= len(q.bits) {
		q.bits = append(q.bits, make([]uint64, w+1-len(q.bits))...)
	}
	q.bits[w] |= 1 << (uint(seq) % 64)
}

// ingester returns the store's ingester, taking a writer slot for it the
// first time. Call done when the Ingest is over.
func (s *Store) ingester() (*ingester, error) {
	if err := s.upgradeFormat(); err != nil {
		return nil, err
	}
	s.ingestMu.Lock()
	defer s.ingestMu.Unlock()
	if s.ingest == nil {
		sl, err := s.acquireSlot()
		if err != nil {
			return nil, err
		}
		heldSlots.mu.Lock()
		sl.ingested = true
		heldSlots.mu.Unlock()
		ing := &ingester{store: s, slot: sl, runs: map[string]*ingestState{}, stop: make(chan struct{})}
		s.ingest = ing
		go ing.sealIdle()
	}
	s.ingest.mu.Lock()
	s.ingest.users++
	s.ingest.mu.Unlock()
	return s.ingest, nil
}

// StartIngest takes the writer slot Ingest writes into now, rather than at
// the first Ingest, and keeps it until Close: a receiver calls it before it
// accepts requests, so that the first one does not wait for the slot.
func (s *Store) StartIngest() error {
	ing, err := s.ingester()
	if err != nil {
		return err
	}
	ing.done()
	return nil
}

func (ing *ingester) done() {
	ing.mu.Lock()
	ing.users--
	ing.mu.Unlock()
}

// take brings run id into the ingester's slot: a new run gets its marker;
// a sealed run that is not complete is copied back (unsealed); a run left
// in a slot nobody holds is sealed from there first. A complete sealed run
// takes no new spans (only copies of the ones it has), and a run another
// live process records takes none.
func (ing *ingester) take(id string, r *ingestRun) error {
	s := ing.store
	ing.mu.Lock()
	_, ok := ing.runs[id]
	ing.mu.Unlock()
	if ok {
		return nil
	}
	for range 3 {
		switch {
		case fileExists(s.sealedPath(id)):
			return ing.unseal(id, r)
		case fileExists(s.markerPath(id)):
			m, err := readMarker(s.markerPath(id))
			if err == nil && m.Slot == ing.slot.n {
				heldSlots.mu.Lock()
				recording := ing.slot.writers[id]
				heldSlots.mu.Unlock()
				if recording {
					return &RecordingError{TraceID: id, PID: os.Getpid()}
				}
				return ing.adopt(id, r.trace)
			}
			if err := s.sealDead(id); err != nil {
				var rec *RecordingError
				if errors.As(err, &rec) {
					return err
				}
				return fmt.Errorf("ingest run %s: %w", id, err)
			}
		case fileExists(s.runDir(id)):
			return &IngestError{Problems: []string{fmt.Sprintf("trace %s: the run was recorded by an older agentrr (format 1) and takes no more spans", id)}}
		default:
			if err := s.writeMarker(id, marker{Slot: ing.slot.n, PID: os.Getpid(), Name: r.meta.Name, Start: r.meta.Start}); err != nil {
				return fmt.Errorf("ingest run %s: %w", id, err)
			}
			return ing.adopt(id, r.trace)
		}
	}
	return fmt.Errorf("ingest run %s: it kept moving between the store's files; try again", id)
}

// adopt starts tracking a run already in the slot.
func (ing *ingester) adopt(id string, trace [16]byte) error {
	st := &ingestState{trace: trace, touched: time.Now()}
	src := dbSource{ing.slot.db}
	prefix := boundaryPrefix(trace, "")
	if err := src.each(prefix, prefixUpperBound(prefix), func(key []byte, _ func() ([]byte, error)) bool {
		st.stored++
		if seq, err := parseBoundaryKey(prefix, key); err == nil {
			st.seqs.add(seq)
		} else {
			st.seqs.untrusted = true
		}
		return true
	}); err != nil {
		return fmt.Errorf("ingest run %s: %w", id, err)
	}
	if v, ok, err := src.get(endKey(trace)); err != nil {
		return fmt.Errorf("ingest run %s: %w", id, err)
	} else if ok {
		var end RunEnd
		if json.Unmarshal(v, &end) == nil {
			st.end = &end
		}
	}
	ing.mu.Lock()
	ing.runs[id] = st
	ing.mu.Unlock()
	return nil
}

// unseal copies sealed run id back into the slot, unless it is complete:
// then the batch may only repeat spans it has.
func (ing *ingester) unseal(id string, r *ingestRun) error {
	s := ing.store
	info, err := s.sealedInfo(id)
	if err != nil {
		return fmt.Errorf("ingest run %s: %w", id, err)
	}
	if info.Status == StatusComplete {
		return ing.checkComplete(id, r)
	}
	src, err := openSealed(s.sealedPath(id))
	if err != nil {
		return &DamagedError{TraceID: id, Dir: s.sealedPath(id), Err: err}
	}
	defer src.close()
	b := ing.slot.db.NewBatch()
	defer b.Close()
	var copyErr error
	err = src.each([]byte{prefixBoundary}, []byte{prefixVersion}, func(key []byte, value func() ([]byte, error)) bool {
		v, err := value()
		if err != nil {
			copyErr = err
			return false
		}
		b.Set(key, v, nil)
		return true
	})
	if err == nil {
		err = copyErr
	}
	if err != nil {
		return &DamagedError{TraceID: id, Dir: s.sealedPath(id), Err: err}
	}
	if err := s.writeMarker(id, marker{Slot: ing.slot.n, PID: os.Getpid(), Name: info.Name, Start: info.Start}); err != nil {
		return fmt.Errorf("ingest run %s: %w", id, err)
	}
	// Synced before the sealed file goes: the run is always whole in one
	// place or the other (a sealed file wins over a marker).
	if err := ing.slot.db.Apply(b, pebble.Sync); err != nil {
		return fmt.Errorf("ingest run %s: %w", id, err)
	}
	s.indexDelete(id)
	if err := os.Remove(s.sealedPath(id)); err != nil {
		return fmt.Errorf("ingest run %s: %w", id, err)
	}
	if err := syncDir(s.runsDir()); err != nil {
		return err
	}
	return ing.adopt(id, r.trace)
}

// checkComplete accepts a batch for a complete sealed run only if it
// repeats what the run holds.
func (ing *ingester) checkComplete(id string, r *ingestRun) error {
	run, err := ing.store.ReadRun(id)
	if err != nil {
		return fmt.Errorf("ingest run %s: %w", id, err)
	}
	var problems []string
	for seq, sp := range r.spans {
		if seq >= int64(len(run.Records)) {
			problems = append(problems, fmt.Sprintf("trace %s: the run is complete with %d boundaries; seq %d is not one of them", id, len(run.Records), seq))
		} else if run.Records[seq].SpanID != sp.spanID {
			problems = append(problems, fmt.Sprintf("trace %s: seq %d is already stored with span %s, this batch has span %s", id, seq, run.Records[seq].SpanID, sp.spanID))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return &IngestError{Problems: problems}
	}
	r.sealed = true
	return nil
}

// stored notes what a batch wrote for run r, and seals the run when it is
// whole.
func (ing *ingester) stored(r *ingestRun, seqs []int64) error {
	if r.sealed {
		return nil
	}
	ing.mu.Lock()
	st := ing.runs[r.id]
	st.stored += int64(len(seqs))
	for _, seq := range seqs {
		st.seqs.add(seq)
	}
	st.touched = time.Now()
	if r.end != nil && st.end == nil {
		st.end = r.end
	}
	whole := st.end != nil && st.stored >= st.end.Boundaries
	if whole {
		delete(ing.runs, r.id)
	}
	ing.mu.Unlock()
	if !whole {
		return nil
	}
	if _, err := ing.slot.seal(r.trace, nil, nil); err != nil {
		return fmt.Errorf("ingest run %s: %w", r.id, err)
	}
	return nil
}

// sealIdle seals, every few seconds, the runs that received nothing for
// IngestIdle.
func (ing *ingester) sealIdle() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ing.stop:
			return
		case <-t.C:
		}
		ing.sealWhere(func(st *ingestState) bool { return time.Since(st.touched) >= IngestIdle })
	}
}

// sealWhere seals the runs of the slot that match.
func (ing *ingester) sealWhere(match func(*ingestState) bool) {
	ing.mu.Lock()
	var ids []string
	for id, st := range ing.runs {
		if match(st) {
			ids = append(ids, id)
		}
	}
	ing.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	unlock := ingestLocks.lock(ing.store.root, ids)
	defer unlock()
	for _, id := range ids {
		ing.mu.Lock()
		st, ok := ing.runs[id]
		if ok && match(st) {
			delete(ing.runs, id)
		}
		ing.mu.Unlock()
		if ok {
			ing.slot.seal(st.trace, nil, nil)
		}
	}
}

// Close seals the runs Ingest holds in the store's writer slot, and lets go
// of the writer slot this process keeps for the store between runs (see
// slotGrace) once no run is being recorded in it. The Store stays usable:
// a later run or Ingest takes a slot again. Close is optional: a process
// that exits lets its slot go, and the next process to take it seals what
// it left.
func (s *Store) Close() error {
	s.ingestMu.Lock()
	ing := s.ingest
	s.ingest = nil
	s.ingestMu.Unlock()
	var err error
	if ing != nil {
		close(ing.stop)
		ing.sealWhere(func(*ingestState) bool { return true })
		err = s.releaseSlot(ing.slot)
	}
	if ierr := s.releaseIdle(); err == nil {
		err = ierr
	}
	return err
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
func planIngest(db *pebble.DB, r *ingestRun, st *ingestState, b *pebble.Batch, stored *[]int64, dups *int, ended *bool, problems *[]string) error {
	get := dbSource{db}.get
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
		if st != nil && st.seqs.known(seq) && !st.seqs.has(seq) {
			// Not in the slot: the set holds every boundary there.
			b.Set(key, sp.data, nil)
			*stored = append(*stored, seq)
			continue
		}
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
		*stored = append(*stored, seq)
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
