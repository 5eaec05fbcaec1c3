package spanlog_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/agentrr/agentrr/spanlog"
)

// A replayed run's boundaries are not synced one by one, but the run reads
// back whole: every boundary in order, complete once finished, a whole
// prefix when only closed.
func TestReplayedRunReadsBackWhole(t *testing.T) {
	for _, finish := range []bool{true, false} {
		t.Run(fmt.Sprintf("finish=%v", finish), func(t *testing.T) {
			s, _ := openStore(t)
			id := newTraceID(t)
			w, err := s.CreateRun(spanlog.RunMeta{TraceID: id, Name: "replay", Start: time.Now().UTC(), PID: os.Getpid(), ReplayOf: newTraceID(t), ReplayMode: "strict"})
			if err != nil {
				t.Fatal(err)
			}
			const n = 50
			for i := range n {
				seq, err := w.Append(func(seq int64) ([]byte, error) { return spanBytes(id, seq, "echo", fmt.Sprintf("p%d", i)) })
				if err != nil || seq != int64(i) {
					t.Fatalf("Append #%d = %d, %v", i, seq, err)
				}
			}
			want := spanlog.StatusTruncated
			if finish {
				want = spanlog.StatusComplete
				err = w.Finish(spanlog.RunEnd{End: time.Now().UTC()})
			} else {
				err = w.Close()
			}
			if err != nil {
				t.Fatal(err)
			}
			run, err := s.ReadRun(id)
			if err != nil {
				t.Fatal(err)
			}
			if run.Info.Status != want || len(run.Records) != n {
				t.Fatalf("read back %s (%s) with %d boundaries, want %s with %d", run.Info.Status, run.Info.Reason, len(run.Records), want, n)
			}
			for i, r := range run.Records {
				if got := payloadOf(t, r); got != fmt.Sprintf("p%d", i) {
					t.Errorf("seq %d holds %q", i, got)
				}
			}
		})
	}
}
