// Package storetest holds helpers for tests that check what a store of
// runs holds.
package storetest

import (
	"testing"

	"github.com/agentrr/agentrr/spanlog"
)

// ReadRun reads run id from the store at dir, failing t if the store
// cannot be opened or the run read.
func ReadRun(t testing.TB, dir, id string) *spanlog.Run {
	t.Helper()
	store, err := spanlog.OpenExisting(dir)
	if err != nil {
		t.Fatal(err)
	}
	run, err := store.ReadRun(id)
	if err != nil {
		t.Fatal(err)
	}
	return run
}
