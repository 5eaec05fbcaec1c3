package rrtest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// Folders of recordings: a test replays every bundle of a folder, so that
// a recorded run becomes a regression test by being exported into it:
//
//	agentrr export <id> --file testdata/agentrr/refund-late-order.json
//	agentrr export <id> --fixture testdata/agentrr   # named after the run
//
// By convention the folder is testdata/agentrr, next to the test, and its
// bundles are the files named *.json or *.json.gz (so *.otlp.json too);
// `agentrr test testdata/agentrr -- <agent>` replays the same files from the
// command line.

// ReplayFolder replays every bundle in dir (files named *.json or
// *.json.gz, in lexical order; subdirectories are not read) in-process,
// one subtest per bundle named after its file, as Replay does: work runs
// inside a run that serves every boundary from the recording. A subtest
// fails with the divergence table (RequireFaithful) when its replay is not
// faithful, and with the reason when its bundle cannot be read (not a
// bundle, damaged). A folder with no bundle fails t: an empty suite passes
// nothing. opts are replay options (replayer.WithMode, WithChaos, …).
func ReplayFolder[T any](t *testing.T, dir string, work func(ctx context.Context) (T, error), opts ...replayer.Option) {
	t.Helper()
	for _, path := range bundles(t, dir) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			rep, _ := Replay(t, LoadBundle(t, path), work, opts...)
			RequireFaithful(t, rep)
		})
	}
}

// ReplayFolderAgent is ReplayFolder for an agent that builds its own
// tracer provider and starts its run itself, as ReplayAgent replays one.
func ReplayFolderAgent(t *testing.T, dir string, agent func(ctx context.Context) error, opts ...replayer.Option) {
	t.Helper()
	for _, path := range bundles(t, dir) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			RequireFaithful(t, ReplayAgent(t, LoadBundle(t, path), agent, opts...))
		})
	}
}

// LoadBundle reads the bundle at path (agentrr export --file: OTLP JSON,
// gzip or not) and checks it as a store read checks a run, failing t when
// it is not a bundle or is damaged. A truncated run loads with Truncated
// set (its replay reports the end of the recording).
func LoadBundle(t testing.TB, path string) *replayer.Recording {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("rrtest: %v", err)
	}
	defer f.Close()
	b, err := spanlog.ReadBundle(f)
	if err != nil {
		t.Fatalf("rrtest: %s: %v", path, err)
	}
	if b.Info.Status == spanlog.StatusDamaged {
		t.Fatalf("rrtest: %s: %v", path, &replayer.DamagedError{TraceID: b.Info.TraceID, Reason: b.Info.Reason})
	}
	return &replayer.Recording{
		TraceID:   b.Info.TraceID,
		Records:   b.Records,
		Truncated: b.Info.Status == spanlog.StatusTruncated,
		Info:      b.Info,
	}
}

// bundles lists the bundles of dir, failing t when there are none.
func bundles(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		t.Fatalf("rrtest: no folder %s: export recordings into it with agentrr export <id> --file %s", dir, filepath.Join(dir, "<name>.json"))
	}
	if err != nil {
		t.Fatalf("rrtest: %v", err)
	}
	var paths []string
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && spanlog.IsBundleName(n) {
			paths = append(paths, filepath.Join(dir, n))
		}
	}
	sort.Strings(paths)
	if len(paths) == 0 {
		t.Fatalf("rrtest: %s holds no bundles (files named *.json or *.json.gz): export recordings into it with agentrr export <id> --file %s", dir, filepath.Join(dir, "<name>.json"))
	}
	return paths
}
