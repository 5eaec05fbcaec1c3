package replayer

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/replaylink"
	"github.com/agentrr/agentrr/spanlog"
)

// Mode is the replay mode.
type Mode string

// Replay modes.
const (
	// Strict halts at the first divergence (the default).
	Strict Mode = "strict"
	// Observe never halts and collects every divergence.
	Observe Mode = "observe"
)

// ParseMode parses "strict" or "observe".
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case Strict, Observe:
		return Mode(s), nil
	case "":
		return Strict, nil
	}
	return "", fmt.Errorf("unknown replay mode %q (want strict or observe)", s)
}

// Option configures a replay.
type Option func(*session)

// WithMode sets the replay mode (Strict by default).
func WithMode(m Mode) Option { return func(s *session) { s.mode = m } }

// WithReportFile makes the session write its report, as JSON, to path after
// every divergence and when the run ends, so a parent process learns the
// outcome even if the agent exits abruptly after a divergence.
func WithReportFile(path string) Option { return func(s *session) { s.reportPath = path } }

// WithUntilSeq makes the session serve the recorded boundaries 0..seq only
// (seq as `agentrr show` numbers them: the run's completion order): when the
// agent asks for a boundary recorded after seq the replay stops. That
// request is neither served nor matched as a divergence; it is described in
// the report (analyze.Report.Stopped), and the boundary call returns a
// *StopError (errors.Is(err, ErrStopped)), as does every later one past
// seq, so the agent winds down. With branches, each branch is served up to
// where it stood when boundary seq was recorded: a branch whose next
// boundary was recorded after seq stops, while the others still get theirs.
// A negative seq stops before the first boundary. When the agent ends its
// run first, or asks for a boundary past the end of its branch's recording,
// the replay ends as usual (a boundary past the end is a divergence).
func WithUntilSeq(seq int64) Option {
	return func(s *session) { s.until, s.hasUntil = seq, true }
}

// WithReplayStore records the replayed run into store instead of the
// store the agent records into (a replay from a test keeps the test's
// store clean).
func WithReplayStore(store *spanlog.Store) Option {
	return func(s *session) { s.replayStore = store }
}

// WithChaos perturbs the scheduling of the replayed agent, as rr's chaos
// mode does: before each boundary's answer is handed back, the session
// waits a while and yields the processor, by amounts drawn from seed and
// the boundary's branch and index (so the same seed perturbs the same
// boundaries the same way, whatever the scheduler does). Sibling branches
// are delayed by their rank in an order the seed shuffles, so each seed
// tries another order of completion among them. An agent whose behaviour
// depends on which goroutine finishes first diverges under some seeds;
// replaying it with a few seeds finds out, and the seed that found it
// reproduces it. The seed is in the report (analyze.Report.Chaos).
func WithChaos(seed uint64) Option {
	return func(s *session) { s.chaos = newChaos(seed) }
}

// WithStepper makes the session call step before each boundary it serves,
// with the boundary the agent asks for, what the recording holds there and
// whether they match, and act on the answer (see Action). Boundary calls
// wait while step runs; concurrent boundaries are stepped one at a time.
// If step returns an error the replay stops as for Quit, with the error in
// the stop reason.
func WithStepper(step Stepper) Option { return func(s *session) { s.stepper = step } }

// session serves one recording to one replayed run: the engine otelrr's
// helpers drive (through internal/replaylink). It is safe for concurrent
// use: each branch of the run is matched on its own (see Next).
type session struct {
	rec        *Recording
	mode       Mode
	reportPath string
	until      int64
	hasUntil   bool
	stepper    Stepper
	chaos      *chaos
	// replayStore, when set, is where the replayed run is recorded.
	replayStore *spanlog.Store
	fork        forkState

	// stepMu serializes Next while a stepper is set, so that steps are
	// shown one at a time and mu is not held while the stepper waits.
	stepMu sync.Mutex

	mu       sync.Mutex
	branches map[string]*branchState
	// last is the branch state looked up last, named lastBranch: a
	// boundary's Release, and a branch's next boundary when no other
	// branch came between, find their branch without hashing its name.
	last        *branchState
	lastBranch  string
	branched    bool // the recording has branches besides the root
	stop        *StopError
	quit        bool // the stepper said Quit: every later boundary stops
	continuing  bool // the stepper said Continue: no more steps
	codeChange  string
	codeChanged bool
	requested   int
	served      int
	halt        *DivergenceError
	divergences []analyze.Divergence
	replayTrace string
	finished    bool
	agentErr    string
	started     bool
}

// branchState is the replay of one branch.
type branchState struct {
	recs   []*boundary.Record // the recorded boundaries of the branch, by index
	served []bool
	cursor int // the first index not served
	// requested counts the boundaries the agent made on the branch.
	requested int
	// inflight counts the branch's boundaries between Next and Release.
	inflight int
	// grouped is true when the recording has boundaries of the branch in
	// flight together: goroutines shared its context. size holds the size
	// of each concurrency group of more than one, by its first index.
	grouped bool
	size    map[int64]int
}

// inGroup reports whether r belongs to a concurrency group of more than one.
func (bs *branchState) inGroup(r *boundary.Record) bool { return bs.size[r.Group] > 1 }

func init() {
	replaylink.NewSession = func(rec, opts any) replaylink.Session {
		return newSession(rec.(*Recording), opts.([]Option)...)
	}
}

// newSession returns a session serving rec.
func newSession(rec *Recording, opts ...Option) *session {
	s := &session{rec: rec, mode: Strict, branches: make(map[string]*branchState)}
	for _, o := range opts {
		o(s)
	}
	// In seq order, each branch's records are in index order (Load and the
	// OTLP loaders refuse a recording where they are not).
	// Consecutive records are mostly of one branch: look a branch up only
	// when the branch changes.
	var (
		bs     *branchState
		bsName string
	)
	for i := range rec.Records {
		r := &rec.Records[i]
		if bs == nil || r.Branch != bsName {
			bs, bsName = s.branches[r.Branch], r.Branch
			if bs == nil {
				bs = &branchState{}
				s.branches[r.Branch] = bs
			}
		}
		bs.recs = append(bs.recs, r)
		if r.Group != r.Index {
			if bs.size == nil {
				bs.size = map[int64]int{}
			}
			if bs.size[r.Group] == 0 {
				bs.size[r.Group] = 1 // its first
			}
			bs.size[r.Group]++
			bs.grouped = true
		}
	}
	for b, bs := range s.branches {
		bs.served = make([]bool, len(bs.recs))
		if b != boundary.RootBranch {
			s.branched = true
		}
	}
	if s.chaos != nil {
		byBranch := make(map[string][]*boundary.Record, len(s.branches))
		for b, bs := range s.branches {
			byBranch[b] = bs.recs
		}
		s.chaos.rank(byBranch)
	}
	return s
}

// Original describes the recording being served.
func (s *session) Original() replaylink.Original {
	o := replaylink.Original{ID: s.rec.TraceID, Resource: s.rec.Info.Resource}
	if len(s.rec.Records) > 0 {
		o.First = &s.rec.Records[0]
	}
	return o
}

// Mode returns the replay mode: "fork" for a fork, which is strict up to
// its fork point.
func (s *session) Mode() string {
	if s.fork.enabled {
		return ForkMode
	}
	return string(s.mode)
}

// ForkMode is the mode a forked run's header names (boundary.RunMeta's
// ReplayMode): strict up to the fork point, live after it.
const ForkMode = "fork"

// BranchRecords returns the recorded boundaries of branch, by index.
func (s *session) BranchRecords(branch string) []*boundary.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	if bs := s.branches[branch]; bs != nil {
		return bs.recs
	}
	return nil
}

// Begin starts the replayed run. A session replays one run: a second
// Begin fails.
func (s *session) Begin() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return fmt.Errorf("agentrr: this replay (of %s) already serves run %s; a replay serves exactly one run", s.rec.TraceID, s.replayTrace)
	}
	s.started = true
	return nil
}

// SetReplayTrace records the run id of the replayed run, itself recorded.
func (s *session) SetReplayTrace(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replayTrace = id
}

// ReplayStore returns the store the replayed run is to be recorded into
// (WithReplayStore), or nil for the agent's own.
func (s *session) ReplayStore() *spanlog.Store { return s.replayStore }

// query is a boundary the agent makes, as the session matches it.
type query = replaylink.Query

// Next matches the next boundary the agent makes on branch q.Branch against
// the recording: the n-th boundary a branch makes is matched to the
// branch's n-th recorded boundary, and kind, name and signature must agree.
// Boundaries the recording shows in flight together on one branch (a
// concurrency group, boundary.Record.Group) are matched among themselves,
// in whatever order they come, by exact kind, name and signature; never by
// similarity.
//
// It returns the recorded boundary to serve, and a nil error, when it
// matches. On a divergence it returns a *DivergenceError, except in observe
// mode when kind and name agree: then it serves the recorded boundary and
// reports the divergence in div. In strict mode, once a divergence has been
// returned, every later call, on any branch, returns the same error.
//
// When the replay was stopped (WithUntilSeq, WithStepper) it returns a
// *StopError instead.
//
// Every call must be followed by one Release of its branch once the
// boundary is done: a boundary that starts while another of its branch is
// in flight, where the recording shows none, is an unbranched-concurrency
// divergence.
func (s *session) Next(q query) answer {
	if s.stepper != nil {
		s.stepMu.Lock()
		defer s.stepMu.Unlock()
	}
	s.mu.Lock()
	bs := s.branch(q.Branch)
	bs.inflight++
	if s.halt != nil {
		s.mu.Unlock()
		return answer{Err: s.halt}
	}
	if s.quit {
		s.mu.Unlock()
		return answer{Err: s.stop}
	}
	var m matched
	if s.fork.point == nil {
		m = s.match(bs, q)
	}
	if s.fork.point == nil {
		if a, ok := s.versionLocked(bs, q); ok {
			s.requested++
			bs.requested++
			s.mu.Unlock()
			return a
		}
	}
	if a, ok := s.forkLocked(bs, q, m); ok {
		s.requested++
		bs.requested++
		s.mu.Unlock()
		return a
	}
	if s.hasUntil && m.rec != nil && m.rec.Seq > s.until {
		err := s.stopLocked(fmt.Sprintf("until seq %d", s.until), q, m)
		s.mu.Unlock()
		return answer{Err: err}
	}
	if s.stepper != nil && !s.continuing {
		if err := s.stepLocked(q, m); err != nil {
			s.mu.Unlock()
			return answer{Err: err}
		}
	}
	s.requested++
	bs.requested++
	var a answer
	switch {
	case m.div == nil && q.Kind == boundary.KindVersion:
		if v, ok := recordedVersion(m.rec); ok {
			if d := s.belowMinLocked(bs, q, v, m.rec); d != nil {
				a.Err = s.diverge(*d)
				break
			}
		}
		s.serve(bs, m.at)
		a.Rec = m.rec
	case m.div == nil:
		s.serve(bs, m.at)
		a.Rec = m.rec
	case s.mode == Observe && m.rec != nil && m.rec.Kind == q.Kind && m.rec.Name == q.Name && m.div.Reason != analyze.ReasonAmbiguous:
		s.diverge(*m.div)
		s.serve(bs, m.at)
		a.Rec, a.Div = m.rec, m.div
	default:
		a.Err = s.diverge(*m.div)
		if m.rec != nil && bs.served != nil {
			// Observe goes on: the position is used up, so that the
			// branch's next boundary is compared with the next recorded.
			bs.served[m.at] = true
			s.advance(bs)
		}
	}
	delay := s.chaos.delay(q.Branch, int64(bs.requested-1))
	s.mu.Unlock()
	s.chaos.wait(delay)
	return a
}

// Forked reports whether the replay has passed its fork point.
func (s *session) Forked() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fork.point != nil
}

// Release says that the boundary of branch last returned by Next is done
// (served, failed or abandoned).
func (s *session) Release(branch string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if bs := s.lookup(branch); bs != nil && bs.inflight > 0 {
		bs.inflight--
	}
}

// lookup returns the state of branch, nil for a branch the session does
// not know. Called with s.mu held.
func (s *session) lookup(b string) *branchState {
	if s.last != nil && b == s.lastBranch {
		return s.last
	}
	bs := s.branches[b]
	if bs != nil {
		s.last, s.lastBranch = bs, b
	}
	return bs
}

// branch returns the state of branch, making it for a branch the recording
// does not have. Called with s.mu held.
func (s *session) branch(b string) *branchState {
	bs := s.lookup(b)
	if bs == nil {
		bs = &branchState{}
		s.branches[b] = bs
		s.last, s.lastBranch = bs, b
	}
	return bs
}

// serve marks the branch's boundary at index at as served. Called with
// s.mu held.
func (s *session) serve(bs *branchState, at int) {
	s.served++
	bs.served[at] = true
	s.advance(bs)
}

// advance moves the branch's cursor past the positions used up.
func (s *session) advance(bs *branchState) {
	for bs.cursor < len(bs.recs) && bs.served[bs.cursor] {
		bs.cursor++
	}
}

// matched is the outcome of matching one boundary.
type matched struct {
	// rec is the recorded boundary the request is matched to (or compared
	// with, on a divergence), at index at of its branch; nil past the
	// branch's end.
	rec *boundary.Record
	at  int
	// div is the divergence; nil when rec is served.
	div *analyze.Divergence
}

// match compares the boundary q with what branch bs's recording holds next.
// It changes nothing. Called with s.mu held.
func (s *session) match(bs *branchState, q query) matched {
	same := func(r *boundary.Record) bool {
		return r.Kind == q.Kind && r.Name == q.Name && r.Signature == q.Signature
	}
	at := bs.cursor
	if at >= len(bs.recs) {
		reason := analyze.ReasonExtra
		if s.rec.Truncated {
			reason = analyze.ReasonTruncated
		}
		d := s.observed(q, reason, int64(bs.requested))
		if !s.branched && q.Branch == boundary.RootBranch {
			d.Seq = d.Index // one branch: the index is the seq
		}
		return matched{at: at, div: d}
	}
	r := bs.recs[at]
	if !bs.inGroup(r) {
		// The common case first: previews and diffs are only worth their
		// cost (a JSON compaction of each payload) for a divergence.
		if bs.inflight > 1 {
			d := s.compare(r, q)
			d.Reason = analyze.ReasonConcurrent
			d.Note = fmt.Sprintf("another boundary of branch %s is in flight, and the recording made this one after it, not at the same time: the goroutines share one branch's context, so which of them gets which answer is luck; start each on its own branch (otelrr.Go, otelrr.Branch)", boundary.BranchLabel(q.Branch))
			return matched{rec: r, at: at, div: d}
		}
		if same(r) {
			return matched{rec: r, at: at}
		}
		return matched{rec: r, at: at, div: s.reordered(bs, q, s.compare(r, q))}
	}
	// r opens a group of boundaries recorded in flight together: the
	// request is one of its members not yet served, by exact request.
	first, n := -1, 0
	for i := at; i < len(bs.recs) && bs.recs[i].Group == r.Group; i++ {
		if bs.served[i] {
			continue
		}
		n++
		c := bs.recs[i]
		if !same(c) {
			continue
		}
		if first < 0 {
			first = i
			continue
		}
		if f := bs.recs[first]; c.Failed != f.Failed || c.Error != f.Error || !bytes.Equal(c.Response, f.Response) {
			d := s.compare(f, q)
			d.Reason = analyze.ReasonAmbiguous
			d.Note = fmt.Sprintf("the recording holds %s %s with this request more than once among %d boundaries made in flight together on branch %s, with different answers: which goroutine got which cannot be known; start each goroutine on its own branch (otelrr.Go, otelrr.Branch)", q.Kind, q.Name, n, boundary.BranchLabel(q.Branch))
			return matched{rec: f, at: first, div: d}
		}
	}
	if first >= 0 {
		return matched{rec: bs.recs[first], at: first}
	}
	d := s.compare(r, q)
	d.Note = fmt.Sprintf("compared with the first of %d boundaries recorded in flight together on branch %s: none of them has this request", n, boundary.BranchLabel(q.Branch))
	return matched{rec: r, at: at, div: s.reordered(bs, q, d)}
}

// reordered reclassifies d, a divergence of the request q on branch bs, as
// unbranched concurrency when the recording shows goroutines sharing the
// branch (concurrency groups) and holds this very request later on it: the
// goroutines ran in another order. It is still a divergence: nothing is
// served out of its place.
func (s *session) reordered(bs *branchState, q query, d *analyze.Divergence) *analyze.Divergence {
	if !bs.grouped {
		return d
	}
	for i := bs.cursor; i < len(bs.recs); i++ {
		if r := bs.recs[i]; !bs.served[i] && r.Kind == q.Kind && r.Name == q.Name && r.Signature == q.Signature {
			d.Reason = analyze.ReasonConcurrent
			d.Note = fmt.Sprintf("the recording has this request later on branch %s, at index %d: goroutines sharing the branch's context ran in another order, and nothing fixes their order; start each on its own branch (otelrr.Go, otelrr.Branch)", boundary.BranchLabel(q.Branch), r.Index)
			return d
		}
	}
	return d
}

// observed returns a divergence of the request q with nothing to compare
// it with, at index in its branch.
func (s *session) observed(q query, reason analyze.Reason, index int64) *analyze.Divergence {
	return &analyze.Divergence{
		Seq:               -1,
		Branch:            q.Branch,
		Index:             index,
		Reason:            reason,
		ObservedKind:      q.Kind,
		ObservedName:      q.Name,
		ObservedSignature: q.Signature,
		ObservedPreview:   analyze.Preview(q.Request, previewLen),
	}
}

// compare returns how the request q differs from the recorded boundary r:
// a kind-or-name or a signature divergence (the caller may reclassify it).
func (s *session) compare(r *boundary.Record, q query) *analyze.Divergence {
	d := s.observed(q, analyze.ReasonSignature, r.Index)
	d.Seq = r.Seq
	d.ExpectedKind, d.ExpectedName, d.ExpectedSignature = r.Kind, r.Name, r.Signature
	d.ExpectedPreview = analyze.Preview(r.Request, previewLen)
	if r.Kind != q.Kind || r.Name != q.Name {
		d.Reason = analyze.ReasonKind
		if r.Kind == q.Kind {
			d.Diff = analyze.DiffJSON(r.Request, q.Request)
		}
		return d
	}
	if r.Signature != q.Signature {
		d.Diff = analyze.DiffJSON(r.Request, q.Request)
	}
	return d
}

const previewLen = 160

// diverge records d; in strict mode it halts the session. Called with s.mu held.
func (s *session) diverge(d analyze.Divergence) *DivergenceError {
	err := &DivergenceError{Divergence: d}
	s.divergences = append(s.divergences, d)
	if s.mode == Strict {
		s.halt = err
	}
	s.writeReportLocked()
	return err
}

// Finish ends the replay: recorded boundaries the agent never requested
// become a divergence (unless strict mode already halted), and the report is
// returned (and written to the report file, if any). agentErr is the error
// the agent's run ended with, or nil.
func (s *session) Finish(agentErr error) *analyze.Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	// An agent that ends its run with the stop error did what a stop asks.
	if agentErr != nil && s.agentErr == "" && !errors.Is(agentErr, ErrStopped) {
		s.agentErr = agentErr.Error()
	}
	if !s.finished {
		s.finished = true
		if s.halt == nil && s.stop == nil && s.fork.point == nil && !s.fork.overridden {
			// A fork's tail is its own: what the recording did after the
			// fork point is not missing; nor, after an override, what the
			// recording did after it (the agent may have ended there).
			s.missingLocked()
		}
	}
	s.writeReportLocked()
	return s.reportLocked()
}

// missingLocked adds a missing-boundary divergence for each branch whose
// recorded boundaries were not all requested, in the order of the first
// one missing. Called with s.mu held.
func (s *session) missingLocked() {
	var missing []analyze.Divergence
	for b, bs := range s.branches {
		n := 0
		var first *boundary.Record
		for i, r := range bs.recs {
			if !bs.served[i] { // neither served nor used up by a divergence
				if first == nil {
					first = r
				}
				n++
			}
		}
		if first == nil {
			continue
		}
		missing = append(missing, analyze.Divergence{
			Seq:               first.Seq,
			Branch:            b,
			Index:             first.Index,
			Reason:            analyze.ReasonMissing,
			ExpectedKind:      first.Kind,
			ExpectedName:      first.Name,
			ExpectedSignature: first.Signature,
			ExpectedPreview:   analyze.Preview(first.Request, previewLen),
			Count:             n,
		})
	}
	sort.Slice(missing, func(i, j int) bool { return missing[i].Seq < missing[j].Seq })
	s.divergences = append(s.divergences, missing...)
}

// Report returns the report so far.
func (s *session) Report() *analyze.Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reportLocked()
}

func (s *session) reportLocked() *analyze.Report {
	return &analyze.Report{
		OriginalTrace:      s.rec.TraceID,
		ReplayTrace:        s.replayTrace,
		Mode:               string(s.mode),
		Recorded:           len(s.rec.Records),
		RecordingTruncated: s.rec.Truncated,
		Requested:          s.requested,
		Served:             s.served,
		Halted:             s.halt != nil,
		Finished:           s.finished,
		Divergences:        append([]analyze.Divergence{}, s.divergences...),
		AgentError:         s.agentErr,
		Stopped:            s.stoppedLocked(),
		CodeChange:         s.codeChange,
		CodeChanged:        s.codeChanged,
		Branched:           s.branched,
		Chaos:              s.chaos.describe(),
		Fork:               s.fork.point,
		Live:               s.fork.live,
		Refused:            append([]analyze.LiveRefusal(nil), s.fork.refused...),
	}
}

// SetCodeChange records in the report whether the replaying agent's build
// differs from the recorded one: desc is a sentence for people (see
// analyze.Report.CodeChange), changed whether they differ.
func (s *session) SetCodeChange(desc string, changed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codeChange, s.codeChanged = desc, changed
	s.writeReportLocked()
}

// writeReportLocked writes the report file atomically (temp file + rename),
// so a reader never sees half a report. Failures go to stderr: the report
// file is a convenience for the parent process, not the record.
func (s *session) writeReportLocked() {
	if s.reportPath == "" {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.reportPath), ".report-*")
	if err == nil {
		err = s.reportLocked().WriteJSON(tmp)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), s.reportPath)
		}
		if err != nil {
			os.Remove(tmp.Name())
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "agentrr: write replay report %s: %v\n", s.reportPath, err)
	}
}
