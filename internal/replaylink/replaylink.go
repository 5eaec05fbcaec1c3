// Package replaylink is how otelrr drives a replay without the replayer
// exporting its engine: replayer's session implements Session, replayer
// sets NewSession when it is initialised, and replayer.Replay puts the
// session it creates in the agent's context (WithSession). Nothing here is
// API.
package replaylink

import (
	"context"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/spanlog"
)

// Session is a replay of one recording serving one run, as the boundary
// helpers drive it (see replayer's session for the contract of each
// method).
type Session interface {
	// Original describes the recording served.
	Original() Original
	// Check says what is wrong with the session's options for its
	// recording (a fork point or override naming no boundary).
	Check() error
	// Mode is "strict", "observe", or "fork" (strict up to a fork point,
	// then live).
	Mode() string
	// Begin starts the replayed run; a second Begin fails.
	Begin() error
	// SetReplayTrace records the run id of the replayed run.
	SetReplayTrace(id string)
	// SetCodeChange records whether the agent's build changed.
	SetCodeChange(desc string, changed bool)
	// ReplayStore is where the replayed run is recorded (nil: the agent's
	// own store).
	ReplayStore() *spanlog.Store
	// Next matches the next boundary of a branch; Release ends its flight.
	Next(q Query) Answer
	// Forked reports whether the replay has passed its fork point: every
	// boundary now runs live.
	Forked() bool
	Release(branch string)
	// BranchRecords returns the recorded boundaries of a branch by index.
	BranchRecords(branch string) []*boundary.Record
	// Report is the report so far; Finish ends the replay and returns it.
	Report() *analyze.Report
	Finish(agentErr error) *analyze.Report
}

// Original describes the recording a session serves.
type Original struct {
	// ID is its run id, Resource its resource attributes.
	ID       string
	Resource map[string]string
	// First is its first boundary (nil when it has none).
	First *boundary.Record
}

// Query is a boundary the agent makes, as the session matches it.
type Query struct {
	// Branch is the path of the branch making the boundary ("" for the root).
	Branch    string
	Kind      boundary.Kind
	Name      string
	Signature string
	// Request is the canonical JSON request.
	Request []byte
}

// NewSession returns a session serving rec (a *replayer.Recording) with
// opts (a []replayer.Option). replayer sets it when it is initialised.
var NewSession func(rec, opts any) Session

type sessionKey struct{}

// WithSession returns a context carrying s: otelrr's StartRun, given such
// a context, replays the run from s instead of recording a fresh one.
func WithSession(ctx context.Context, s Session) context.Context {
	return context.WithValue(ctx, sessionKey{}, s)
}

// FromContext returns the session ctx carries, or nil.
func FromContext(ctx context.Context) Session {
	s, _ := ctx.Value(sessionKey{}).(Session)
	return s
}

type testKey struct{}

// WithinTest marks a replay started from a go test (rrtest): the replaying
// binary is a test binary, not the agent's own, so a different executable
// says nothing about the agent's code.
func WithinTest(ctx context.Context) context.Context {
	return context.WithValue(ctx, testKey{}, true)
}

// IsWithinTest reports whether ctx was marked by WithinTest.
func IsWithinTest(ctx context.Context) bool {
	v, _ := ctx.Value(testKey{}).(bool)
	return v
}

// Answer is what the session says about a boundary the agent asks for.
type Answer struct {
	// Rec is the recorded boundary to serve (with an override's answer in
	// place of the recorded one when Overridden); nil when nothing is
	// served.
	Rec        *boundary.Record
	Overridden bool
	// Div is a divergence found while serving anyway (observe mode).
	Div *analyze.Divergence
	// Err is the error the boundary returns instead of an answer (a
	// divergence, a stop, a live call refused).
	Err error
	// Live is true after the fork point: the boundary runs live, as when
	// recording, and nothing is served.
	Live bool
}
