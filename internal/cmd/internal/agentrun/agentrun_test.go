package agentrun_test

import (
	"strings"
	"testing"

	"github.com/agentrr/agentrr/internal/cmd/internal/agentrun"
)

// An agent started by agentrr gets only the replay settings agentrr sets,
// never ones inherited from the shell; the store and everything else pass.
func TestWithoutAgentrrEnv(t *testing.T) {
	got := agentrun.WithoutAgentrrEnv([]string{"PATH=/bin", "AGENTRR_REPLAY=abc", "AGENTRR_REPLAY_UNTIL=3", "AGENTRR_STORE=/s"})
	if strings.Join(got, " ") != "PATH=/bin AGENTRR_STORE=/s" {
		t.Errorf("got %q", got)
	}
}

func TestShellQuote(t *testing.T) {
	got := agentrun.ShellQuote([]string{"./bin/agent", "--task", "it's 17", "a b", "plain-arg_1.0"})
	if want := `./bin/agent --task 'it'\''s 17' 'a b' plain-arg_1.0`; got != want {
		t.Errorf("ShellQuote = %s, want %s", got, want)
	}
}
