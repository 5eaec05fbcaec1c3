package otelrr

import (
	"context"
	"sync"

	"github.com/agentrr/agentrr/boundary"
)

// branch is one logical thread of a run (see Branch).
type branch struct {
	run  *Run
	path string

	mu       sync.Mutex
	children map[string]int // how many children of each name were started
}

type branchKey struct{}

// child starts the next child of b named name.
func (b *branch) child(name string) *branch {
	b.mu.Lock()
	n := b.children[name]
	if b.children == nil {
		b.children = make(map[string]int)
	}
	b.children[name] = n + 1
	b.mu.Unlock()
	return &branch{run: b.run, path: boundary.ChildBranch(b.path, name, n)}
}

// branchOf returns the branch of run that ctx carries: its root when ctx
// carries none of run's branches.
func branchOf(ctx context.Context, run *Run) *branch {
	if b, ok := ctx.Value(branchKey{}).(*branch); ok && b.run == run {
		return b
	}
	return run.root
}

// Branch returns a context for a new branch of the run in ctx, named name,
// a child of the branch ctx is on. Use it for work that runs concurrently
// with its parent or its siblings, typically one goroutine per parallel tool
// call, and pass the returned context to that work's boundary helpers (and
// SDK calls made through the Transport).
//
// A boundary's identity for replay is its branch and its position in the
// branch, so parallel branches replay exactly whichever order the scheduler
// runs them in. A branch's path is its ancestors' names and its own
// ("search/fetch"); two siblings with the same name are told apart by the
// order they were started ("search", "search#1"). So:
//
//   - give siblings distinct names where you can (the tool call id the model
//     returned, the item's key), and a branch may then be started anywhere,
//     even inside the goroutine it is for;
//   - siblings that share a name must be started in a fixed order: call
//     Branch in the parent, before the go statement (as Go and BranchFunc do).
//
// Within one branch boundaries must be made one at a time. Boundaries of one
// branch that overlap in time (goroutines sharing a context) are recorded as
// a concurrency group and matched among themselves by exact request on
// replay; see docs/contract.md.
//
// With no run in ctx, Branch returns ctx unchanged.
func Branch(ctx context.Context, name string) context.Context {
	run := runFromContext(ctx)
	if run == nil {
		return ctx
	}
	return context.WithValue(ctx, branchKey{}, branchOf(ctx, run).child(name))
}

// Go starts fn in a new goroutine on a new branch named name (see Branch).
// The branch is started before Go returns, in the caller's program order.
func Go(ctx context.Context, name string, fn func(ctx context.Context)) {
	bctx := Branch(ctx, name)
	go fn(bctx)
}

// BranchFunc starts a new branch named name (see Branch) now, in the
// caller's program order, and returns a function that runs fn on it: the
// shape errgroup.Group.Go and similar take.
//
//	for _, call := range toolCalls {
//		g.Go(otelrr.BranchFunc(ctx, call.ID, func(ctx context.Context) error {
//			return runTool(ctx, call)
//		}))
//	}
func BranchFunc(ctx context.Context, name string, fn func(ctx context.Context) error) func() error {
	bctx := Branch(ctx, name)
	return func() error { return fn(bctx) }
}

// BranchPath returns the path of the branch ctx is on: "" for the run's
// root branch, and when ctx carries no run.
func BranchPath(ctx context.Context) string {
	run := runFromContext(ctx)
	if run == nil {
		return boundary.RootBranch
	}
	return branchOf(ctx, run).path
}
