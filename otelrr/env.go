package otelrr

// Environment variables read by the agentrr packages. `agentrr replay` sets
// the AGENTRR_REPLAY* variables for the agent process it starts; FromEnv
// reads them.
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
)
