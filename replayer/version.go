package replayer

import (
	"fmt"
	"strconv"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
)

// Version markers (otelrr.Version).
//
// An agent that changes intentionally (a new prompt, another tool order)
// marks the change with a version marker: recording, the marker records the
// newest version; replaying, it returns the version the recording took.
// A recording made before the marker existed has no marker of that change
// anywhere on the branch: the marker then returns DefaultVersion without
// using a recorded boundary, so old recordings take the old path and replay
// faithfully on the new code. A recorded version below the oldest the agent
// still supports is a divergence (ReasonVersion).

// DefaultVersion is the version a marker returns on replay of a recording
// made before the marker existed (otelrr.DefaultVersion).
const DefaultVersion = -1

// versionLocked matches the version marker q on branch bs. ok is false when
// the recording holds markers of q's change on the branch (the marker is
// then matched as any boundary, by position). Called with s.mu held.
func (s *session) versionLocked(bs *branchState, q query) (a answer, ok bool) {
	if q.Kind != boundary.KindVersion {
		return a, false
	}
	for _, r := range bs.recs {
		if r.Kind == boundary.KindVersion && r.Name == q.Name {
			return a, false
		}
	}
	if d := s.belowMinLocked(bs, q, DefaultVersion, nil); d != nil {
		return answer{Err: s.diverge(*d)}, true
	}
	rec := &boundary.Record{Seq: -1, Branch: q.Branch, Index: -1, Kind: q.Kind, Name: q.Name, Request: q.Request, Signature: q.Signature, Response: []byte(strconv.Itoa(DefaultVersion))}
	return answer{Rec: rec, Unrecorded: true}, true
}

// belowMinLocked returns the divergence of a marker whose version (recorded
// in r, or DefaultVersion when r is nil) is older than the agent supports,
// or nil. Called with s.mu held.
func (s *session) belowMinLocked(bs *branchState, q query, version int, r *boundary.Record) *analyze.Divergence {
	if version >= q.MinVersion {
		return nil
	}
	d := s.observed(q, analyze.ReasonVersion, int64(bs.requested))
	if r != nil {
		d.Seq, d.Index = r.Seq, r.Index
		d.ExpectedKind, d.ExpectedName, d.ExpectedSignature = r.Kind, r.Name, r.Signature
	}
	what := fmt.Sprintf("version %d of change %q", version, q.Name)
	if r == nil {
		what = fmt.Sprintf("no version of change %q (it predates the change: version %d)", q.Name, version)
	}
	d.Note = fmt.Sprintf("this recording predates the oldest supported version of change %q: it took %s, and the agent supports versions %d and up", q.Name, what, q.MinVersion)
	return d
}

// recordedVersion is the version a recorded marker holds.
func recordedVersion(r *boundary.Record) (int, bool) {
	v, err := strconv.Atoi(string(r.Response))
	return v, err == nil
}
