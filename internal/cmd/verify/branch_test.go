package verify

import (
	"strings"
	"testing"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/cmdutil/cmdtest"
	"github.com/agentrr/agentrr/spanlog"
)

// branchedRun is a fan-out cut short: two branches of searches and the
// root's plan, interleaved as they completed.
func branchedRun() []cmdtest.Boundary {
	b := func(branch, q string) cmdtest.Boundary {
		return cmdtest.Boundary{Kind: boundary.KindTool, Name: "search", Branch: branch, Request: map[string]string{"q": q}, Response: "hit"}
	}
	return []cmdtest.Boundary{
		{Kind: boundary.KindLLM, Name: "plan", Request: "go", Response: "fan out"},
		b("call_1", "a"), b("call_2", "b"), b("call_1", "a2"), b("call_2", "b2"), b("call_1", "a3"),
	}
}

// A truncated run with branches: verify says that each branch is a whole
// prefix of itself, and how far each got.
func TestVerifyExplainsTruncatedBranches(t *testing.T) {
	dir, store := cmdtest.EmptyStore(t)
	id := cmdtest.AddRun(t, store, spanlog.RunMeta{Name: "fanout"}, branchedRun(), nil)
	out, _, code := verify(t, &Options{Store: cmdtest.StoreFunc(dir), TraceIDs: []string{id}})
	if code != cmdutil.ExitTruncated {
		t.Fatalf("exit %d, want %d:\n%s", code, cmdutil.ExitTruncated, out)
	}
	text := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{"each of its 3 branches holds a whole prefix of itself", "(root) 0..0", "call_1 0..2", "call_2 0..1"} {
		if !strings.Contains(text, want) {
			t.Errorf("verify output lacks %q:\n%s", want, out)
		}
	}
}
