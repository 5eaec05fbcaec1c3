package benchwork

import (
	"context"
	"errors"
	"maps"
	"sync"
	"testing"

	"github.com/agentrr/agentrr/otelrr"
)

// spreadCounts runs Spread inside a run and counts the calls made on each
// branch path; fail, if set, makes every call on branch w1 fail.
func spreadCounts(t *testing.T, n, branches int, concurrent bool, fail error) (map[string]int, error) {
	t.Helper()
	var mu sync.Mutex
	counts := map[string]int{}
	var spreadErr error
	err := InRun(context.Background(), t.TempDir(), func(ctx context.Context) error {
		spreadErr = Spread(ctx, n, branches, concurrent, func(ctx context.Context) error {
			path := otelrr.BranchPath(ctx)
			mu.Lock()
			counts[path]++
			mu.Unlock()
			if fail != nil && path == BranchName(1) {
				return fail
			}
			return nil
		})
		return nil
	})
	if err != nil {
		t.Fatalf("InRun: %v", err)
	}
	return counts, spreadErr
}

func TestSpreadShareOfEachBranch(t *testing.T) {
	for _, c := range []struct {
		name       string
		branches   int
		concurrent bool
		want       map[string]int
	}{
		{"one branch", 1, true, map[string]int{"": 10}},
		{"sequential", 3, false, map[string]int{"w0": 4, "w1": 3, "w2": 3}},
		{"concurrent", 3, true, map[string]int{"w0": 4, "w1": 3, "w2": 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := spreadCounts(t, 10, c.branches, c.concurrent, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, c.want) {
				t.Errorf("calls per branch = %v, want %v", got, c.want)
			}
		})
	}
}

func TestSpreadStopsAFailingBranchAndReturnsItsError(t *testing.T) {
	boom := errors.New("boom")
	got, err := spreadCounts(t, 9, 3, true, boom)
	if !errors.Is(err, boom) {
		t.Fatalf("Spread returned %v, want boom", err)
	}
	if want := map[string]int{"w0": 3, "w1": 1, "w2": 3}; !maps.Equal(got, want) {
		t.Errorf("calls per branch = %v, want %v (w1 stops at its first error)", got, want)
	}
}
