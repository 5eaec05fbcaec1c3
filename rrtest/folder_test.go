package rrtest_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/rrtest"
	"github.com/agentrr/agentrr/spanlog"
)

// exportBundle records a.work into the store at dir and exports the run
// as a bundle to path.
func exportBundle(t *testing.T, dir, path string, a *support, gzip bool) {
	t.Helper()
	rec, _, err := rrtest.RecordIn(t, dir, "support", a.work)
	if err != nil {
		t.Fatal(err)
	}
	store, err := spanlog.OpenExisting(dir)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := store.WriteBundle(&buf, rec.TraceID, spanlog.BundleOptions{Gzip: gzip}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestReplayFolderReplaysEveryBundle(t *testing.T) {
	store, folder := t.TempDir(), t.TempDir()
	exportBundle(t, store, filepath.Join(folder, "kind.json"), &support{prompt: "be kind"}, false)
	exportBundle(t, store, filepath.Join(folder, "kind-again.json.gz"), &support{prompt: "be kind"}, true)
	if err := os.WriteFile(filepath.Join(folder, "README"), []byte("not a bundle"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := &support{prompt: "be kind"}
	rrtest.ReplayFolder(t, folder, a.work)
	if a.tools.Load() != 0 {
		t.Errorf("the replays ran the tool %d times", a.tools.Load())
	}
	rrtest.ReplayFolderAgent(t, folder, func(ctx context.Context) error {
		_, _, err := rrtest.Run(ctx, t, t.TempDir(), "support", a.work)
		return err
	})
}

// TestReplayFolderFailsExactlyTheDivergedBundles runs
// TestReplayFolderChild in a test process of its own, on a folder of a
// bundle recorded with the prompt the child replays with, one recorded
// with another prompt, and one cut short: exactly the last two subtests
// fail, the diverged one with the divergence table, the cut one saying
// that it is damaged.
func TestReplayFolderFailsExactlyTheDivergedBundles(t *testing.T) {
	store, folder := t.TempDir(), t.TempDir()
	exportBundle(t, store, filepath.Join(folder, "a-terse.json"), &support{prompt: "be terse"}, false)
	exportBundle(t, store, filepath.Join(folder, "b-kind.json"), &support{prompt: "be kind"}, false)
	whole, err := os.ReadFile(filepath.Join(folder, "a-terse.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(folder, "c-cut.json"), whole[:len(whole)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestReplayFolderChild$", "-test.v")
	cmd.Env = append(os.Environ(), "RRTEST_FOLDER_CHILD="+folder)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the child passed:\n%s", out)
	}
	for _, want := range []string{
		"--- PASS: TestReplayFolderChild/a-terse.json",
		"--- FAIL: TestReplayFolderChild/b-kind.json",
		"the replay diverged",
		"SEQ  KIND  NAME",
		`"be kind" → "be terse"`,
		"--- FAIL: TestReplayFolderChild/c-cut.json",
		"is damaged",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the child's output lacks %q:\n%s", want, out)
		}
	}
}

// TestReplayFolderChild is run by TestReplayFolderFailsExactlyTheDivergedBundles
// (it does nothing in a test run of its own).
func TestReplayFolderChild(t *testing.T) {
	folder := os.Getenv("RRTEST_FOLDER_CHILD")
	if folder == "" {
		return
	}
	rrtest.ReplayFolder(t, folder, (&support{prompt: "be terse"}).work)
}
