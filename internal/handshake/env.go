// Package handshake names the environment variables through which the
// agentrr command hands a replay (or a recording session) to the agent
// process it starts, and otelrr.FromEnv reads them back. Both sides use
// these names, and nothing else does: they are not API.
package handshake

// Environment variables read by the agentrr packages. `agentrr replay` sets
// the AGENTRR_REPLAY* variables for the agent process it starts;
// otelrr.FromEnv reads them.
const (
	// EnvStore is the store directory (default .agentrr in the working
	// directory). Always read, with or without FromEnv.
	EnvStore = "AGENTRR_STORE"
	// EnvReplay is the trace id (or unique prefix) of the run to replay.
	EnvReplay = "AGENTRR_REPLAY"
	// EnvReplayMode is strict (default) or observe.
	EnvReplayMode = "AGENTRR_REPLAY_MODE"
	// EnvReplayReport is a file the replay report is written to, as JSON,
	// after each divergence and when the run ends.
	EnvReplayReport = "AGENTRR_REPLAY_REPORT"
	// EnvReplayUntil is a seq N: the replay serves boundaries 0..N and
	// stops the agent when it asks for N+1 (see replayer.WithUntilSeq).
	// Set by `agentrr replay --until-seq`.
	EnvReplayUntil = "AGENTRR_REPLAY_UNTIL"
	// EnvReplayChaos is a seed (an unsigned integer): the replay perturbs
	// the agent's scheduling with it (see replayer.WithChaos). Set by
	// `agentrr replay --chaos`.
	EnvReplayChaos = "AGENTRR_REPLAY_CHAOS"
	// EnvReplayForkAt is a seq: the replay forks there (replayer.ForkAt).
	// EnvReplayContinueLive, when "1", makes it go on live from its first
	// divergence (replayer.ContinueLive). EnvReplayOverrides is a JSON file
	// mapping recorded seqs to replayer.Override values
	// (replayer.WithOverride). EnvReplayLiveTools names the tools allowed
	// to run live after the fork point, comma-separated, or "*" for all.
	// Set by `agentrr fork` and `agentrr replay --continue-live`.
	EnvReplayForkAt       = "AGENTRR_REPLAY_FORK_AT"
	EnvReplayContinueLive = "AGENTRR_REPLAY_CONTINUE_LIVE"
	EnvReplayOverrides    = "AGENTRR_REPLAY_OVERRIDES"
	EnvReplayLiveTools    = "AGENTRR_REPLAY_LIVE_TOOLS"
	// EnvReplayStep is the path of the unix socket `agentrr step` listens
	// on: before each boundary the replaying agent sends the step (a
	// replayer.Step, one JSON line) and waits for the answer (a
	// replayer.StepReply line).
	EnvReplayStep = "AGENTRR_REPLAY_STEP"
	// EnvReplayFile is an OTLP JSON file holding the recording named by
	// AGENTRR_REPLAY, for a trace that is not in the store (fetched from
	// Jaeger, or exported by a Collector). Set by `agentrr replay --jaeger`
	// and `--from-file`.
	EnvReplayFile = "AGENTRR_REPLAY_FILE"
	// EnvForwardPayloadLimit is the forwarding payload limit in bytes (see
	// ForwardPayloadLimit), read by FromEnv when it turns forwarding on.
	EnvForwardPayloadLimit = "AGENTRR_FORWARD_PAYLOAD_LIMIT"
)

// StepReply is the answer to a replayer.Step on the `agentrr step` control
// channel (EnvReplayStep): one JSON object per line, {"action":"next"}.
// Error, if not empty, asks the agent to stop with that message.
type StepReply struct {
	Action string `json:"action"`
	Error  string `json:"error,omitempty"`
}
