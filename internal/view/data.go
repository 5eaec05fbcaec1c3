package view

import (
	"errors"
	"fmt"
	"sync"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	diffcmd "github.com/agentrr/agentrr/internal/cmd/diff"
	"github.com/agentrr/agentrr/internal/cmd/inspect"
	"github.com/agentrr/agentrr/internal/cmd/show"
	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/spanlog"
)

// RunsDoc is the answer of GET /api/runs: the runs of the store, newest
// first, as `agentrr runs --json` lists them.
type RunsDoc struct {
	Store string            `json:"store"`
	Runs  []spanlog.RunInfo `json:"runs"`
}

// RunDoc is the answer of GET /api/runs/{id}: the run as `agentrr show
// --json` shows it, and the runs it is linked with.
type RunDoc struct {
	*show.Output
	// Original is the run this one replays, when it is in the store.
	Original *spanlog.RunInfo `json:"original,omitempty"`
	// Replays are the runs of the store that replay (or fork) this one,
	// newest first.
	Replays []spanlog.RunInfo `json:"replays"`
	// Live are the seqs of the boundaries a fork ran live, after it left
	// its recording (agentrr.live); absent for other runs.
	Live []int64 `json:"live,omitempty"`
}

// BoundaryDoc is the answer of GET /api/runs/{id}/boundaries/{seq}: the
// boundary as `agentrr inspect --json` shows it, and, for an LLM call, its
// conversation.
type BoundaryDoc struct {
	Boundary     *inspect.Output `json:"boundary"`
	Conversation *Conversation   `json:"conversation,omitempty"`
}

// DivergenceDoc is the answer of GET /api/runs/{id}/divergence for a
// replay: the recording it replays compared with it, as `agentrr diff
// <original> <replay> --json` compares them.
type DivergenceDoc struct {
	Original   string          `json:"original"`
	Comparison *diffcmd.Output `json:"comparison"`
}

// WhyDoc is the answer of GET /api/runs/{id}/why?seq=N[&path=P][&min=K],
// as `agentrr why --json` writes it.
type WhyDoc struct {
	TraceID string `json:"trace_id"`
	*analyze.Provenance
}

// errNotReplay is returned for the divergence of a run that replays
// nothing.
var errNotReplay = errors.New("not a replay")

// errBadInput marks a request the user got wrong (a seq out of range, a
// path the request does not have): 400.
type errBadInput struct{ error }

// source reads runs from a store, keeping the last few complete ones
// decoded: a run that has ended does not change, and the page asks for
// the same run again for every boundary opened.
type source struct {
	open func() (*spanlog.Store, error)

	mu    sync.Mutex
	cache []*spanlog.Run // most recent last
}

// cacheRuns is how many ended runs source keeps decoded.
const cacheRuns = 8

// resolve opens the store and resolves id (a full id or a unique prefix)
// to the run's full id.
func (s *source) resolve(id string) (store *spanlog.Store, full string, err error) {
	store, err = s.open()
	if err != nil {
		return nil, "", err
	}
	full, err = store.Resolve(id)
	if err != nil {
		return nil, "", err
	}
	return store, full, nil
}

// recordingInfo is the run list's line of the run full, which the
// process rec names is recording.
func recordingInfo(full string, rec *spanlog.RecordingError) spanlog.RunInfo {
	return spanlog.RunInfo{RunMeta: spanlog.RunMeta{TraceID: full, PID: rec.PID}, Status: spanlog.StatusRecording, Reason: fmt.Sprintf("pid %d", rec.PID)}
}

// run reads the run id (a full id or a unique prefix). A run being
// recorded is an error (*spanlog.RecordingError).
func (s *source) run(id string) (*spanlog.Run, error) {
	store, full, err := s.resolve(id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	for i, r := range s.cache {
		if r.Info.TraceID == full {
			s.cache = append(append(s.cache[:i:i], s.cache[i+1:]...), r)
			s.mu.Unlock()
			return r, nil
		}
	}
	s.mu.Unlock()
	run, err := store.ReadRun(full)
	if err != nil {
		return nil, err
	}
	if run.Info.Status == spanlog.StatusComplete {
		s.mu.Lock()
		s.cache = append(s.cache, run)
		if len(s.cache) > cacheRuns {
			s.cache = s.cache[1:]
		}
		s.mu.Unlock()
	}
	return run, nil
}

func (s *source) runs() (*RunsDoc, error) {
	store, err := s.open()
	if err != nil {
		return nil, err
	}
	runs, err := store.Runs()
	if err != nil {
		return nil, err
	}
	if runs == nil {
		runs = []spanlog.RunInfo{}
	}
	return &RunsDoc{Store: store.Root(), Runs: runs}, nil
}

// runDoc is the document of run id. A run being recorded, or one that
// cannot be opened, is a document too (its status says which), so that
// the page can show it and poll until it can be read.
func (s *source) runDoc(id string) (*RunDoc, error) {
	store, full, err := s.resolve(id)
	if err != nil {
		return nil, err
	}
	all, err := store.Runs()
	if err != nil {
		return nil, err
	}
	doc := &RunDoc{Replays: []spanlog.RunInfo{}}
	var info *spanlog.RunInfo
	for i := range all {
		if all[i].TraceID == full {
			info = &all[i]
		}
	}
	run, err := s.run(full)
	var rec *spanlog.RecordingError
	switch {
	case errors.As(err, &rec):
		doc.Output = &show.Output{Run: cmdutil.NewRunJSON(recordingInfo(full, rec)), Boundaries: []show.Boundary{}}
		if info != nil {
			doc.Output.Run = cmdutil.NewRunJSON(*info)
		}
	case err != nil && info != nil && info.Status == spanlog.StatusDamaged:
		doc.Output = &show.Output{Run: cmdutil.NewRunJSON(*info), Boundaries: []show.Boundary{}}
	case err != nil:
		return nil, err
	default:
		doc.Output = show.NewOutput(run)
		for i := range run.Records {
			if live, _ := run.Records[i].Attributes[boundary.AttrLiveBoundary].(bool); live {
				doc.Live = append(doc.Live, run.Records[i].Seq)
			}
		}
	}
	for i := range all {
		switch {
		case all[i].ReplayOf == full:
			doc.Replays = append(doc.Replays, all[i])
		case all[i].TraceID == doc.Run.ReplayOf && doc.Run.ReplayOf != "":
			doc.Original = &all[i]
		}
	}
	return doc, nil
}

func (s *source) boundaryDoc(id string, seq int64) (*BoundaryDoc, error) {
	run, err := s.run(id)
	if err != nil {
		return nil, err
	}
	r, err := recordAt(run, seq)
	if err != nil {
		return nil, err
	}
	return &BoundaryDoc{Boundary: inspect.NewOutput(r), Conversation: ConversationOf(r)}, nil
}

func recordAt(run *spanlog.Run, seq int64) (*boundary.Record, error) {
	if seq < 0 || seq >= int64(len(run.Records)) {
		if run.Info.Status == spanlog.StatusDamaged {
			return nil, errBadInput{fmt.Errorf("seq %d of run %s cannot be read: the run is damaged (%s)", seq, run.Info.TraceID, run.Info.Reason)}
		}
		return nil, errBadInput{fmt.Errorf("seq %d is out of range: run %s has %d boundaries", seq, run.Info.TraceID, len(run.Records))}
	}
	return &run.Records[seq], nil
}

func (s *source) divergenceDoc(id string) (*DivergenceDoc, error) {
	run, err := s.run(id)
	if err != nil {
		return nil, err
	}
	if run.Info.ReplayOf == "" {
		return nil, errNotReplay
	}
	orig, err := s.run(run.Info.ReplayOf)
	if err != nil {
		return nil, fmt.Errorf("the recording it replays, %s: %w", run.Info.ReplayOf, err)
	}
	return &DivergenceDoc{Original: orig.Info.TraceID, Comparison: compare(orig, run)}, nil
}

func (s *source) compareDoc(a, b string) (*diffcmd.Output, error) {
	ra, err := s.run(a)
	if err != nil {
		return nil, err
	}
	rb, err := s.run(b)
	if err != nil {
		return nil, err
	}
	return compare(ra, rb), nil
}

// compare is `agentrr diff a b --json`.
func compare(a, b *spanlog.Run) *diffcmd.Output {
	c := analyze.Compare(a.Records, b.Records)
	return &diffcmd.Output{A: diffRun(a), B: diffRun(b), Identical: c.Identical(), Comparison: c}
}

func diffRun(r *spanlog.Run) diffcmd.Run {
	out := diffcmd.Run{
		TraceID: r.Info.TraceID, Name: r.Info.Name, Status: string(r.Info.Status), Reason: r.Info.Reason,
		Boundaries: len(r.Records), ReplayOf: r.Info.ReplayOf,
	}
	if r.Info.Ended != nil {
		out.Verdict = r.Info.Ended.Verdict
	}
	return out
}

func (s *source) whyDoc(id string, seq int64, opts analyze.ProvenanceOptions) (*WhyDoc, error) {
	run, err := s.run(id)
	if err != nil {
		return nil, err
	}
	if _, err := recordAt(run, seq); err != nil {
		return nil, err
	}
	p, err := analyze.Why(run.Records, seq, opts)
	if err != nil {
		return nil, errBadInput{err}
	}
	return &WhyDoc{TraceID: run.Info.TraceID, Provenance: p}, nil
}
