package replayer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
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

// Option configures a Session.
type Option func(*Session)

// WithMode sets the replay mode (Strict by default).
func WithMode(m Mode) Option { return func(s *Session) { s.mode = m } }

// WithReportFile makes the session write its report, as JSON, to path after
// every divergence and when the run ends, so a parent process learns the
// outcome even if the agent exits abruptly after a divergence.
func WithReportFile(path string) Option { return func(s *Session) { s.reportPath = path } }

// WithUntilSeq makes the session serve boundaries 0..seq only: when the
// agent asks for boundary seq+1 the replay stops. That request is neither
// served nor matched as a divergence; it is described in the report
// (analyze.Report.Stopped), and the boundary call returns a *StopError
// (errors.Is(err, ErrStopped)), as does every later one, so the agent winds
// down. A negative seq stops before the first boundary. When the agent
// ends its run before seq+1, or seq+1 is past the end of the recording,
// the replay ends as usual (a boundary past the end is a divergence).
func WithUntilSeq(seq int64) Option {
	return func(s *Session) { s.until, s.hasUntil = seq, true }
}

// WithStepper makes the session call step before each boundary it serves,
// with the boundary the agent asks for, what the recording holds there and
// whether they match, and act on the answer (see Action). Boundary calls
// wait while step runs; concurrent boundaries are stepped one at a time.
// If step returns an error the replay stops as for Quit, with the error in
// the stop reason.
func WithStepper(step Stepper) Option { return func(s *Session) { s.stepper = step } }

// Session serves one recording to one replayed run. It is safe for
// concurrent use; boundaries are matched in the order Next is called.
type Session struct {
	rec        *Recording
	mode       Mode
	reportPath string
	until      int64
	hasUntil   bool
	stepper    Stepper

	// stepMu serializes Next while a stepper is set, so that steps are
	// shown one at a time and mu is not held while the stepper waits.
	stepMu sync.Mutex

	mu          sync.Mutex
	stop        *StopError
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

// NewSession returns a session serving rec.
func NewSession(rec *Recording, opts ...Option) *Session {
	s := &Session{rec: rec, mode: Strict}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Recording returns the recording being served.
func (s *Session) Recording() *Recording { return s.rec }

// Mode returns the replay mode.
func (s *Session) Mode() Mode { return s.mode }

// Begin binds the session to the replayed run's trace id. A session replays
// one run: a second Begin fails.
func (s *Session) Begin(replayTrace string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return fmt.Errorf("agentrr: this replay (of %s) already serves run %s; a replay serves exactly one run", s.rec.TraceID, s.replayTrace)
	}
	s.started = true
	s.replayTrace = replayTrace
	return nil
}

// Next matches the agent's next boundary against the recording.
//
// It returns the recorded boundary to serve, and a nil error, when it
// matches. On a divergence it returns a *DivergenceError, except in observe
// mode when kind and name agree: then it serves the recorded boundary and
// reports the divergence in div. In strict mode, once a divergence has been
// returned, every later call returns the same error.
//
// When the replay was stopped (WithUntilSeq, WithStepper) it returns a
// *StopError instead, for this call and every later one.
func (s *Session) Next(kind boundary.Kind, name, signature string, request []byte) (rec *boundary.Record, div *analyze.Divergence, err error) {
	if s.stepper != nil {
		s.stepMu.Lock()
		defer s.stepMu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.halt != nil {
		return nil, nil, s.halt
	}
	if s.stop != nil {
		return nil, nil, s.stop
	}
	seq := int64(s.requested)
	if s.hasUntil && seq > s.until && int(seq) < len(s.rec.Records) {
		return nil, nil, s.stopLocked(fmt.Sprintf("until seq %d", s.until), seq, kind, name, signature, request)
	}
	if s.stepper != nil && !s.continuing {
		if err := s.stepLocked(seq, kind, name, signature, request); err != nil {
			return nil, nil, err
		}
	}
	s.requested++
	r, d := s.match(seq, kind, name, signature, request)
	switch {
	case d == nil:
		s.served++
		return r, nil, nil
	case d.Reason == analyze.ReasonSignature && s.mode == Observe:
		s.diverge(*d)
		s.served++
		return r, d, nil
	}
	return nil, nil, s.diverge(*d)
}

// match compares the boundary the agent makes at seq with the recording.
// It returns the recorded boundary at seq (nil past the end) and, when they
// differ, the divergence. It changes nothing. Called with s.mu held.
func (s *Session) match(seq int64, kind boundary.Kind, name, signature string, request []byte) (*boundary.Record, *analyze.Divergence) {
	// The common case first: previews and diffs are only worth their cost
	// (a JSON compaction of each payload) for a divergence.
	if seq >= 0 && int(seq) < len(s.rec.Records) {
		if r := &s.rec.Records[seq]; r.Kind == kind && r.Name == name && r.Signature == signature {
			return r, nil
		}
	}
	obs := analyze.Divergence{
		Seq:               seq,
		ObservedKind:      kind,
		ObservedName:      name,
		ObservedSignature: signature,
		ObservedPreview:   analyze.Preview(request, previewLen),
	}
	if seq < 0 || int(seq) >= len(s.rec.Records) {
		obs.Reason = analyze.ReasonExtra
		if s.rec.Truncated {
			obs.Reason = analyze.ReasonTruncated
		}
		return nil, &obs
	}
	r := &s.rec.Records[seq]
	obs.ExpectedKind, obs.ExpectedName, obs.ExpectedSignature = r.Kind, r.Name, r.Signature
	obs.ExpectedPreview = analyze.Preview(r.Request, previewLen)
	if r.Kind != kind || r.Name != name {
		obs.Reason = analyze.ReasonKind
		if r.Kind == kind {
			obs.Diff = analyze.DiffJSON(r.Request, request)
		}
		return r, &obs
	}
	if r.Signature != signature {
		obs.Reason = analyze.ReasonSignature
		obs.Diff = analyze.DiffJSON(r.Request, request)
		return r, &obs
	}
	return r, nil
}

const previewLen = 160

// diverge records d; in strict mode it halts the session. Called with s.mu held.
func (s *Session) diverge(d analyze.Divergence) *DivergenceError {
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
func (s *Session) Finish(agentErr error) *analyze.Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	// An agent that ends its run with the stop error did what a stop asks.
	if agentErr != nil && s.agentErr == "" && !errors.Is(agentErr, ErrStopped) {
		s.agentErr = agentErr.Error()
	}
	if !s.finished {
		s.finished = true
		if s.halt == nil && s.stop == nil && s.requested < len(s.rec.Records) {
			r := &s.rec.Records[s.requested]
			s.divergences = append(s.divergences, analyze.Divergence{
				Seq:               int64(s.requested),
				Reason:            analyze.ReasonMissing,
				ExpectedKind:      r.Kind,
				ExpectedName:      r.Name,
				ExpectedSignature: r.Signature,
				ExpectedPreview:   analyze.Preview(r.Request, previewLen),
				Count:             len(s.rec.Records) - s.requested,
			})
		}
	}
	s.writeReportLocked()
	return s.reportLocked()
}

// Report returns the report so far.
func (s *Session) Report() *analyze.Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reportLocked()
}

func (s *Session) reportLocked() *analyze.Report {
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
	}
}

// SetCodeChange records in the report whether the replaying agent's build
// differs from the recorded one: desc is a sentence for people (see
// analyze.Report.CodeChange), changed whether they differ.
func (s *Session) SetCodeChange(desc string, changed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codeChange, s.codeChanged = desc, changed
	s.writeReportLocked()
}

// writeReportLocked writes the report file atomically (temp file + rename),
// so a reader never sees half a report. Failures go to stderr: the report
// file is a convenience for the parent process, not the record.
func (s *Session) writeReportLocked() {
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
