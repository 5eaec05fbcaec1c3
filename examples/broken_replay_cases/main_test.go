package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// TestMain lets the test binary stand in for the program: the scenarios
// run it as "agent" (the recorder they kill) and "read-run" (the reader
// of damaged runs).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && (os.Args[1] == "agent" || os.Args[1] == "read-run") {
		os.Exit(dispatch(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func runScenarios(t *testing.T, names ...string) map[string]Result {
	t.Helper()
	var out bytes.Buffer
	r := &Runner{Store: t.TempDir(), Self: []string{os.Args[0]}, Out: &out}
	results, err := r.Run(context.Background(), names)
	t.Logf("scenario output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Result{}
	for _, res := range results {
		byName[res.Name] = res
	}
	return byName
}

func TestReplayVerdicts(t *testing.T) {
	res := runScenarios(t, "edited-prompt", "renamed-tool", "truncated")
	for _, name := range []string{"edited-prompt", "renamed-tool", "truncated", "other-runs"} {
		if r, ok := res[name]; !ok || !r.OK {
			t.Errorf("%s: got %q, want the verdict the scenario describes", name, r.Got)
		}
	}
	// The messages name where and why.
	for name, want := range map[string]string{
		"edited-prompt": "messages[0].content changed",
		"renamed-tool":  "recorded tool lookup_order, agent made tool find_order",
		"truncated":     "past the end of a truncated recording",
	} {
		if !strings.Contains(res[name].Got, want) {
			t.Errorf("%s: message %q lacks %q", name, res[name].Got, want)
		}
	}
}

func TestUnknownScenario(t *testing.T) {
	r := &Runner{Store: t.TempDir(), Self: []string{os.Args[0]}, Out: new(bytes.Buffer)}
	if _, err := r.Run(context.Background(), []string{"flooded"}); err == nil || !strings.Contains(err.Error(), "edited-prompt") {
		t.Errorf("unknown scenario: %v, want an error listing the scenarios", err)
	}
}

func TestDamageVerdicts(t *testing.T) {
	if testing.Short() {
		t.Skip("records a 5 MB run")
	}
	res := runScenarios(t, "truncated", "damaged-wal", "damaged-sst")
	if r := res["other-runs"]; !r.OK {
		t.Errorf("damaging one run changed others: %s", r.Got)
	}
	for _, name := range []string{"damaged-wal", "damaged-sst"} {
		if r := res[name]; !r.OK {
			t.Errorf("%s: got %q, want the run read back damaged and replay refused", name, r.Got)
		}
	}
}
