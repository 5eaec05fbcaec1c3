// Package benchwork is the agent body that both otelrr's benchmarks and the
// benchmark harness (bench/) record: boundaries spread over branches.
package benchwork

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/agentrr/agentrr/otelrr"
)

// BranchName is the name of the g-th branch Spread makes: "w0", "w1", ….
func BranchName(g int) string { return fmt.Sprintf("w%d", g) }

// Spread makes n calls of call: on ctx's branch when branches is 1, else
// spread over that many branches (BranchName), the first n%branches taking
// one call more, each branch on a goroutine of its own (otelrr.Go) when
// concurrent, or one branch after the other from this goroutine. A branch
// stops at its first error; Spread returns the branches' errors joined.
func Spread(ctx context.Context, n, branches int, concurrent bool, call func(context.Context) error) error {
	calls := func(ctx context.Context, k int) error {
		for range k {
			if err := call(ctx); err != nil {
				return err
			}
		}
		return nil
	}
	if branches == 1 {
		return calls(ctx, n)
	}
	errs := make([]error, branches)
	var wg sync.WaitGroup
	for g := range branches {
		k := n / branches
		if g < n%branches {
			k++
		}
		if !concurrent {
			errs[g] = calls(otelrr.Branch(ctx, BranchName(g)), k)
			continue
		}
		wg.Add(1)
		otelrr.Go(ctx, BranchName(g), func(ctx context.Context) {
			defer wg.Done()
			errs[g] = calls(ctx, k)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// InRun runs body inside a new run named "bench" of a provider (service
// "bench") recording into the store at dir, and ends the run with body's
// error.
func InRun(ctx context.Context, dir string, body func(context.Context) error) error {
	tp, err := otelrr.NewTracerProvider(ctx, otelrr.WithStore(dir), otelrr.WithServiceName("bench"))
	if err != nil {
		return err
	}
	defer tp.Shutdown(context.Background())
	ctx, run, err := tp.StartRun(ctx, "bench")
	if err != nil {
		return err
	}
	return run.End(body(ctx))
}
