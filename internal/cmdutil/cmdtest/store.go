package cmdtest

import (
	"strings"
	"testing"

	"github.com/olekukonko/tablewriter/pkg/twwidth"

	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/spanlog"
)

// StoreWithRun records one run named "support" of Agent(prompt) into a new
// store in a temporary directory, and returns the store's directory and
// the run's trace id.
func StoreWithRun(t testing.TB, prompt string) (dir, id string) {
	t.Helper()
	dir = t.TempDir()
	return dir, Record(t, dir, "support", Agent(prompt))
}

// EmptyStore opens a new store in a temporary directory and returns the
// directory and the store, failing t if it cannot.
func EmptyStore(t testing.TB) (dir string, s *spanlog.Store) {
	t.Helper()
	dir = t.TempDir()
	s, err := spanlog.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, s
}

// AddRun stores the hand-made run of WriteRun and returns its trace id,
// failing t if it cannot: a meta without a TraceID is given a new one.
func AddRun(t testing.TB, s *spanlog.Store, meta spanlog.RunMeta, bs []Boundary, end *spanlog.RunEnd) string {
	t.Helper()
	if meta.TraceID == "" {
		meta.TraceID = NewTraceID()
	}
	if err := WriteRun(s, meta, bs, end); err != nil {
		t.Fatal(err)
	}
	return meta.TraceID
}

// AddRecording starts the hand-made run of StartRecording and returns its
// trace id, failing t if it cannot: a meta without a TraceID is given a new
// one. The run reads back as being recorded until the test ends, when its
// writer is closed.
func AddRecording(t testing.TB, s *spanlog.Store, meta spanlog.RunMeta, bs []Boundary) string {
	t.Helper()
	if meta.TraceID == "" {
		meta.TraceID = NewTraceID()
	}
	w, err := StartRecording(s, meta, bs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return meta.TraceID
}

// CheckContains reports an error of t, showing out, for each string of
// want that out does not contain.
func CheckContains(t testing.TB, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

// CheckWidth reports an error of t for each line of out wider than
// cmdutil.TermWidth terminal columns.
func CheckWidth(t testing.TB, out string) {
	t.Helper()
	for line := range strings.Lines(out) {
		if w := twwidth.Width(strings.TrimSuffix(line, "\n")); w > cmdutil.TermWidth {
			t.Errorf("line of %d columns, want at most %d:\n%s", w, cmdutil.TermWidth, line)
		}
	}
}
