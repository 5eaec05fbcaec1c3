package replayer_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/replayer"
)

func askA(s *replayer.Session, b bnd) replayer.Answer {
	defer s.Release("")
	return s.Next(replayer.Query{Kind: b.kind, Name: b.name, Signature: b.sig(), Request: []byte(b.req)})
}

// script: llm gpt, tool search, clock now, llm gpt.

func TestForkAtServesBeforeAndGoesLiveAfter(t *testing.T) {
	s := replayer.NewSession(recording(false), replayer.ForkAt(2), replayer.AllLiveTools())
	for i := range 2 {
		if a := askA(s, script[i]); a.Err != nil || a.Live || a.Rec == nil || a.Rec.Seq != int64(i) {
			t.Fatalf("seq %d before the fork point: %+v", i, a)
		}
	}
	for i := 2; i < 4; i++ {
		if a := askA(s, script[i]); !a.Live || a.Rec != nil || a.Err != nil {
			t.Fatalf("seq %d after the fork point: %+v, want live", i, a)
		}
	}
	// After the fork point the agent may do anything: it runs live.
	if a := askA(s, bnd{boundary.KindTool, "refund", `{}`}); !a.Live {
		t.Errorf("a new boundary after the fork point: %+v", a)
	}
	rep := s.Finish(nil)
	if !rep.Faithful() || rep.Fork == nil || rep.Fork.Seq != 2 || rep.Live != 3 || rep.Served != 2 {
		t.Errorf("report %+v fork %+v", rep, rep.Fork)
	}
	if s.Mode() != replayer.ForkMode {
		t.Errorf("mode %q", s.Mode())
	}
}

func TestForkBeforeItsPointStillDiverges(t *testing.T) {
	s := replayer.NewSession(recording(false), replayer.ForkAt(3))
	a := askA(s, bnd{boundary.KindLLM, "gpt", `{"messages":[]}`})
	var de *replayer.DivergenceError
	if !errors.As(a.Err, &de) || a.Live {
		t.Fatalf("a divergence before the fork point: %+v, want it reported", a)
	}
}

func TestContinueLiveForksAtTheFirstDivergence(t *testing.T) {
	s := replayer.NewSession(recording(false), replayer.ContinueLive())
	askA(s, script[0])
	a := askA(s, bnd{boundary.KindTool, "search", `{"q":"rain"}`})
	if a.Err == nil {
		t.Fatalf("tool call after the fork point was not refused: %+v", a)
	}
	var lr *replayer.LiveRefusedError
	if !errors.As(a.Err, &lr) || !errors.Is(a.Err, replayer.ErrLiveRefused) || lr.Name != "search" || !strings.Contains(a.Err.Error(), "--live-tool") {
		t.Errorf("refused: %v", a.Err)
	}
	if a := askA(s, script[2]); !a.Live {
		t.Errorf("clock read after the fork point: %+v, want live", a)
	}
	rep := s.Finish(nil)
	if rep.Fork == nil || rep.Fork.Seq != 1 || rep.Fork.Divergence == nil || rep.Fork.Divergence.Reason != analyze.ReasonSignature || !rep.Faithful() {
		t.Errorf("fork %+v, divergences %+v", rep.Fork, rep.Divergences)
	}
	// The report names the refused call, so that the command can say so
	// (and exit with its own status) whatever the agent made of the error.
	if len(rep.Refused) != 1 || rep.Refused[0] != (analyze.LiveRefusal{Index: 1, Kind: boundary.KindTool, Name: "search"}) {
		t.Errorf("refused %+v", rep.Refused)
	}
}

// An agent that ends its run on an override's path (the tool failed, so it
// gave up) left the recording there: the recorded tail it never asked for
// is not a divergence.
func TestOverrideThenTheAgentEnds(t *testing.T) {
	s := replayer.NewSession(recording(false), replayer.WithOverride(1, replayer.Override{Error: "search is down"}))
	askA(s, script[0])
	if a := askA(s, script[1]); !a.Overridden {
		t.Fatalf("overridden boundary: %+v", a)
	}
	rep := s.Finish(errors.New("search is down"))
	if !rep.Faithful() || rep.Served != 2 || rep.Fork != nil || rep.AgentError != "search is down" {
		t.Errorf("report %+v, divergences %+v", rep, rep.Divergences)
	}
}

func TestOverrideThenForkWhereThePathChanges(t *testing.T) {
	s := replayer.NewSession(recording(false), replayer.WithOverride(1, replayer.Override{Error: "search is down"}), replayer.LiveTools("apologise"))
	askA(s, script[0])
	a := askA(s, script[1])
	if a.Rec == nil || !a.Overridden || !a.Rec.Failed || a.Rec.Error != "search is down" {
		t.Fatalf("overridden boundary: %+v", a)
	}
	// The agent takes its error path: the first boundary that no longer
	// matches is the fork point, and runs live (allowed by name).
	if a := askA(s, bnd{boundary.KindTool, "apologise", `{}`}); !a.Live {
		t.Fatalf("the error path's tool: %+v", a)
	}
	if rep := s.Finish(nil); rep.Fork == nil || rep.Fork.Seq != 2 || !strings.Contains(rep.Fork.Reason, "override") {
		t.Errorf("fork %+v", rep.Fork)
	}
}

func TestForkOptionsAreChecked(t *testing.T) {
	rec := recording(false)
	for name, opt := range map[string]replayer.Option{
		"fork past the end":   replayer.ForkAt(4),
		"negative fork point": replayer.ForkAt(-1),
		"override unknown":    replayer.WithOverride(9, replayer.Override{Error: "x"}),
	} {
		if err := replayer.CheckOptions(rec, opt); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := replayer.CheckOptions(rec, replayer.ForkAt(3), replayer.WithOverride(1, replayer.Override{Error: "x"})); err != nil {
		t.Errorf("good options refused: %v", err)
	}
	for _, bad := range []string{`not json`, `{"response":1,"error":"x"}`, `{}`, `{"answer":1}`} {
		if _, err := replayer.ParseOverride([]byte(bad)); err == nil {
			t.Errorf("override %q accepted", bad)
		}
	}
	if o, err := replayer.ParseOverride([]byte(`{"response": {"b": 1, "a": 2}}`)); err != nil || string(o.Response) != `{"a":2,"b":1}` {
		t.Errorf("override response %s, %v", o.Response, err)
	}
}
