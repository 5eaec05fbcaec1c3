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

func run(t *testing.T, store string, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "AGENTRR_STORE="+store)
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

func TestRecordReplayDivergeThroughTheCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	agentrr, agent, edited := binaries(t)
	store := filepath.Join(t.TempDir(), "store")

	rec := run(t, store, agent)
	if rec.code != 0 {
		t.Fatalf("recording agent exited %d: %s", rec.code, rec.stderr)
	}
	m := regexp.MustCompile(`(?m)^run_id: ([0-9a-f]{32})$`).FindStringSubmatch(rec.stdout)
	if m == nil {
		t.Fatalf("agent printed no run_id:\n%s", rec.stdout)
	}
	id := m[1]

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
	for _, want := range []string{"diverged", "halted at seq 2", "messages[0].content", "helpful", "terse"} {
		if !strings.Contains(bad.stdout, want) {
			t.Errorf("divergence report lacks %q:\n%s", want, bad.stdout)
		}
	}

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
	if testing.Short() {
		t.Skip("builds binaries")
	}
	agentrr, agent, _ := binaries(t)
	empty := filepath.Join(t.TempDir(), "nothing-here")
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"runs"}, 2, "no agentrr store at"},
		{[]string{"replay", "--", agent}, 2, "give the run to replay"},
		// Without a command after --, the recorded one is run: the store
		// is looked at first.
		{[]string{"replay", "--from-trace", "abc"}, 2, "no agentrr store at"},
		{[]string{"frobnicate"}, 2, "unknown command"},
	} {
		r := run(t, empty, agentrr, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("agentrr %s: exit %d, stderr %q; want exit %d mentioning %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.code, tc.msg)
		}
	}

	store := filepath.Join(t.TempDir(), "store")
	a := run(t, store, agent)
	b := run(t, store, agent)
	if a.code != 0 || b.code != 0 {
		t.Fatal("recording failed")
	}
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
