package spanlog_test

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/internal/storetest"
	"github.com/agentrr/agentrr/spanlog"
)

func TestRedactArgs(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"agent", "--task", "17", "--max-tokens", "100"}, []string{"agent", "--task", "17", "--max-tokens", "100"}},
		{[]string{"agent", "--api-key", "sk-live-0123456789abcdefghij", "--x"}, []string{"agent", "--api-key", "[redacted]", "--x"}},
		{[]string{"agent", "--api-key=abc", "-token=t0k", "--password", "hunter2"}, []string{"agent", "--api-key=[redacted]", "-token=[redacted]", "--password", "[redacted]"}},
		{[]string{"env", "OPENAI_API_KEY=sk-abc", "AWS_SECRET_ACCESS_KEY=xyz", "HOME=/root", "agent"}, []string{"env", "OPENAI_API_KEY=[redacted]", "AWS_SECRET_ACCESS_KEY=[redacted]", "HOME=/root", "agent"}},
		{[]string{"agent", "--base-url", "https://user:s3cret@api.example.com/v1?api_key=k&model=x"}, []string{"agent", "--base-url", "https://user:[redacted]@api.example.com/v1?api_key=[redacted]&model=x"}},
		{[]string{"agent", "-H", "Authorization: Bearer abcdefghijklmnop"}, []string{"agent", "-H", "Authorization: [redacted]"}},
		{[]string{"agent", "--prompt", "use key sk-ant-api03-abcdefghijklmnopqrstuvwxyz please"}, []string{"agent", "--prompt", "use key [redacted] please"}},
		{[]string{"agent", "--github", "ghp_abcdefghijklmnopqrstuvwxyz0123"}, []string{"agent", "--github", "[redacted]"}},
		{[]string{"agent", "--author", "ann", "--keyword", "x"}, []string{"agent", "--author", "ann", "--keyword", "x"}},
	} {
		got, n := spanlog.RedactArgs(tc.in)
		changed := 0
		for i := range tc.in {
			if tc.in[i] != tc.want[i] {
				changed++
			}
		}
		if !slices.Equal(got, tc.want) || n != changed {
			t.Errorf("RedactArgs(%q) = %q (%d), want %q (%d)", tc.in, got, n, tc.want, changed)
		}
	}
}

// A run's header records the command line that recorded it, redacted: an
// API key given on the command line reaches no store file (the writer
// slot's log included).
func TestRecordedCommandIsRedacted(t *testing.T) {
	const key = "sk-proj-THISISAFAKEKEY0123456789"
	_, dir := openStore(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestRecordingChild$", "-test.timeout=60s", "--", "--openai-api-key", key, "OPENAI_API_KEY="+key, "--task", "7")
	cmd.Env = append(os.Environ(), "SPANLOG_TEST_CHILD=1", "SPANLOG_TEST_KILL=1", "SPANLOG_TEST_STORE="+dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	id := strings.TrimSpace(strings.TrimPrefix(strings.Split(string(out), "\n")[0], "trace: "))
	s, err := spanlog.OpenExisting(dir)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(id)
	if err != nil {
		t.Fatal(err)
	}
	c := info.Command
	if c == nil || c.Executable == "" || c.Dir == "" || c.Redacted != 2 {
		t.Fatalf("header command = %+v", c)
	}
	tail := c.Args[len(c.Args)-5:]
	if want := []string{"--openai-api-key", "[redacted]", "OPENAI_API_KEY=[redacted]", "--task", "7"}; !slices.Equal(tail, want) {
		t.Errorf("recorded arguments end %q, want %q", tail, want)
	}
	storetest.NoSecrets(t, dir, key)
}
