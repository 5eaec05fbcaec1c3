package replayer

import (
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

// Session serves one recording to one replayed run. It is safe for
// concurrent use; boundaries are matched in the order Next is called.
type Session struct {
	rec        *Recording
	mode       Mode
	reportPath string

	mu          sync.Mutex
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
func (s *Session) Next(kind boundary.Kind, name, signature string, request []byte) (rec *boundary.Record, div *analyze.Divergence, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.halt != nil {
		return nil, nil, s.halt
	}
	seq := int64(s.requested)
	s.requested++
	obs := analyze.Divergence{
		Seq:               seq,
		ObservedKind:      kind,
		ObservedName:      name,
		ObservedSignature: signature,
		ObservedPreview:   analyze.Preview(request, previewLen),
	}
	if int(seq) >= len(s.rec.Records) {
		obs.Reason = analyze.ReasonExtra
		if s.rec.Truncated {
			obs.Reason = analyze.ReasonTruncated
		}
		return nil, nil, s.diverge(obs)
	}
	r := &s.rec.Records[seq]
	obs.ExpectedKind, obs.ExpectedName, obs.ExpectedSignature = r.Kind, r.Name, r.Signature
	obs.ExpectedPreview = analyze.Preview(r.Request, previewLen)
	if r.Kind != kind || r.Name != name {
		obs.Reason = analyze.ReasonKind
		if r.Kind == kind {
			obs.Diff = analyze.DiffJSON(r.Request, request)
		}
		return nil, nil, s.diverge(obs)
	}
	if r.Signature != signature {
		obs.Reason = analyze.ReasonSignature
		obs.Diff = analyze.DiffJSON(r.Request, request)
		err := s.diverge(obs)
		if s.mode == Strict {
			return nil, nil, err
		}
		s.served++
		d := err.Divergence
		return r, &d, nil
	}
	s.served++
	return r, nil, nil
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
	if agentErr != nil && s.agentErr == "" {
		s.agentErr = agentErr.Error()
	}
	if !s.finished {
		s.finished = true
		if s.halt == nil && s.requested < len(s.rec.Records) {
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
	}
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
