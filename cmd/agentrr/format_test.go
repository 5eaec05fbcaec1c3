package main_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testdata/store-format1 was written by agentrr before branches existed
// (run databases of format 1: one global sequence, no agentrr.branch
// attributes): the example agents deterministic_support, tool_caller and
// openai_agent (plain and streamed). They must still list, verify and
// replay faithfully with today's agents.
var format1Runs = map[string]string{
	"8c150fab073261b35f1aad2ede17d1ee": "deterministic_support",
	"f836a121019d0553d9f9d7d2b8a38ca6": "tool_caller",
	"b1c381f12cbb68fc4c7deca1ad163626": "openai_agent",
	"9599ee16574fe78f8403c8da27dc35d4": "openai_agent -stream",
}

func TestFormat1StoreStillReplays(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	agentrr, _, _ := binaries(t)
	bin := exampleBin(t)
	store := filepath.Join(t.TempDir(), "store")
	copyDir(t, filepath.Join(repoRoot(), "testdata", "store-format1"), store)

	if r := run(t, store, agentrr, "verify", "--all"); r.code != 0 {
		t.Fatalf("verify --all exited %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	for id, agent := range format1Runs {
		args := strings.Fields(agent)
		cmd := append([]string{"replay", "--from-trace", id, "--", filepath.Join(bin, args[0])}, args[1:]...)
		r := run(t, store, agentrr, cmd...)
		if r.code != 0 || !strings.Contains(r.stdout, "faithful") {
			t.Errorf("replay of %s (%s) exited %d:\n%s%s", id, agent, r.code, r.stdout, r.stderr)
		}
		if r := run(t, store, agentrr, "show", id); r.code != 0 || strings.Contains(r.stdout, "BRANCH") {
			t.Errorf("show %s exited %d (a run of one branch shows no branch column):\n%s%s", id, r.code, r.stdout, r.stderr)
		}
	}
}

// copyDir copies the tree at src to dst (which must not exist).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}
