package replayer

import (
	"context"

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
