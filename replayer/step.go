package replayer

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
)

// Step is a boundary the agent asks for, shown to a Stepper before it is
// served. It is also the message `agentrr step` receives from the agent
// process, one JSON object per line (see StepReply).
type Step struct {
	// Recording is the trace id of the run being replayed.
	Recording string `json:"recording"`
	// Total is the number of boundaries in the recording.
	Total int `json:"total"`
	// Seq is the recorded seq of the boundary the agent asks for (-1 past
	// the end of its branch's recording); Branch and Index are its
	// identity: its branch path ("" for the root) and position in the branch.
	Seq    int64  `json:"seq"`
	Branch string `json:"branch,omitempty"`
	Index  int64  `json:"index"`
	// Kind and Name are what the agent asks for.
	Kind boundary.Kind `json:"kind"`
	Name string        `json:"name"`
	// Request is the agent's request, canonical JSON.
	Request json.RawMessage `json:"request"`
	// Recorded is the recording's boundary at Seq; nil past its end.
	Recorded *RecordedBoundary `json:"recorded,omitempty"`
	// Divergence is how the agent's boundary differs from Recorded; nil
	// when it matches and Recorded's answer will be served.
	Divergence *analyze.Divergence `json:"divergence,omitempty"`
}

// RecordedBoundary is a boundary as the recording holds it.
type RecordedBoundary struct {
	Kind    boundary.Kind   `json:"kind"`
	Name    string          `json:"name"`
	Request json.RawMessage `json:"request"`
	// Response is the recorded answer (canonical JSON); absent when the
	// recorded call failed.
	Response json.RawMessage `json:"response,omitempty"`
	// Error is the recorded call's error text when it failed.
	Error string `json:"error,omitempty"`
}

// Action is what a Stepper tells the session to do with a step.
type Action string

// Stepper actions.
const (
	// Next serves this boundary and steps again at the next one.
	Next Action = "next"
	// Continue serves this boundary and every later one without stepping.
	Continue Action = "continue"
	// Quit stops the replay here, as WithUntilSeq does: this boundary is
	// not served, and the boundary call returns a *StopError.
	Quit Action = "quit"
)

// ParseAction parses an action by name or first letter ("n", "c", "q");
// the empty string is Next.
func ParseAction(s string) (Action, error) {
	switch s {
	case "", "n", string(Next):
		return Next, nil
	case "c", string(Continue):
		return Continue, nil
	case "q", string(Quit):
		return Quit, nil
	}
	return "", fmt.Errorf("unknown step action %q (want next, continue or quit: n, c, q)", s)
}

// Stepper decides, before a boundary is served, whether the replay goes on.
// See WithStepper.
type Stepper func(Step) (Action, error)

// ErrStopped matches, with errors.Is, the error a boundary call returns
// once a replay was stopped on request (WithUntilSeq, Quit).
var ErrStopped = errors.New("replay stopped")

// StopError is returned by the boundary call at which a replay was stopped
// on request, and by every later one.
type StopError struct {
	analyze.Stop
}

func (e *StopError) Error() string {
	at := fmt.Sprintf("seq %d", e.Seq)
	if e.Seq < 0 {
		at = "the end of the recording"
	}
	if e.Branch != boundary.RootBranch {
		at += " (branch " + boundary.Position(e.Branch, e.Index) + ")"
	}
	return fmt.Sprintf("agentrr: replay stopped before %s (%s): the agent's %s %s was not served", at, e.Reason, e.Kind, e.Name)
}

// Is reports whether target is ErrStopped.
func (e *StopError) Is(target error) bool { return target == ErrStopped }

// stepLocked shows the boundary q, matched as m, to the stepper, with s.mu
// released while it runs, and acts on its answer: nil to serve the
// boundary, or the *StopError of a Quit. Called with s.mu and s.stepMu held.
func (s *session) stepLocked(q query, m matched) error {
	p := s.pendingLocked(q, m)
	st := Step{
		Recording:  s.rec.TraceID,
		Total:      len(s.rec.Records),
		Seq:        p.Seq,
		Branch:     p.Branch,
		Index:      p.Index,
		Kind:       p.Kind,
		Name:       p.Name,
		Request:    p.Request,
		Divergence: p.Divergence,
	}
	if r := m.rec; r != nil {
		st.Recorded = &RecordedBoundary{Kind: r.Kind, Name: r.Name, Request: rawJSON(r.Request), Error: r.Error}
		if !r.Failed {
			st.Recorded.Response = rawJSON(r.Response)
		}
	} else if !s.branched && q.Branch == boundary.RootBranch {
		st.Seq = st.Index
	}
	s.mu.Unlock()
	act, err := s.stepper(st)
	s.mu.Lock()
	if err == nil {
		switch act {
		case Next:
			return nil
		case Continue:
			s.continuing = true
			return nil
		case Quit:
			s.quit = true
			return s.stopLocked("quit while stepping", q, m)
		default:
			err = fmt.Errorf("unknown step action %q", act)
		}
	}
	s.quit = true
	return s.stopLocked("stepping failed: "+err.Error(), q, m)
}

// stopLocked stops the replay before the boundary q, matched as m, and
// returns the stop error. Once stopped, every later stop returns the first
// stop's error, which the report shows. Called with s.mu held.
func (s *session) stopLocked(reason string, q query, m matched) *StopError {
	if s.stop != nil {
		return s.stop
	}
	st := &StopError{Stop: s.pendingLocked(q, m)}
	st.Reason = reason
	s.stop = st
	s.writeReportLocked()
	return st
}

// pendingLocked is the boundary q, matched as m, that the agent is about
// to make: its identity (the recorded seq and index when the recording
// has it, else seq -1 and its index in its branch), what it asks for, and
// how it differs from the recording. Reason is left for the caller. Called
// with s.mu held.
func (s *session) pendingLocked(q query, m matched) analyze.Stop {
	p := analyze.Stop{
		Seq:        -1,
		Branch:     q.Branch,
		Index:      int64(s.branches[q.Branch].requested),
		Kind:       q.Kind,
		Name:       q.Name,
		Request:    rawJSON(q.Request),
		Divergence: m.div,
	}
	if m.rec != nil {
		p.Seq, p.Index = m.rec.Seq, m.rec.Index
	}
	return p
}

// stoppedLocked returns a copy of the stop for a report, or nil.
func (s *session) stoppedLocked() *analyze.Stop {
	if s.stop == nil {
		return nil
	}
	st := s.stop.Stop
	return &st
}

// rawJSON returns b as a json.RawMessage that marshals: nil when b is not
// valid JSON (a recorded payload always is; this guards the report).
func rawJSON(b []byte) json.RawMessage {
	if len(b) == 0 || !json.Valid(b) {
		return nil
	}
	return json.RawMessage(b)
}
