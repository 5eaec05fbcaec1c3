package replayer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/replaylink"
)

// answer is what the session says about a boundary.
type answer = replaylink.Answer

// Forking: replay exactly up to a point, then go on live.
//
// A fork replays a recording strictly, as Replay does, up to its fork
// point, and from there on every boundary runs live — the LLM is called,
// the clock read, ids drawn — and is recorded into the fork's run, which
// links to the original. The fork point is the first boundary the agent
// asks for (on any branch) that the recording does not serve:
//
//   - ForkAt(seq): the first boundary recorded at or after seq (as `agentrr
//     show` numbers them), or past the end of the recording;
//   - ContinueLive: the first divergence (the agent was changed: an edited
//     prompt, another model) — replay is exact up to it, live after;
//   - after an Override has been served, the first boundary that no longer
//     matches the recording (the agent took another path).
//
// A divergence before any of these is reported, and halts, as in a replay.
// Tool boundaries (and HTTP exchanges other than recognised LLM calls, and
// MCP requests other than tool calls: a server connection, a resource
// read) may have side effects: after the fork point they run live only when allowed by
// name (LiveTools) or all together (AllLiveTools); a call that is not
// allowed returns a *LiveRefusedError and the tool does not run.

// Override is a response (or error) served at one recorded boundary instead
// of the recorded one: "what if the tool had returned this?".
type Override struct {
	// Response is the JSON response to serve; Error, when not empty, makes
	// the boundary fail with this text instead.
	Response json.RawMessage `json:"response,omitempty"`
	Error    string          `json:"error,omitempty"`
}

// ParseOverride reads an override file: {"response": <JSON>} or
// {"error": "text"}.
func ParseOverride(data []byte) (Override, error) {
	var o Override
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return o, fmt.Errorf(`an override is a JSON object {"response": <the answer as JSON>} or {"error": "<error text>"}: %w`, err)
	}
	if (len(o.Response) == 0) == (o.Error == "") {
		return o, errors.New(`an override holds exactly one of "response" and "error"`)
	}
	if len(o.Response) > 0 {
		c, err := boundary.CanonicalizeJSON(o.Response)
		if err != nil {
			return o, fmt.Errorf("override response: %w", err)
		}
		o.Response = c
	}
	return o, nil
}

// ForkAt forks the replay at seq: boundaries recorded before seq are
// served, the first one the agent asks for that was recorded at or after
// seq (or past the end of the recording) runs live, and so does everything
// after it.
func ForkAt(seq int64) Option {
	return func(s *session) { s.fork.enabled, s.fork.at, s.fork.hasAt = true, seq, true }
}

// ContinueLive makes the replay go on live from its first divergence
// instead of halting there.
func ContinueLive() Option {
	return func(s *session) { s.fork.enabled, s.fork.continueLive = true, true }
}

// WithOverride serves o at the boundary recorded at seq instead of its
// recorded answer, when the agent asks for that boundary as recorded; the
// replay then forks at the first boundary that no longer matches.
func WithOverride(seq int64, o Override) Option {
	return func(s *session) {
		s.fork.enabled = true
		if s.fork.overrides == nil {
			s.fork.overrides = map[int64]Override{}
		}
		s.fork.overrides[seq] = o
	}
}

// LiveTools lets the named tools (or HTTP exchanges, named "METHOD /path")
// run live after the fork point.
func LiveTools(names ...string) Option {
	return func(s *session) {
		if s.fork.liveTools == nil {
			s.fork.liveTools = map[string]bool{}
		}
		for _, n := range names {
			s.fork.liveTools[n] = true
		}
	}
}

// AllLiveTools lets every tool and HTTP exchange run live after the fork
// point.
func AllLiveTools() Option { return func(s *session) { s.fork.allTools = true } }

// ErrLiveRefused matches, with errors.Is, a *LiveRefusedError.
var ErrLiveRefused = errors.New("live call not allowed")

// LiveRefusedError is returned by a boundary after the fork point that
// would run a tool (or an HTTP exchange) live without being allowed to:
// nothing was called.
type LiveRefusedError struct {
	Kind boundary.Kind
	Name string
}

func (e *LiveRefusedError) Error() string {
	return fmt.Sprintf("agentrr: fork: %s %s would run live after the fork point, and may have side effects: it was not called (allow it with --live-tool %q, or every tool with --live-tools; in-process: replayer.LiveTools, AllLiveTools)", e.Kind, e.Name, e.Name)
}

// Is reports whether target is ErrLiveRefused.
func (e *LiveRefusedError) Is(target error) bool { return target == ErrLiveRefused }

// forkState is a session's fork settings and where it stands.
type forkState struct {
	enabled      bool
	at           int64
	hasAt        bool
	continueLive bool
	overrides    map[int64]Override
	liveTools    map[string]bool
	allTools     bool

	overridden bool                  // an override was served
	point      *analyze.ForkPoint    // where the replay forked; nil before
	live       int                   // boundaries run live
	refused    []analyze.LiveRefusal // boundaries not allowed to run live
}

// CheckOptions says what is wrong with opts for replaying rec: a fork point
// or an override that names no boundary of it. Replay checks them too,
// before running the agent; a command checks them before starting one.
func CheckOptions(rec *Recording, opts ...Option) error {
	return newSession(rec, opts...).Check()
}

// Check says what is wrong with the session's options.
func (s *session) Check() error { return s.fork.check(s.rec) }

// check says what is wrong with the fork settings for rec: an override or
// fork point that names no boundary of it.
func (f *forkState) check(rec *Recording) error {
	n := int64(len(rec.Records))
	if f.hasAt && (f.at < 0 || f.at >= n) {
		return fmt.Errorf("fork point seq %d is not a boundary of run %s (it has seq 0..%d): fork at one of them", f.at, rec.TraceID, n-1)
	}
	for seq := range f.overrides {
		if seq < 0 || seq >= n {
			return fmt.Errorf("override for seq %d: run %s has no such boundary (it has seq 0..%d)", seq, rec.TraceID, n-1)
		}
		if f.hasAt && seq >= f.at {
			return fmt.Errorf("override for seq %d is at or after the fork point (seq %d): it would never be served", seq, f.at)
		}
	}
	return nil
}

// allowed reports whether a boundary of kind and name may run live.
func (f *forkState) allowed(kind boundary.Kind, name string) bool {
	switch kind {
	case boundary.KindTool, boundary.KindHTTP, boundary.KindMCP:
		return f.allTools || f.liveTools[name]
	}
	return true
}

// forkLocked decides what the fork does with the boundary q, matched as m
// on branch bs: ok is false when the fork leaves it to the replay (served
// or diverging as usual). Otherwise it returns the answer: live, refused,
// or an override to serve. Called with s.mu held.
func (s *session) forkLocked(bs *branchState, q query, m matched) (a answer, ok bool) {
	f := &s.fork
	if !f.enabled {
		return a, false
	}
	if f.point == nil {
		reason := ""
		switch {
		case f.hasAt && (m.rec == nil || m.rec.Seq >= f.at):
			reason = fmt.Sprintf("at seq %d", f.at)
			if m.rec == nil {
				reason = fmt.Sprintf("at seq %d (past the end of the recording)", f.at)
			}
		case m.div != nil && f.continueLive:
			reason = "continue live after the first divergence"
		case m.div != nil && f.overridden:
			reason = "the first boundary that no longer matches after an override"
		case m.div != nil && (m.div.Reason == analyze.ReasonExtra || m.div.Reason == analyze.ReasonTruncated):
			reason = "past the end of the recording"
		}
		if reason == "" {
			if m.div == nil && m.rec != nil {
				if o, ok := f.overrides[m.rec.Seq]; ok {
					f.overridden = true
					over := *m.rec
					over.Response, over.Failed, over.Error = o.Response, o.Error != "", o.Error
					if over.Failed {
						over.Response = nil
					}
					over.ErrorIs, over.ErrorTimeout, over.ErrorClassified = nil, false, true
					s.serve(bs, m.at)
					return answer{Rec: &over, Overridden: true}, true
				}
			}
			return a, false
		}
		p := &analyze.ForkPoint{Seq: -1, Branch: q.Branch, Index: int64(bs.requested), Reason: reason, Kind: q.Kind, Name: q.Name}
		if m.rec != nil {
			p.Seq, p.Index = m.rec.Seq, m.rec.Index
		}
		if m.div != nil && m.div.Reason != analyze.ReasonExtra && m.div.Reason != analyze.ReasonTruncated {
			d := *m.div
			p.Divergence = &d
		}
		f.point = p
		s.writeReportLocked()
	}
	if !f.allowed(q.Kind, q.Name) {
		f.refused = append(f.refused, analyze.LiveRefusal{Branch: q.Branch, Index: int64(bs.requested), Kind: q.Kind, Name: q.Name})
		// The parent learns of it even if the agent then exits abruptly.
		s.writeReportLocked()
		return answer{Err: &LiveRefusedError{Kind: q.Kind, Name: q.Name}}, true
	}
	f.live++
	return answer{Live: true}, true
}
