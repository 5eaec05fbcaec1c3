package analyze

import "github.com/agentrr/agentrr/boundary"

// Reason classifies a divergence.
type Reason string

// The reasons a replayed boundary can diverge from its recording.
const (
	// ReasonSignature: same kind and name, different request.
	ReasonSignature Reason = "signature-mismatch"
	// ReasonKind: the agent made a different kind of boundary (or a different
	// name: another model, another tool) at this position.
	ReasonKind Reason = "kind-or-name-mismatch"
	// ReasonExtra: the agent made a boundary past the end of the recording.
	ReasonExtra Reason = "extra-boundary"
	// ReasonMissing: recorded boundaries the agent never requested.
	ReasonMissing Reason = "missing-boundary"
	// ReasonTruncated: the agent went past the end of a recording that was
	// itself cut short (the recorder was killed); the tail is unknown.
	ReasonTruncated Reason = "recording-truncated"
)

// Change is one path-level difference between two JSON payloads.
type Change struct {
	// Path locates the value, e.g. messages[0].content; "" is the root.
	Path string `json:"path"`
	// Op is "changed", "added" (only in observed) or "removed" (only in expected).
	Op string `json:"op"`
	// Expected and Observed are the JSON texts of the values (empty when absent).
	Expected string `json:"expected,omitempty"`
	Observed string `json:"observed,omitempty"`
}

// Divergence is one point where a replayed run did not match its recording.
type Divergence struct {
	Seq    int64  `json:"seq"`
	Reason Reason `json:"reason"`

	// What the recording holds at Seq (empty for ReasonExtra).
	ExpectedKind      boundary.Kind `json:"expected_kind,omitempty"`
	ExpectedName      string        `json:"expected_name,omitempty"`
	ExpectedSignature string        `json:"expected_signature,omitempty"`
	// What the agent did at Seq (empty for ReasonMissing).
	ObservedKind      boundary.Kind `json:"observed_kind,omitempty"`
	ObservedName      string        `json:"observed_name,omitempty"`
	ObservedSignature string        `json:"observed_signature,omitempty"`

	// Diff is the structural diff of the expected and observed requests.
	Diff []Change `json:"diff,omitempty"`
	// ExpectedPreview and ObservedPreview are the two requests, cut to a
	// readable length.
	ExpectedPreview string `json:"expected_preview,omitempty"`
	ObservedPreview string `json:"observed_preview,omitempty"`

	// Count is the number of boundaries this divergence stands for (more than
	// one for a missing tail).
	Count int `json:"count,omitempty"`
}

// Report is the outcome of one replay.
type Report struct {
	// OriginalTrace is the trace id of the recording replayed.
	OriginalTrace string `json:"original_trace"`
	// ReplayTrace is the trace id of the replayed run, itself recorded.
	ReplayTrace string `json:"replay_trace,omitempty"`
	// Mode is "strict" or "observe".
	Mode string `json:"mode"`
	// Recorded is the number of boundaries in the recording.
	Recorded int `json:"recorded"`
	// RecordingTruncated is true when the recording was cut short (its
	// recorder was killed): it is a prefix of a run.
	RecordingTruncated bool `json:"recording_truncated"`
	// Requested is the number of boundaries the agent made during replay.
	Requested int `json:"requested"`
	// Served is the number of boundaries answered from the recording.
	Served int `json:"served"`
	// Halted is true when strict mode stopped the run at a divergence.
	Halted bool `json:"halted"`
	// Finished is true when the agent ended its run (Run.End) during replay.
	Finished bool `json:"finished"`
	// Divergences lists every divergence found, in order of seq.
	Divergences []Divergence `json:"divergences"`
	// AgentError is the error the agent's run ended with, if any.
	AgentError string `json:"agent_error,omitempty"`
}

// Faithful reports whether the replay reproduced the recording exactly.
func (r *Report) Faithful() bool { return len(r.Divergences) == 0 }

// Verdict is "faithful" or "diverged".
func (r *Report) Verdict() string {
	if r.Faithful() {
		return "faithful"
	}
	return "diverged"
}
