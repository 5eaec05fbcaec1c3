package cmdutil

import (
	"fmt"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// ForkedFrom is, in the JSON of `runs`, `show` and `diff`, the run a fork
// was forked from and where it went live.
type ForkedFrom struct {
	// TraceID is the run forked.
	TraceID string `json:"trace_id"`
	// Seq is the seq in that run where the fork went live (-1: past its
	// end). It is absent when the fork did not end (it was killed: see its
	// boundaries marked live) or never left the recording.
	Seq *int64 `json:"seq,omitempty"`
	// Live counts the boundaries the fork ran live, once it ended.
	Live int `json:"live"`
}

// ForkOf returns what the run info describes was forked from; nil when it
// is not a fork.
func ForkOf(info spanlog.RunInfo) *ForkedFrom {
	if info.ReplayOf == "" || info.ReplayMode != replayer.ForkMode {
		return nil
	}
	f := &ForkedFrom{TraceID: info.ReplayOf}
	if e := info.Ended; e != nil {
		f.Seq, f.Live = e.ForkSeq, e.Live
	}
	return f
}

// RunJSON is a run as `runs --json` lists it and `show --json` names it:
// the stored run info, and for a fork, forked_from.
type RunJSON struct {
	spanlog.RunInfo
	ForkedFrom *ForkedFrom `json:"forked_from,omitempty"`
}

// NewRunJSON returns the JSON form of info.
func NewRunJSON(info spanlog.RunInfo) RunJSON {
	return RunJSON{RunInfo: info, ForkedFrom: ForkOf(info)}
}

// ForkDescription describes a fork for people, from its end record:
// "at seq 2, 3 boundaries run live", "diverged before its fork point (1
// divergence)", "did not end"; records, when given, are the fork's
// boundaries, from which a fork that did not end is described ("did not
// end; live from seq 4").
func ForkDescription(info spanlog.RunInfo, records []boundary.Record) string {
	e := info.Ended
	switch {
	case e == nil:
		for i := range records {
			if live, _ := records[i].Attributes[boundary.AttrLiveBoundary].(bool); live {
				return fmt.Sprintf("did not end; live from its seq %d", records[i].Seq)
			}
		}
		return "did not end"
	case e.Verdict == "diverged":
		return "diverged before its fork point (" + Plural(e.Divergences, "divergence", "divergences") + ")"
	case e.ForkSeq == nil:
		return "never left the recording"
	case *e.ForkSeq < 0:
		return "at the end of the recording, " + Plural(e.Live, "boundary", "boundaries") + " run live"
	}
	return fmt.Sprintf("at seq %d, %s run live", *e.ForkSeq, Plural(e.Live, "boundary", "boundaries"))
}
