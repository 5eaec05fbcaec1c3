package replayer

import (
	"context"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/replaylink"
)

// The replay engine, for the package's tests.
type (
	Session = session
	Query   = replaylink.Query
)

// NewSession returns a session serving rec.
var NewSession = newSession

// SessionFromContext returns the session replayer.Replay put in ctx.
func SessionFromContext(ctx context.Context) replaylink.Session { return replaylink.FromContext(ctx) }

// Next3 is Next with the answer split as the tests read it: the record
// served, a divergence found while serving, the error.
func (s *session) Next3(q replaylink.Query) (*boundary.Record, *analyze.Divergence, error) {
	a := s.Next(q)
	return a.Rec, a.Div, a.Err
}

// Answer is what Next says.
type Answer = replaylink.Answer
