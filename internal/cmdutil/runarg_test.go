package cmdutil

import (
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/agentrr/agentrr/spanlog"
)

func TestRunArgs(t *testing.T) {
	cmd := &cobra.Command{Use: "diff <trace-a> <trace-b>"}
	for _, tc := range []struct {
		min, max int
		args     []string
		msg      string
	}{
		{1, 1, nil, "takes one trace id (or a unique prefix of one), got 0 arguments"},
		{2, 2, []string{"a"}, "takes 2 trace ids (or unique prefixes), got 1 arguments"},
		{1, 0, nil, "takes one or more trace ids"},
	} {
		err := RunArgs(tc.min, tc.max)(cmd, tc.args)
		if Code(err) != ExitUsage || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "agentrr runs") {
			t.Errorf("RunArgs(%d, %d)(%q) = %v", tc.min, tc.max, tc.args, err)
		}
	}
	if err := RunArgs(1, 0)(cmd, []string{"a", "b", "c"}); err != nil {
		t.Errorf("three args for 1..any: %v", err)
	}
}

func TestResolveRunErrors(t *testing.T) {
	dir := t.TempDir()
	_, _, err := ResolveRun(func() (*spanlog.Store, error) { return spanlog.OpenExisting(dir + "/missing") }, "ab")
	if !errors.Is(err, spanlog.ErrNoStore) || Code(err) != ExitUsage || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing store: %v", err)
	}
	if _, err := spanlog.Open(dir); err != nil {
		t.Fatal(err)
	}
	_, _, err = ResolveRun(func() (*spanlog.Store, error) { return spanlog.OpenExisting(dir) }, "ab")
	if !errors.Is(err, spanlog.ErrNotFound) || Code(err) != ExitUsage || !strings.Contains(err.Error(), "agentrr runs") {
		t.Errorf("unknown run: %v", err)
	}
}
