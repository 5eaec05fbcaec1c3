package spanlog_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/storetest"
	"github.com/agentrr/agentrr/spanlog"
)

// ingestRun builds the OTLP spans of a run as an agent in another language
// would send them: boundary spans with the agentrr attributes, and a root
// span with agentrr.run and agentrr.boundaries.
type ingestRun struct {
	trace pcommon.TraceID
	root  pcommon.SpanID
	n     int
	start time.Time
}

func newIngestRun(t *testing.T, n int) ingestRun {
	var tid pcommon.TraceID
	copy(tid[:], mustHex(t, newTraceID(t)))
	var root pcommon.SpanID
	copy(root[:], tid[8:])
	return ingestRun{trace: tid, root: root, n: n, start: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	id, err := spanlog.ParseTraceID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id[:]
}

// request returns the OTLP traces holding the given seqs, and the root
// span if withRoot.
func (r ingestRun) request(withRoot bool, seqs ...int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "py-agent")
	rs.Resource().Attributes().PutInt("process.pid", 4242)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("agentrr-python")
	for _, seq := range seqs {
		r.boundary(ss.Spans().AppendEmpty(), seq)
	}
	if withRoot {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(r.trace)
		sp.SetSpanID(r.root)
		sp.SetName("support")
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(r.start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(r.start.Add(time.Second)))
		sp.Attributes().PutStr(boundary.AttrRun, "support")
		sp.Attributes().PutInt(boundary.AttrBoundaries, int64(r.n))
	}
	return td
}

func (r ingestRun) spanID(seq int) pcommon.SpanID {
	return pcommon.SpanID{0xb, 0, 0, 0, 0, 0, 0, byte(seq + 1)}
}

func (r ingestRun) boundary(sp ptrace.Span, seq int) {
	req := []byte(fmt.Sprintf(`{"q":%d}`, seq))
	resp := []byte(fmt.Sprintf(`{"a":%d}`, seq*seq))
	sp.SetTraceID(r.trace)
	sp.SetSpanID(r.spanID(seq))
	sp.SetParentSpanID(r.root)
	sp.SetName("execute_tool square")
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(r.start.Add(time.Duration(seq) * time.Millisecond)))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(r.start.Add(time.Duration(seq)*time.Millisecond + 500*time.Microsecond)))
	storetest.PutToolAttrs(sp.Attributes(), int64(seq), "square", req, resp)
}

func TestIngestAcrossRequestsInAnyOrder(t *testing.T) {
	s, _ := openStore(t)
	r := newIngestRun(t, 4)
	id := r.trace.String()

	res, err := s.Ingest(r.request(false, 0, 1))
	if err != nil || res.Stored != 2 || res.Runs != 1 {
		t.Fatalf("first request: %+v, %v", res, err)
	}
	if info, _ := s.Info(id); info.Status != spanlog.StatusTruncated {
		t.Errorf("after seq 0-1 without the root: %s, want truncated", info.Status)
	}
	res, err = s.Ingest(r.request(true, 3))
	if err != nil || res.Ended != 1 {
		t.Fatalf("second request: %+v, %v", res, err)
	}
	if info, _ := s.Info(id); info.Status != spanlog.StatusDamaged {
		t.Errorf("with seq 2 still missing: %s, want damaged (a hole)", info.Status)
	}
	if _, err := s.Ingest(r.request(false, 2)); err != nil {
		t.Fatal(err)
	}
	run, err := s.ReadRun(id)
	if err != nil {
		t.Fatal(err)
	}
	if run.Info.Status != spanlog.StatusComplete || len(run.Records) != 4 {
		t.Fatalf("run: %s (%s), %d records", run.Info.Status, run.Info.Reason, len(run.Records))
	}
	if run.Info.Name != "support" || run.Info.Service != "py-agent" || run.Info.PID != 4242 || !run.Info.Start.Equal(r.start) {
		t.Errorf("header: %+v", run.Info.RunMeta)
	}
	for i, rec := range run.Records {
		if rec.Seq != int64(i) || rec.SpanID != r.spanID(i) || string(rec.Response) != fmt.Sprintf(`{"a":%d}`, i*i) {
			t.Errorf("record %d: seq %d span %s response %s", i, rec.Seq, rec.SpanID, rec.Response)
		}
	}

	// The same spans again (a retried export): nothing changes.
	res, err = s.Ingest(r.request(true, 0, 1, 2, 3))
	if err != nil || res.Stored != 0 || res.Duplicates != 4 || res.Ended != 0 {
		t.Fatalf("repeated request: %+v, %v", res, err)
	}
	if info, _ := s.Info(id); info.Status != spanlog.StatusComplete {
		t.Errorf("after a repeated request: %s", info.Status)
	}
}

func TestIngestRefusesTheWholeBatch(t *testing.T) {
	s, _ := openStore(t)
	good := newIngestRun(t, 1)
	bad := newIngestRun(t, 1)
	for _, tc := range []struct {
		name  string
		spoil func(ptrace.Span)
		want  string
	}{
		{"no seq", func(sp ptrace.Span) { sp.Attributes().Remove(boundary.AttrSeq) }, "no agentrr.seq"},
		{"cut payload", func(sp ptrace.Span) {
			sp.Attributes().PutStr(boundary.AttrRequest, `{"q":`)
			sp.Attributes().PutBool(boundary.AttrRequest+".truncated", true)
		}, "cut by an attribute length limit"},
		{"wrong hash", func(sp ptrace.Span) { sp.Attributes().PutStr(boundary.AttrResponse, `{"a":1}`) }, "payload hash mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			td := good.request(true, 0)
			b := bad.request(true, 0)
			tc.spoil(b.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0))
			b.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
			_, err := s.Ingest(td)
			var ie *spanlog.IngestError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nothing stored") {
				t.Fatalf("Ingest: %v; want an *IngestError saying %q", err, tc.want)
			}
			if ids, _ := s.TraceIDs(); len(ids) != 0 {
				t.Errorf("a refused batch left runs behind: %v", ids)
			}
		})
	}
}

func TestIngestRefusesAClashWithWhatIsStored(t *testing.T) {
	s, _ := openStore(t)
	r := newIngestRun(t, 2)
	if _, err := s.Ingest(r.request(false, 0)); err != nil {
		t.Fatal(err)
	}
	td := r.request(false, 0, 1)
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetSpanID(pcommon.SpanID{9, 9, 9, 9, 9, 9, 9, 9})
	_, err := s.Ingest(td)
	var ie *spanlog.IngestError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "seq 0 is already stored with span") {
		t.Fatalf("Ingest of a clashing seq: %v", err)
	}
	run, err := s.ReadRun(r.trace.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Records) != 1 {
		t.Errorf("seq 1 of the refused batch was stored: %d records", len(run.Records))
	}
}

func TestIngestIntoARunBeingRecorded(t *testing.T) {
	s, _ := openStore(t)
	r := newIngestRun(t, 1)
	w, err := s.CreateRun(spanlog.RunMeta{TraceID: r.trace.String(), Name: "live", Start: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	_, err = s.Ingest(r.request(true, 0))
	if !errors.Is(err, spanlog.ErrRecording) {
		t.Fatalf("Ingest into a run held by a recorder: %v, want ErrRecording", err)
	}
}

func TestIngestIgnoresOtherSpans(t *testing.T) {
	s, _ := openStore(t)
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{1})
	sp.SetSpanID(pcommon.SpanID{1})
	sp.SetName("GET /health")
	res, err := s.Ingest(td)
	if err != nil || res.Ignored != 1 || res.Runs != 0 {
		t.Fatalf("Ingest of a plain span: %+v, %v", res, err)
	}
	if ids, _ := s.TraceIDs(); len(ids) != 0 {
		t.Errorf("runs created for a plain span: %v", ids)
	}
}
