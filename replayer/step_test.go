package replayer_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/replayer"
)

// stepCall is one boundary call in the step and stop tests.
type stepCall struct {
	kind boundary.Kind
	name string
	req  string
}

var stepScript = []stepCall{
	{boundary.KindID, "uuid", `null`},
	{boundary.KindLLM, "gpt", `{"q":"hi"}`},
	{boundary.KindTool, "search", `{"q":"weather"}`},
	{boundary.KindLLM, "gpt", `{"q":"sunny"}`},
}

func stepRecording() *replayer.Recording {
	rec := &replayer.Recording{TraceID: "fedcba9876543210fedcba9876543210"}
	for i, c := range stepScript {
		resp := fmt.Sprintf(`{"n":%d}`, i)
		r := boundary.Record{
			Seq: int64(i), Kind: c.kind, Name: c.name, Request: []byte(c.req), Response: []byte(resp),
			Signature: boundary.Signature(c.kind, c.name, []byte(c.req)),
		}
		if c.name == "search" {
			r.Response, r.Failed, r.Error = nil, true, "search is down"
		}
		rec.Records = append(rec.Records, r)
	}
	return rec
}

func call(s *replayer.Session, c stepCall) (*boundary.Record, error) {
	defer s.Release("")
	rec, _, err := s.Next3(replayer.Query{Kind: c.kind, Name: c.name, Signature: boundary.Signature(c.kind, c.name, []byte(c.req)), Request: []byte(c.req)})
	return rec, err
}

func TestUntilSeqStopsBeforeTheNextBoundary(t *testing.T) {
	s := replayer.NewSession(stepRecording(), replayer.WithUntilSeq(1))
	s.Begin()
	for i := range 2 {
		if rec, err := call(s, stepScript[i]); err != nil || rec.Seq != int64(i) {
			t.Fatalf("seq %d: %v %v", i, rec, err)
		}
	}
	rec, err := call(s, stepScript[2])
	var se *replayer.StopError
	if rec != nil || !errors.As(err, &se) || !errors.Is(err, replayer.ErrStopped) {
		t.Fatalf("seq 2: %v, %v; want a *StopError", rec, err)
	}
	if se.Seq != 2 || se.Kind != boundary.KindTool || se.Name != "search" || string(se.Request) != `{"q":"weather"}` || se.Divergence != nil {
		t.Errorf("stop %+v", se.Stop)
	}
	if msg := err.Error(); !strings.Contains(msg, "stopped before seq 2") || !strings.Contains(msg, "until seq 1") {
		t.Errorf("message %q", msg)
	}
	// Every later call gets the same error; nothing more is served.
	if _, err2 := call(s, stepScript[3]); err2 != err {
		t.Errorf("after the stop: %v", err2)
	}
	// The agent ends its run with the stop error: that is not an agent
	// error, and the boundaries not requested are not missing.
	rep := s.Finish(fmt.Errorf("turn 2: %w", err))
	if !rep.Faithful() || rep.Served != 2 || rep.Requested != 2 || rep.AgentError != "" || rep.Halted {
		t.Errorf("report %+v", rep)
	}
	if rep.Stopped == nil || rep.Stopped.Seq != 2 || rep.Stopped.Reason != "until seq 1" {
		t.Errorf("report.Stopped %+v", rep.Stopped)
	}
}

func TestUntilSeqReportsAPendingBoundaryThatWouldDiverge(t *testing.T) {
	s := replayer.NewSession(stepRecording(), replayer.WithUntilSeq(0))
	call(s, stepScript[0])
	_, err := call(s, stepCall{boundary.KindLLM, "gpt", `{"q":"bye"}`})
	var se *replayer.StopError
	if !errors.As(err, &se) || se.Divergence == nil || se.Divergence.Reason != analyze.ReasonSignature || se.Divergence.Diff[0].Path != "q" {
		t.Fatalf("stop %v", err)
	}
	// Stopped before the divergence: the replay so far is faithful.
	if rep := s.Finish(err); !rep.Faithful() {
		t.Errorf("report %+v", rep)
	}
}

func TestUntilSeqPastTheEndReplaysEverything(t *testing.T) {
	s := replayer.NewSession(stepRecording(), replayer.WithUntilSeq(10))
	for i, c := range stepScript {
		if _, err := call(s, c); err != nil && i != 2 {
			t.Fatalf("seq %d: %v", i, err)
		}
	}
	// A boundary past the end is a divergence, not a stop.
	_, err := call(s, stepScript[0])
	var de *replayer.DivergenceError
	if !errors.As(err, &de) || de.Reason != analyze.ReasonExtra {
		t.Errorf("past the end: %v", err)
	}
}

func TestStepperSeesEachBoundaryBeforeItIsServed(t *testing.T) {
	var steps []replayer.Step
	actions := []replayer.Action{replayer.Next, replayer.Next, replayer.Continue}
	s := replayer.NewSession(stepRecording(), replayer.WithStepper(func(st replayer.Step) (replayer.Action, error) {
		steps = append(steps, st)
		return actions[len(steps)-1], nil
	}))
	for i, c := range stepScript {
		rec, err := call(s, c)
		if err != nil || rec.Seq != int64(i) {
			t.Fatalf("seq %d: %v %v", i, rec, err)
		}
	}
	if len(steps) != 3 {
		t.Fatalf("%d steps, want 3 (none after continue)", len(steps))
	}
	st := steps[1]
	if st.Seq != 1 || st.Kind != boundary.KindLLM || st.Name != "gpt" || string(st.Request) != `{"q":"hi"}` ||
		st.Recorded == nil || string(st.Recorded.Response) != `{"n":1}` || st.Divergence != nil || st.Total != 4 || st.Recording != stepRecording().TraceID {
		t.Errorf("step 1: %+v (recorded %+v)", st, st.Recorded)
	}
	if r := steps[2].Recorded; r == nil || r.Error != "search is down" || r.Response != nil {
		t.Errorf("step 2 recorded %+v, want the recorded error", r)
	}
	if rep := s.Finish(nil); !rep.Faithful() || rep.Served != 4 || rep.Stopped != nil {
		t.Errorf("report %+v", rep)
	}
}

func TestStepperShowsADivergenceBeforeItHappens(t *testing.T) {
	var seen *analyze.Divergence
	s := replayer.NewSession(stepRecording(), replayer.WithStepper(func(st replayer.Step) (replayer.Action, error) {
		if st.Seq == 1 {
			seen = st.Divergence
		}
		return replayer.Next, nil
	}))
	call(s, stepScript[0])
	_, err := call(s, stepCall{boundary.KindTool, "search", `{}`})
	if seen == nil || seen.Reason != analyze.ReasonKind || seen.ExpectedName != "gpt" {
		t.Fatalf("step saw divergence %+v", seen)
	}
	var de *replayer.DivergenceError
	if !errors.As(err, &de) || de.Seq != 1 {
		t.Errorf("next on a divergent step: %v, want the divergence", err)
	}
}

func TestStepperQuitStops(t *testing.T) {
	s := replayer.NewSession(stepRecording(), replayer.WithStepper(func(st replayer.Step) (replayer.Action, error) {
		if st.Seq == 1 {
			return replayer.Quit, nil
		}
		return replayer.Next, nil
	}))
	call(s, stepScript[0])
	_, err := call(s, stepScript[1])
	if !errors.Is(err, replayer.ErrStopped) {
		t.Fatalf("quit: %v", err)
	}
	rep := s.Finish(err)
	if rep.Stopped == nil || rep.Stopped.Seq != 1 || rep.Stopped.Reason != "quit while stepping" || !rep.Faithful() || rep.Served != 1 {
		t.Errorf("report %+v (stopped %+v)", rep, rep.Stopped)
	}
}

func TestStepperFailureStopsTheReplay(t *testing.T) {
	s := replayer.NewSession(stepRecording(), replayer.WithStepper(func(replayer.Step) (replayer.Action, error) {
		return "", errors.New("control channel closed")
	}))
	_, err := call(s, stepScript[0])
	var se *replayer.StopError
	if !errors.As(err, &se) || !strings.Contains(se.Reason, "control channel closed") {
		t.Fatalf("failing stepper: %v", err)
	}
}

func TestParseAction(t *testing.T) {
	for in, want := range map[string]replayer.Action{"": replayer.Next, "n": replayer.Next, "next": replayer.Next, "c": replayer.Continue, "continue": replayer.Continue, "q": replayer.Quit, "quit": replayer.Quit} {
		if got, err := replayer.ParseAction(in); err != nil || got != want {
			t.Errorf("ParseAction(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := replayer.ParseAction("skip"); err == nil {
		t.Error("ParseAction accepted skip")
	}
}

func TestCodeChangeIsReported(t *testing.T) {
	s := replayer.NewSession(stepRecording())
	s.SetCodeChange("agent code changed since recording: abc → def", true)
	if rep := s.Report(); rep.CodeChange != "agent code changed since recording: abc → def" || !rep.CodeChanged {
		t.Errorf("report %+v", rep)
	}
}
