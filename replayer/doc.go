// Package replayer serves a recorded run back to the agent that made it.
//
// Matching is sequence-primary and signature-validated: the n-th boundary the
// agent makes during replay is matched to recorded boundary n, and its kind,
// name and signature (a hash of the canonical request) must agree. There is
// no fuzzy search: a boundary that does not match is a divergence.
//
// In strict mode (the default) the first divergence halts the replay: the
// boundary call returns a *DivergenceError, and so does every later boundary
// call, so an agent that swallows errors still cannot drive past it. In
// observe mode replay never halts: every divergence is collected, and the
// recorded response is served whenever kind and name agree.
//
// The recorded answers are served by the otelrr boundary helpers, which
// consult the [Session] found in the run's context. [Replay] runs an agent
// function in-process against a recording, so a recorded failure becomes an
// ordinary go test. The agentrr CLI puts a child process into replay mode
// through environment variables read by otelrr.FromEnv.
//
// A replay can also be stopped on request: [WithUntilSeq] serves boundaries
// 0..N and stops the agent at N+1, and [WithStepper] asks a [Stepper]
// before each boundary whether to serve it, go on without asking, or quit
// (`agentrr step` answers over a unix socket). The boundary call at the
// stop returns a [*StopError] (errors.Is(err, ErrStopped)); the report
// describes the pending boundary in analyze.Report.Stopped, and a stop is
// not a divergence.
package replayer
