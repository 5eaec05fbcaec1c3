package spanlog_test

import (
	"slices"
	"testing"
	"time"

	"github.com/agentrr/agentrr/spanlog"
)

func ids(runs []spanlog.RunInfo) []string {
	var out []string
	for _, r := range runs {
		out = append(out, r.TraceID)
	}
	return out
}

// gc removes exactly the runs its policy names, newest kept first, and
// never a run being recorded; a run a killed recorder left in its writer
// slot is removed like any other.
func TestGCRemovesWhatItNames(t *testing.T) {
	s, dir := openStore(t)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	old := manyRuns(t, s, 200, start) // one minute apart
	// A run being recorded, started before all of them: never removed.
	live := newTraceID(t)
	w, err := s.CreateRun(spanlog.RunMeta{TraceID: live, Name: "live", Start: start.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	killed := killedRun(t, dir) // started now: the newest

	// A dry run names what would go and changes nothing.
	dry, err := s.GC(spanlog.GCPolicy{Keep: 50, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	wantGone := newestFirst(old, "")[49:] // the killed run is the newest kept
	for i := range wantGone {
		wantGone[i] = wantGone[i][:32]
	}
	if got := ids(dry.Removed); !slices.Equal(got, wantGone) {
		t.Errorf("dry run would remove %d runs, want the %d oldest (%v…)", len(got), len(wantGone), got[:min(2, len(got))])
	}
	if len(dry.Recording) != 1 || dry.Recording[0].TraceID != live {
		t.Errorf("dry run: recording %+v, want the live run", dry.Recording)
	}
	if runs, _ := s.Runs(); len(runs) != 202 {
		t.Fatalf("after a dry run: %d runs, want 202", len(runs))
	}

	res, err := s.GC(spanlog.GCPolicy{Keep: 50})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(res.Removed); !slices.Equal(got, wantGone) || len(res.Failed) > 0 {
		t.Errorf("removed %d runs (failed %v), want %d", len(got), res.Failed, len(wantGone))
	}
	runs, err := s.Runs()
	if err != nil {
		t.Fatal(err)
	}
	left := map[string]spanlog.Status{}
	for _, r := range runs {
		left[r.TraceID] = r.Status
	}
	if len(runs) != 51 || left[live] != spanlog.StatusRecording || left[killed] != spanlog.StatusTruncated {
		t.Errorf("left %d runs (live %s, killed %s), want 50 kept and the live one", len(runs), left[live], left[killed])
	}
	for _, id := range wantGone {
		if _, ok := left[id]; ok {
			t.Errorf("run %s is still there", id)
		}
	}

	// By age: runs older than the cut go, younger ones stay.
	now := start.Add(200 * time.Minute)
	res, err = s.GC(spanlog.GCPolicy{OlderThan: 30 * time.Minute, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Removed {
		if now.Sub(r.Start) < 30*time.Minute {
			t.Errorf("removed run %s started %s before now", r.TraceID, now.Sub(r.Start))
		}
		if r.TraceID == live {
			t.Error("removed the run being recorded")
		}
	}
	runs, _ = s.Runs()
	for _, r := range runs {
		if r.Status != spanlog.StatusRecording && now.Sub(r.Start) >= 30*time.Minute {
			t.Errorf("run %s, started %s before now, was kept", r.TraceID, now.Sub(r.Start))
		}
	}

	// A policy is required.
	if _, err := s.GC(spanlog.GCPolicy{}); err == nil {
		t.Error("GC without a policy succeeded")
	}
	// The live run is whole and goes on recording.
	if _, err := w.Append(func(seq int64) ([]byte, error) { return spanBytes(live, seq, "echo", "after gc") }); err != nil {
		t.Fatalf("the run being recorded after gc: %v", err)
	}
}
