package analyze

import (
	"encoding/json"

	"github.com/agentrr/agentrr/boundary"
)

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
	// ReasonConcurrent: the agent made this boundary while another boundary
	// of the same branch was in flight, where the recording has them one
	// after the other: goroutines share a branch, and which one gets which
	// answer would be luck.
	ReasonConcurrent Reason = "unbranched-concurrency"
	// ReasonVersion: a version marker (otelrr.Version) whose recorded
	// version is older than the agent supports.
	ReasonVersion Reason = "version-unsupported"
	// ReasonAmbiguous: the recording holds this request more than once
	// among boundaries made in flight together on one branch, with
	// different answers; which goroutine got which is not known.
	ReasonAmbiguous Reason = "ambiguous-concurrency"
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
	// Seq is the recorded seq of the boundary compared (the first one
	// missing, for ReasonMissing); -1 past the end of a branch of a
	// branched recording. In a recording with one branch, a boundary past
	// its end has the seq it would have had.
	Seq int64 `json:"seq"`
	// Branch and Index are the boundary's identity: the path of the branch
	// ("" for the root) and the position in the branch.
	Branch string `json:"branch,omitempty"`
	Index  int64  `json:"index"`
	Reason Reason `json:"reason"`
	// Note explains a divergence further, when its reason alone does not.
	Note string `json:"note,omitempty"`

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
	// Stopped is set when the replay was stopped on request before the run
	// ended (`agentrr replay --until-seq`, quit in `agentrr step`): the
	// boundaries before Stopped.Seq were replayed, the one at Stopped.Seq
	// is pending. A stop is not a divergence: a stopped replay is faithful
	// when the boundaries it replayed were.
	Stopped *Stop `json:"stopped,omitempty"`
	// CodeChange says, in one sentence, whether the replaying agent's build
	// differs from the recorded one (VCS revision and modified flag, else
	// the executable's SHA-256), e.g. "agent code changed since recording:
	// 1a2b3c4d5e6f (modified) → 9f8e7d6c5b4a". Empty when unknown.
	CodeChange string `json:"code_change,omitempty"`
	// CodeChanged is true when CodeChange reports a difference.
	CodeChanged bool `json:"code_changed,omitempty"`
	// Branched is true when the recording has branches besides the root.
	Branched bool `json:"branched,omitempty"`
	// Chaos describes the chaos-mode perturbation of the replay ("seed
	// 42"); empty without chaos.
	Chaos string `json:"chaos,omitempty"`
	// Fork is where a fork (or a replay continued live) left the
	// recording; nil when it did not. Live counts the boundaries run live
	// after it.
	Fork *ForkPoint `json:"fork,omitempty"`
	Live int        `json:"live,omitempty"`
	// Refused lists the boundaries after the fork point that would have
	// run a tool (or an HTTP exchange) live without being allowed to: the
	// agent got a refusal instead, and nothing was called.
	Refused []LiveRefusal `json:"refused,omitempty"`
}

// LiveRefusal is a boundary a fork refused to run live.
type LiveRefusal struct {
	// Branch and Index are the boundary's identity in the fork's run (on
	// a run without branches, Index is its seq).
	Branch string        `json:"branch,omitempty"`
	Index  int64         `json:"index"`
	Kind   boundary.Kind `json:"kind"`
	Name   string        `json:"name"`
}

// ForkPoint is where a replay forked: the first boundary it did not serve
// from the recording but ran live.
type ForkPoint struct {
	// Seq is the recorded seq of that boundary (-1 past the end of the
	// recording); Branch and Index its identity.
	Seq    int64  `json:"seq"`
	Branch string `json:"branch,omitempty"`
	Index  int64  `json:"index"`
	// Kind and Name are what the agent asked for there.
	Kind boundary.Kind `json:"kind"`
	Name string        `json:"name"`
	// Reason says why the replay forked there ("at seq 4", "continue live
	// after the first divergence", …).
	Reason string `json:"reason"`
	// Divergence is how the boundary differed from the recording, when the
	// fork point is a divergence.
	Divergence *Divergence `json:"divergence,omitempty"`
}

// Stop is where a replay was stopped on request, and the boundary the agent
// was about to make there, which was neither served nor counted as a
// divergence.
type Stop struct {
	// Reason says who stopped the replay, e.g. "--until-seq 3".
	Reason string `json:"reason"`
	// Seq is the recorded seq of the pending boundary (-1 when past the
	// end of its branch), Branch and Index its identity; Kind and Name are
	// what the agent asked for.
	Seq    int64         `json:"seq"`
	Branch string        `json:"branch,omitempty"`
	Index  int64         `json:"index"`
	Kind   boundary.Kind `json:"kind"`
	Name   string        `json:"name"`
	// Request is the agent's pending request, as JSON (canonical when it
	// comes from a session; a report file holds it indented).
	Request json.RawMessage `json:"request,omitempty"`
	// Divergence is how the pending boundary differs from the recording's
	// boundary at Seq; nil when it matches.
	Divergence *Divergence `json:"divergence,omitempty"`
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
