package replayer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// bnd is one boundary as the agent makes it: kind, name and canonical request.
type bnd struct {
	kind boundary.Kind
	name string
	req  string
}

func (b bnd) sig() string { return boundary.Signature(b.kind, b.name, []byte(b.req)) }

func (b bnd) record(seq int64, resp string) boundary.Record {
	return boundary.Record{
		Seq: seq, Index: seq, Group: seq, Kind: b.kind, Name: b.name, Request: []byte(b.req), Response: []byte(resp),
		Signature: b.sig(), PayloadHash: boundary.PayloadHash([]byte(b.req), []byte(resp), ""),
		RequestLength: int64(len(b.req)), ResponseLength: int64(len(resp)),
	}
}

var script = []bnd{
	{boundary.KindLLM, "gpt", `{"messages":[{"content":"hi","role":"user"}]}`},
	{boundary.KindTool, "search", `{"q":"weather"}`},
	{boundary.KindClock, "now", `null`},
	{boundary.KindLLM, "gpt", `{"messages":[{"content":"sunny","role":"tool"}]}`},
}

func recording(truncated bool) *replayer.Recording {
	rec := &replayer.Recording{TraceID: "0123456789abcdef0123456789abcdef", Truncated: truncated}
	for i, b := range script {
		rec.Records = append(rec.Records, b.record(int64(i), fmt.Sprintf(`{"answer":%d}`, i)))
	}
	return rec
}

func next(s *replayer.Session, b bnd) (*boundary.Record, *analyze.Divergence, error) {
	defer s.Release("")
	return s.Next3(replayer.Query{Kind: b.kind, Name: b.name, Signature: b.sig(), Request: []byte(b.req)})
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]replayer.Mode{"": replayer.Strict, "strict": replayer.Strict, "observe": replayer.Observe} {
		if got, err := replayer.ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := replayer.ParseMode("Strict"); err == nil {
		t.Error("ParseMode accepted an unknown mode")
	}
}

func TestFaithfulSession(t *testing.T) {
	s := replayer.NewSession(recording(false))
	if s.Mode() != string(replayer.Strict) {
		t.Errorf("default mode %s", s.Mode())
	}
	if err := s.Begin(); err != nil {
		t.Fatal(err)
	}
	s.SetReplayTrace("replay-trace")
	if err := s.Begin(); err == nil {
		t.Error("a session began a second run")
	}
	for i, b := range script {
		rec, div, err := next(s, b)
		if err != nil || div != nil || rec == nil || rec.Seq != int64(i) || string(rec.Response) != fmt.Sprintf(`{"answer":%d}`, i) {
			t.Fatalf("boundary %d: %+v %v %v", i, rec, div, err)
		}
	}
	rep := s.Finish(nil)
	if !rep.Faithful() || rep.Served != 4 || rep.Requested != 4 || rep.Recorded != 4 || rep.ReplayTrace != "replay-trace" || !rep.Finished || rep.Verdict() != "faithful" {
		t.Errorf("report %+v", rep)
	}
}

func TestStrictHalts(t *testing.T) {
	s := replayer.NewSession(recording(false))
	next(s, script[0])
	changed := bnd{boundary.KindTool, "search", `{"q":"rain"}`}
	_, _, err := next(s, changed)
	var de *replayer.DivergenceError
	if !errors.As(err, &de) {
		t.Fatalf("changed request: %v, want *DivergenceError", err)
	}
	if de.Seq != 1 || de.Reason != analyze.ReasonSignature || len(de.Diff) != 1 || de.Diff[0].Path != "q" {
		t.Errorf("divergence %+v", de.Divergence)
	}
	if msg := err.Error(); !strings.Contains(msg, "seq 1") || !strings.Contains(msg, "signature mismatch") || !strings.Contains(msg, "q changed") {
		t.Errorf("message %q", msg)
	}
	// Every later call, even one that would match, gets the same error.
	for _, b := range script {
		rec, _, err2 := next(s, b)
		if err2 != err || rec != nil {
			t.Errorf("after the halt: %v, %v; want the same error", rec, err2)
		}
	}
	rep := s.Finish(errors.New("agent gave up"))
	if !rep.Halted || len(rep.Divergences) != 1 || rep.Requested != 2 || rep.AgentError != "agent gave up" {
		t.Errorf("report %+v", rep)
	}
}

func TestObserveCollectsEveryDivergence(t *testing.T) {
	s := replayer.NewSession(recording(false), replayer.WithMode(replayer.Observe))
	// seq 0: another request to the same model is served, and reported.
	rec, div, err := next(s, bnd{boundary.KindLLM, "gpt", `{"messages":[{"content":"hello","role":"user"}]}`})
	if err != nil || rec == nil || div == nil || div.Reason != analyze.ReasonSignature || rec.Seq != 0 {
		t.Fatalf("seq 0: %v %+v %v", rec, div, err)
	}
	// seq 1: another tool cannot be served: an error, but no halt.
	_, _, err = next(s, bnd{boundary.KindTool, "fetch", `{"q":"weather"}`})
	var de *replayer.DivergenceError
	if !errors.As(err, &de) || de.Reason != analyze.ReasonKind || de.Seq != 1 {
		t.Fatalf("seq 1: %v", err)
	}
	// seq 2 matches and is served.
	if rec, div, err := next(s, script[2]); err != nil || div != nil || rec.Seq != 2 {
		t.Fatalf("seq 2: %v %v %v", rec, div, err)
	}
	rep := s.Finish(nil)
	if rep.Halted || len(rep.Divergences) != 3 || rep.Served != 2 {
		t.Fatalf("report %+v", rep)
	}
	last := rep.Divergences[2]
	if last.Reason != analyze.ReasonMissing || last.Seq != 3 || last.Count != 1 {
		t.Errorf("missing tail %+v", last)
	}
	// Finish is idempotent: the missing tail is reported once.
	if rep := s.Finish(nil); len(rep.Divergences) != 3 {
		t.Errorf("second Finish: %d divergences", len(rep.Divergences))
	}
}

func TestPastTheEnd(t *testing.T) {
	for _, truncated := range []bool{false, true} {
		s := replayer.NewSession(recording(truncated))
		for _, b := range script {
			next(s, b)
		}
		_, _, err := next(s, script[0])
		var de *replayer.DivergenceError
		if !errors.As(err, &de) || de.Seq != 4 {
			t.Fatalf("truncated=%v: %v", truncated, err)
		}
		want := analyze.ReasonExtra
		if truncated {
			want = analyze.ReasonTruncated
		}
		if de.Reason != want {
			t.Errorf("truncated=%v: reason %s, want %s", truncated, de.Reason, want)
		}
		if rep := s.Finish(err); rep.RecordingTruncated != truncated {
			t.Errorf("report RecordingTruncated = %v", rep.RecordingTruncated)
		}
	}
}

func TestReportFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "report.json")
	s := replayer.NewSession(recording(false), replayer.WithReportFile(path))
	s.Begin()
	s.SetReplayTrace("r")
	next(s, bnd{boundary.KindClock, "now", `null`})
	// Written at the divergence, before the run ends.
	rep := readReportFile(t, path)
	if len(rep.Divergences) != 1 || rep.Divergences[0].Reason != analyze.ReasonKind || rep.Finished {
		t.Fatalf("report file after the divergence: %+v", rep)
	}
	s.Finish(nil)
	if rep := readReportFile(t, path); !rep.Finished || rep.ReplayTrace != "r" {
		t.Errorf("report file after Finish: %+v", rep)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".report-*")); len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func readReportFile(t *testing.T, path string) analyze.Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep analyze.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report file %s: %v", b, err)
	}
	return rep
}

func TestReplayNeedsARun(t *testing.T) {
	rec := recording(false)
	if _, err := replayer.Replay(context.Background(), rec, func(context.Context) error { return nil }); err == nil {
		t.Error("Replay of an agent that never started a run succeeded")
	}
	boom := errors.New("boom")
	if _, err := replayer.Replay(context.Background(), rec, func(context.Context) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("Replay of an agent that failed before starting: %v, want its error", err)
	}
	// With a run begun, the agent's error goes in the report.
	rep, err := replayer.Replay(context.Background(), rec, func(ctx context.Context) error {
		s := replayer.SessionFromContext(ctx)
		if s == nil {
			t.Fatal("no session in the agent's context")
		}
		s.Begin()
		return boom
	})
	if err != nil || rep.AgentError != "boom" || rep.Faithful() {
		t.Errorf("report %+v, %v; want the agent error and the missing tail", rep, err)
	}
	if replayer.SessionFromContext(context.Background()) != nil {
		t.Error("SessionFromContext of a bare context")
	}
}

// storeRun writes records into a store run directly.
func storeRun(t *testing.T, s *spanlog.Store, id string, recs []boundary.Record, finish bool) {
	t.Helper()
	w, err := s.CreateRun(spanlog.RunMeta{TraceID: id, Name: "r", Start: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	tid, _ := spanlog.ParseTraceID(id)
	for _, r := range recs {
		_, err := w.Append(func(seq int64) ([]byte, error) {
			td := ptrace.NewTraces()
			sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
			sp.SetTraceID(pcommon.TraceID(tid))
			sp.SetSpanID(pcommon.SpanID{1, 0, 0, 0, 0, 0, 0, byte(seq)})
			a := sp.Attributes()
			a.PutStr(boundary.AttrKind, string(r.Kind))
			a.PutInt(boundary.AttrSeq, seq)
			a.PutStr(boundary.AttrName, r.Name)
			a.PutStr(boundary.AttrRequest, string(r.Request))
			a.PutStr(boundary.AttrResponse, string(r.Response))
			a.PutStr(boundary.AttrSignature, r.Signature)
			a.PutStr(boundary.AttrPayloadHash, r.PayloadHash)
			if r.Damage != "" {
				a.PutStr(boundary.AttrDamage, r.Damage)
			}
			return (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if finish {
		err = w.Finish(spanlog.RunEnd{})
	} else {
		err = w.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	s, err := spanlog.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	recs := recording(false).Records
	const (
		complete  = "aa000000000000000000000000000001"
		truncated = "bb000000000000000000000000000002"
		damaged   = "cc000000000000000000000000000003"
		twin      = "aa000000000000000000000000000004"
	)
	storeRun(t, s, complete, recs, true)
	storeRun(t, s, twin, recs[:1], true)
	storeRun(t, s, truncated, recs[:2], false)
	bad := append([]boundary.Record{}, recs...)
	bad[2].Damage = "response cut from 900 to 64 bytes by an attribute value length limit"
	storeRun(t, s, damaged, bad, true)

	rec, err := replayer.Load(s, "aa000000000000000000000000000001")
	if err != nil || rec.Truncated || len(rec.Records) != 4 || rec.TraceID != complete || rec.Info.Status != spanlog.StatusComplete {
		t.Errorf("complete run: %+v, %v", rec, err)
	}
	rec, err = replayer.Load(s, "bb")
	if err != nil || !rec.Truncated || len(rec.Records) != 2 || rec.TraceID != truncated {
		t.Errorf("truncated run by prefix: %+v, %v", rec, err)
	}
	_, err = replayer.Load(s, "cc")
	var de *replayer.DamagedError
	if !errors.Is(err, replayer.ErrDamaged) || !errors.As(err, &de) || de.TraceID != damaged || !strings.Contains(de.Reason, "cut from 900") {
		t.Errorf("damaged run: %v", err)
	}
	var amb *spanlog.AmbiguousError
	if _, err := replayer.Load(s, "aa"); !errors.As(err, &amb) {
		t.Errorf("ambiguous prefix: %v", err)
	}
	if _, err := replayer.Load(s, "dd"); !errors.Is(err, spanlog.ErrNotFound) {
		t.Errorf("unknown run: %v", err)
	}

	live := "ee000000000000000000000000000005"
	w, err := s.CreateRun(spanlog.RunMeta{TraceID: live})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := replayer.Load(s, live); !errors.Is(err, spanlog.ErrRecording) {
		t.Errorf("run being recorded: %v, want ErrRecording", err)
	}
}

func TestDivergenceMessages(t *testing.T) {
	for _, c := range []struct {
		d    analyze.Divergence
		want []string
	}{
		{analyze.Divergence{Seq: 2, Reason: analyze.ReasonKind, ExpectedKind: "llm", ExpectedName: "gpt", ObservedKind: "clock", ObservedName: "now"}, []string{"seq 2", "recorded llm gpt", "made clock now"}},
		{analyze.Divergence{Seq: 7, Reason: analyze.ReasonExtra, ObservedKind: "tool", ObservedName: "x"}, []string{"seq 7", "tool x", "past the end of the recording"}},
		{analyze.Divergence{Seq: 3, Reason: analyze.ReasonTruncated, ObservedKind: "tool", ObservedName: "x"}, []string{"seq 3", "truncated recording"}},
		{analyze.Divergence{Seq: 6, Reason: analyze.ReasonMissing, ExpectedKind: "llm", ExpectedName: "gpt", Count: 2}, []string{"seq 6", "2 recorded boundaries were never requested", "llm gpt"}},
	} {
		msg := (&replayer.DivergenceError{Divergence: c.d}).Error()
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: message %q lacks %q", c.d.Reason, msg, w)
			}
		}
	}
}
