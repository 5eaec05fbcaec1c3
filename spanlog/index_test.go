package spanlog_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentrr/agentrr/spanlog"
)

// manyRuns records n ended runs of one boundary each, started one minute
// apart (the last newest), and returns their ids oldest first.
func manyRuns(t *testing.T, s *spanlog.Store, n int, start time.Time) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		ids[i] = newTraceID(t)
		w, err := s.CreateRun(spanlog.RunMeta{TraceID: ids[i], Name: fmt.Sprintf("run-%d", i), Start: start.Add(time.Duration(i) * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		id := ids[i]
		if _, err := w.Append(func(seq int64) ([]byte, error) { return spanBytes(id, seq, "echo", "x") }); err != nil {
			t.Fatal(err)
		}
		if err := w.Finish(spanlog.RunEnd{End: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func listed(t *testing.T, s *spanlog.Store, limit int) []string {
	t.Helper()
	runs, err := s.RunsLimit(limit)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range runs {
		out = append(out, r.TraceID+" "+string(r.Status))
	}
	return out
}

func newestFirst(ids []string, status string) []string {
	var out []string
	for i := len(ids) - 1; i >= 0; i-- {
		out = append(out, ids[i]+" "+status)
	}
	return out
}

// A store of a few hundred runs lists newest first, in full and by the
// newest N, whatever state its index is in: the runs are the truth, the
// index only saves opening them.
func TestListingIsTheRunsWhateverTheIndex(t *testing.T) {
	s, dir := openStore(t)
	ids := manyRuns(t, s, 300, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	want := newestFirst(ids, "complete")
	index := filepath.Join(dir, "index")
	if b, err := os.ReadFile(index); err != nil || bytes.Count(b, []byte("\nP ")) != 300 {
		t.Fatalf("index after 300 runs: %d lines, %v", bytes.Count(b, []byte("\n")), err)
	}
	check := func(what string) {
		t.Helper()
		if got := listed(t, s, 0); !slices.Equal(got, want) {
			t.Errorf("%s: Runs lists %d runs, want %d newest first (first %v)", what, len(got), len(want), got[:min(3, len(got))])
		}
		if got := listed(t, s, 20); !slices.Equal(got, want[:20]) {
			t.Errorf("%s: RunsLimit(20) = %v, want the 20 newest", what, got)
		}
	}
	check("index current")

	orig, _ := os.ReadFile(index)
	// A crash mid-append leaves a torn last line; a power failure loses
	// the tail; garbage is skipped line by line.
	os.WriteFile(index, orig[:len(orig)-40], 0o600)
	check("index torn at its end")
	os.WriteFile(index, orig[:len(orig)/2], 0o600)
	check("index lost its second half")
	garbled := slices.Clone(orig)
	for i := 100; i < len(garbled); i += 997 {
		garbled[i] ^= 0x11
	}
	os.WriteFile(index, garbled, 0o600)
	check("index with flipped bytes")
	os.Remove(index)
	check("no index")
	os.WriteFile(index, []byte("something else\n"), 0o600)
	check("an index of another format")

	// A writer rebuilds it from the runs: every sealed run, once.
	if err := s.RebuildIndex(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(index); bytes.Count(b, []byte("\nP ")) != 300 {
		t.Errorf("rebuilt index has %d lines, want 300", bytes.Count(b, []byte("\nP ")))
	}
	check("index rebuilt")
}

// A sealed run rewritten behind agentrr's back is read again, not taken
// from the index; a sealed file deleted behind its back is listed as
// damaged (not silently dropped) until rm drops it.
func TestIndexIsCheckedAgainstEachFile(t *testing.T) {
	s, dir := openStore(t)
	ids := manyRuns(t, s, 3, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	path := filepath.Join(dir, "runs", ids[1]+".run")
	b, _ := os.ReadFile(path)
	b[len(b)/2] ^= 0xff
	os.WriteFile(path, b, 0o600)
	os.Remove(filepath.Join(dir, "runs", ids[0]+".run"))

	runs, err := s.Runs()
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]spanlog.RunInfo{}
	for _, r := range runs {
		status[r.TraceID] = r
	}
	if len(runs) != 3 || status[ids[2]].Status != spanlog.StatusComplete {
		t.Fatalf("Runs = %+v", runs)
	}
	if r := status[ids[1]]; r.Status != spanlog.StatusDamaged {
		t.Errorf("rewritten run listed %s (%s), want damaged", r.Status, r.Reason)
	}
	if r := status[ids[0]]; r.Status != spanlog.StatusDamaged || !strings.Contains(r.Reason, "missing") || r.Name != "run-0" {
		t.Errorf("deleted run listed %s %q (%s), want damaged, its file missing, with its name", r.Status, r.Name, r.Reason)
	}
	if id, err := s.Resolve(ids[0][:10]); err != nil || id != ids[0] {
		t.Errorf("Resolve of the lost run: %q, %v", id, err)
	}
	if err := s.Remove(ids[0]); err != nil {
		t.Fatal(err)
	}
	if runs, _ := s.Runs(); len(runs) != 2 {
		t.Errorf("after rm of the lost run: %d runs, want 2", len(runs))
	}
}

// A run being recorded is listed by its start like the others, so that
// the newest N include it when it is among them (and never hide it behind
// older ended runs).
func TestRunBeingRecordedListsByItsStart(t *testing.T) {
	s, _ := openStore(t)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ended := manyRuns(t, s, 5, start) // minutes 0..4
	live := newTraceID(t)
	w, err := s.CreateRun(spanlog.RunMeta{TraceID: live, Name: "live", Start: start.Add(150 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	want := []string{ended[4], ended[3], live, ended[2], ended[1], ended[0]}
	runs, err := s.Runs()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, r.TraceID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("listing %v, want the run being recorded third, by its start: %v", got, want)
	}
	top := listed(t, s, 3)
	if len(top) != 3 || top[2] != live+" "+string(spanlog.StatusRecording) {
		t.Errorf("newest 3: %v, want the run being recorded third", top)
	}
}
