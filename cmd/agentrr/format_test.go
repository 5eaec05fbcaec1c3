package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/internal/filetest"
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
	agentrr, bin, store := oldStore(t, "store-format1")

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

// testdata/store-format2 was written by agentrr when runs were first sealed
// into files of their own (store format 2: runs/<id>.run, a standalone
// sstable each, and the run index): the example agents deterministic_support,
// tool_caller, openai_agent (plain and streamed) and parallel_tools. They
// must still list, verify, replay faithfully and export the same bundle
// twice with today's agentrr. (The index was written with the files' times
// and inodes of the machine that made it: here it is stale, and listing
// reads the files.)
var format2Runs = map[string]string{
	"9a5a1e2b29c4d16e27a2eacb226b3ab4": "deterministic_support",
	"831cc03f215a3d9b3b59073934ff1cb8": "tool_caller",
	"63164b059e19564d42e4cc5e69d513e8": "openai_agent -stream=false",
	"5b677d5afb2076e8eb9c2e408a14a907": "openai_agent",
	"859d01b3c76933f2de3e04676735ef2f": "parallel_tools",
}

func TestFormat2StoreStillReplays(t *testing.T) {
	agentrr, bin, store := oldStore(t, "store-format2")

	if r := run(t, store, agentrr, "verify", "--all"); r.code != 0 || strings.Count(r.stdout, " ok ") != len(format2Runs) {
		t.Fatalf("verify --all exited %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, store, agentrr, "runs", "--limit", "2"); r.code != 0 || strings.Count(r.stdout, "complete") != 2 {
		t.Errorf("runs --limit 2 exited %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	for id, agent := range format2Runs {
		args := strings.Fields(agent)
		cmd := append([]string{"replay", id, "--", filepath.Join(bin, args[0])}, args[1:]...)
		if r := run(t, store, agentrr, cmd...); r.code != 0 || !strings.Contains(r.stdout, "faithful") {
			t.Errorf("replay of %s (%s) exited %d:\n%s%s", id, agent, r.code, r.stdout, r.stderr)
		}
		a := filepath.Join(t.TempDir(), "a.json")
		b := filepath.Join(t.TempDir(), "b.json")
		if r := run(t, store, agentrr, "export", id, "--file", a); r.code != 0 {
			t.Fatalf("export %s exited %d: %s", id, r.code, r.stderr)
		}
		other := filepath.Join(t.TempDir(), "other")
		if r := run(t, other, agentrr, "import", a); r.code != 0 {
			t.Fatalf("import exited %d: %s", r.code, r.stderr)
		}
		if r := run(t, other, agentrr, "export", id, "--file", b); r.code != 0 {
			t.Fatalf("export from the other store exited %d: %s", r.code, r.stderr)
		}
		if ba, bb := mustRead(t, a), mustRead(t, b); ba != bb {
			t.Errorf("run %s: export → import → export differs", id)
		}
	}
}

// oldStore copies the store testdata/<name>, written by an older agentrr,
// into a new directory, and returns the agentrr command, the directory of
// the example agents and the copy.
func oldStore(t *testing.T, name string) (agentrr, bin, store string) {
	t.Helper()
	agentrr, _, _ = binaries(t)
	bin = exampleBin(t)
	store = filepath.Join(t.TempDir(), "store")
	filetest.CopyTree(t, filepath.Join(repoRoot(), "testdata", name), store)
	return agentrr, bin, store
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
