package main_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/internal/cmdutil/cmdtest"
)

// binaries returns the agentrr command (this test binary, which TestMain
// installs on $PATH as agentrr), the example agent and a copy of it whose
// system prompt was edited (via a build overlay), built once for all tests
// by exampleBin.
func binaries(t *testing.T) (agentrr, agent, edited string) {
	t.Helper()
	bin := exampleBin(t)
	agentrr, err := exec.LookPath("agentrr")
	if err != nil {
		t.Fatal(err)
	}
	return agentrr, filepath.Join(bin, "deterministic_support"), filepath.Join(bin, "deterministic_support"+editedSuffix)
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs name with args against the store and returns what it wrote and
// its exit status.
func run(t *testing.T, store string, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "AGENTRR_STORE="+store)
	return runCmd(t, cmd)
}

// runCmd runs cmd, whose output must not be set, and returns what it wrote
// and its exit status. A command that cannot be run fails t.
func runCmd(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errOut.String(), code}
}

// record runs agent with args against the store and returns what it wrote
// and the id of the run it printed. An agent that fails or prints no run
// id fails t.
func record(t *testing.T, store, agent string, args ...string) (rec result, id string) {
	t.Helper()
	rec = run(t, store, agent, args...)
	if rec.code != 0 {
		t.Fatalf("recording %s exited %d:\n%s%s", filepath.Base(agent), rec.code, rec.stdout, rec.stderr)
	}
	m := runIDLine.FindStringSubmatch(rec.stdout)
	if m == nil {
		t.Fatalf("%s printed no run_id:\n%s", filepath.Base(agent), rec.stdout)
	}
	return rec, m[1]
}

func TestRecordReplayDivergeThroughTheCLI(t *testing.T) {
	agentrr, agent, edited := binaries(t)
	store := filepath.Join(t.TempDir(), "store")

	rec, id := record(t, store, agent)

	runs := run(t, store, agentrr, "runs")
	if runs.code != 0 || !strings.Contains(runs.stdout, id) || !strings.Contains(runs.stdout, "complete") {
		t.Fatalf("agentrr runs (exit %d):\n%s%s", runs.code, runs.stdout, runs.stderr)
	}

	ok := run(t, store, agentrr, "replay", "--from-trace", id[:8], "--", agent)
	if ok.code != 0 || !strings.Contains(ok.stdout, "faithful") {
		t.Fatalf("faithful replay exited %d:\n%s%s", ok.code, ok.stdout, ok.stderr)
	}
	answer := func(s string) string { return regexp.MustCompile(`(?m)^answer: .*$`).FindString(s) }
	if answer(ok.stdout) == "" || answer(ok.stdout) != answer(rec.stdout) {
		t.Errorf("replayed answer %q, recorded %q", answer(ok.stdout), answer(rec.stdout))
	}

	bad := run(t, store, agentrr, "replay", "--from-trace", id, "--", edited)
	if bad.code != 1 {
		t.Fatalf("edited replay exited %d, want 1:\n%s%s", bad.code, bad.stdout, bad.stderr)
	}
	cmdtest.CheckContains(t, bad.stdout, "diverged", "halted at seq 2", "messages[0].content", "helpful", "terse")

	js := run(t, store, agentrr, "replay", "--from-trace", id, "--observe", "--json", "--", edited)
	var rep struct {
		Verdict     string `json:"verdict"`
		Divergences []struct {
			Seq int `json:"seq"`
		} `json:"divergences"`
	}
	if err := json.Unmarshal([]byte(js.stdout), &rep); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, js.stdout)
	}
	if js.code != 1 || rep.Verdict != "diverged" || len(rep.Divergences) != 3 {
		t.Errorf("observe --json: exit %d, verdict %q, %d divergences; want 1, diverged, 3", js.code, rep.Verdict, len(rep.Divergences))
	}
}

func TestCLIErrors(t *testing.T) {
	agentrr, agent, _ := binaries(t)
	empty := filepath.Join(t.TempDir(), "nothing-here")
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"runs"}, 2, "no agentrr store at"},
		{[]string{"replay", "--", agent}, 2, "give the run to replay"},
		{[]string{"replay", "--from-trace", "abc"}, 2, "no agentrr store at"},
		{[]string{"frobnicate"}, 2, "unknown command"},
	} {
		r := run(t, empty, agentrr, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("agentrr %s: exit %d, stderr %q; want exit %d mentioning %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.code, tc.msg)
		}
	}

	store := filepath.Join(t.TempDir(), "store")
	record(t, store, agent)
	record(t, store, agent)
	for _, tc := range []struct {
		id, msg string
	}{
		{"ffffffffffffffffffffffffffffffff", "no such run"},
		{"zz", "not hexadecimal"},
		{"", "give the run to replay"},
	} {
		r := run(t, store, agentrr, "replay", "--from-trace", tc.id, "--", agent)
		if r.code != 2 || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("replay --from-trace %q: exit %d, stderr %q; want exit 2 mentioning %q", tc.id, r.code, r.stderr, tc.msg)
		}
	}
}
