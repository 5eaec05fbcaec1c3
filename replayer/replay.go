package replayer

import (
	"context"
	"errors"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/internal/replaylink"
)

// Replay runs agent against the recording, in-process, and returns the
// replay report. The agent is the same code that made the recording: it
// builds its otelrr tracer provider as usual and starts its run with
// StartRun on a context derived from the one it is given; the boundary
// helpers then serve recorded answers instead of calling out.
//
// Replay returns an error only when the replay could not take place (the
// agent never started a run); divergences are in the report
// (report.Faithful() is false), and the agent's own error is in
// report.AgentError.
func Replay(ctx context.Context, rec *Recording, agent func(ctx context.Context) error, opts ...Option) (*analyze.Report, error) {
	s := newSession(rec, opts...)
	if err := s.Check(); err != nil {
		return nil, err
	}
	agentErr := agent(replaylink.WithSession(ctx, s))
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if !started {
		if agentErr != nil {
			return nil, agentErr
		}
		return nil, errors.New("agentrr: the agent never started a run (it must call StartRun with the context Replay gives it)")
	}
	return s.Finish(agentErr), nil
}
