package replayer_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/exporter"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// otlpAgent makes four boundaries: a tool call, a failed tool call, a clock
// read and an LLM call.
func otlpAgent(ctx context.Context, tp *otelrr.TracerProvider) error {
	ctx, run, err := tp.StartRun(ctx, "otlp-agent")
	if err != nil {
		return err
	}
	work := func() error {
		if _, err := otelrr.Tool(ctx, "lookup", map[string]int{"order": 1}, func(context.Context, map[string]int) (string, error) { return "shipped", nil }); err != nil {
			return err
		}
		otelrr.Tool(ctx, "lookup", map[string]int{"order": 2}, func(context.Context, map[string]int) (string, error) { return "", errors.New("order 2 not found") })
		if _, err := otelrr.Now(ctx); err != nil {
			return err
		}
		_, err := otelrr.LLM(ctx, "fake", "m-1", map[string]string{"prompt": "é ünïcode"}, func(context.Context, map[string]string) (string, error) { return "done", nil })
		return err
	}
	werr := work()
	if err := run.End(werr); err != nil {
		return err
	}
	return werr
}

// recordOTLP records otlpAgent and returns the stored run.
func recordOTLP(t *testing.T) (dir string, run *spanlog.Run) {
	t.Helper()
	dir = t.TempDir()
	ctx := context.Background()
	tp, err := otelrr.NewTracerProvider(ctx, otelrr.WithStore(dir), otelrr.WithServiceName("otlp-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Shutdown(ctx)
	if err := otlpAgent(ctx, tp); err != nil {
		t.Fatal(err)
	}
	store, err := spanlog.OpenExisting(dir)
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := store.TraceIDs()
	if run, err = store.ReadRun(ids[0]); err != nil {
		t.Fatal(err)
	}
	return dir, run
}

func otlpJSON(t *testing.T, td ptrace.Traces) []byte {
	t.Helper()
	b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// spans returns the span slice of a RunTraces result (root first).
func spans(td ptrace.Traces) ptrace.SpanSlice {
	return td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
}

func sameRecords(t *testing.T, got *replayer.Recording, want *spanlog.Run) {
	t.Helper()
	if len(got.Records) != len(want.Records) {
		t.Fatalf("%d records, want %d", len(got.Records), len(want.Records))
	}
	for i, r := range got.Records {
		w := want.Records[i]
		if r.Seq != w.Seq || r.Kind != w.Kind || r.Name != w.Name || r.Signature != w.Signature ||
			!bytes.Equal(r.Request, w.Request) || !bytes.Equal(r.Response, w.Response) || r.Failed != w.Failed || r.Error != w.Error {
			t.Errorf("seq %d: got %+v\nwant %+v", w.Seq, r, w)
		}
	}
}

func TestLoadOTLPJSONShapes(t *testing.T) {
	_, run := recordOTLP(t)
	id := run.Info.TraceID
	full := otlpJSON(t, exporter.RunTraces(run.Info, run.Records))

	// The Collector's file exporter: one object per line, spans spread over
	// lines, some repeated.
	first, second := exporter.RunTraces(run.Info, run.Records), exporter.RunTraces(run.Info, run.Records)
	spans(first).RemoveIf(func(sp ptrace.Span) bool { v, _ := sp.Attributes().Get(boundary.AttrSeq); return v.Int() >= 2 })
	var jsonl bytes.Buffer
	jsonl.Write(otlpJSON(t, first))
	jsonl.WriteByte('\n')
	jsonl.Write(otlpJSON(t, second))
	jsonl.WriteByte('\n')

	for name, input := range map[string][]byte{
		"TracesData":      full,
		"Jaeger API v3":   append(append([]byte(`{"result":`), full...), '}'),
		"file exporter":   jsonl.Bytes(),
		"pretty, two ids": append(append([]byte("  \n"), full...), []byte("\n\n")...),
	} {
		t.Run(name, func(t *testing.T) {
			for _, want := range []string{id, id[:8], ""} {
				rec, err := replayer.LoadOTLPJSON(bytes.NewReader(input), want)
				if err != nil {
					t.Fatalf("LoadOTLPJSON(%q): %v", want, err)
				}
				if rec.TraceID != id || rec.Truncated {
					t.Fatalf("trace %s, truncated %v", rec.TraceID, rec.Truncated)
				}
				sameRecords(t, rec, run)
				if rec.Info.Name != "otlp-agent" || rec.Info.Service != "otlp-test" || rec.Info.Ended == nil || rec.Info.Ended.Boundaries != 4 || rec.Info.Status != spanlog.StatusComplete {
					t.Errorf("info: %+v", rec.Info)
				}
			}
		})
	}
}

func TestLoadOTLPJSONRefusesIncompleteTraces(t *testing.T) {
	_, run := recordOTLP(t)
	for _, tc := range []struct {
		name  string
		spoil func(ptrace.SpanSlice)
		want  []string
	}{
		{"a boundary dropped", func(s ptrace.SpanSlice) {
			s.RemoveIf(func(sp ptrace.Span) bool { v, _ := sp.Attributes().Get(boundary.AttrSeq); return v.Int() == 1 })
		}, []string{"boundaries missing: seq 1 (the run root span counts 4)"}},
		{"the tail dropped", func(s ptrace.SpanSlice) {
			s.RemoveIf(func(sp ptrace.Span) bool { v, _ := sp.Attributes().Get(boundary.AttrSeq); return v.Int() >= 2 })
		}, []string{"seq 2-3"}},
		{"no seq", func(s ptrace.SpanSlice) { s.At(2).Attributes().Remove(boundary.AttrSeq) }, []string{"without a usable agentrr.seq", "seq 1"}},
		{"cut when forwarded", func(s ptrace.SpanSlice) {
			a := s.At(4).Attributes()
			v, _ := a.Get(boundary.AttrRequest)
			a.PutStr(boundary.AttrRequest, v.Str()[:5])
			a.PutBool(boundary.AttrRequest+exporter.TruncatedSuffix, true)
		}, []string{"seq 3: request cut when forwarded (agentrr.request.truncated)"}},
		{"changed payload", func(s ptrace.SpanSlice) {
			s.At(1).Attributes().PutStr(boundary.AttrResponse, `"shipper"` /* same length, other bytes */)
		}, []string{"seq 0 is damaged: payload hash mismatch"}},
		{"two spans one seq", func(s ptrace.SpanSlice) {
			sp := s.AppendEmpty()
			s.At(1).CopyTo(sp)
			sp.SetSpanID([8]byte{1, 2, 3, 4, 5, 6, 7, 8})
		}, []string{"seq 0 is carried by two spans"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			td := exporter.RunTraces(run.Info, run.Records)
			tc.spoil(spans(td))
			_, err := replayer.LoadOTLPJSON(bytes.NewReader(otlpJSON(t, td)), run.Info.TraceID)
			var inc *replayer.IncompleteError
			if !errors.As(err, &inc) || !errors.Is(err, replayer.ErrDamaged) {
				t.Fatalf("got %v, want an *IncompleteError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestLoadOTLPJSONWithoutRootIsTruncated(t *testing.T) {
	dir, run := recordOTLP(t)
	td := exporter.RunTraces(run.Info, run.Records)
	spans(td).RemoveIf(func(sp ptrace.Span) bool { _, ok := sp.Attributes().Get(boundary.AttrRun); return ok })
	spans(td).RemoveIf(func(sp ptrace.Span) bool { v, _ := sp.Attributes().Get(boundary.AttrSeq); return v.Int() == 3 })
	rec, err := replayer.LoadOTLPJSON(bytes.NewReader(otlpJSON(t, td)), "")
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Truncated || len(rec.Records) != 3 || rec.Info.Status != spanlog.StatusTruncated {
		t.Fatalf("truncated %v, %d records, %s", rec.Truncated, len(rec.Records), rec.Info.Status)
	}
	// It replays as a prefix: the boundary past it is reported, not served.
	rep, err := replayer.Replay(context.Background(), rec, func(ctx context.Context) error {
		tp, err := otelrr.NewTracerProvider(ctx, otelrr.WithStore(dir), otelrr.WithServiceName("otlp-test"))
		if err != nil {
			return err
		}
		defer tp.Shutdown(ctx)
		return otlpAgent(ctx, tp)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Divergences) != 1 || rep.Divergences[0].Seq != 3 || !rep.RecordingTruncated {
		t.Errorf("replay of a trace without its root: %+v", rep)
	}
}

func TestLoadOTLPJSONPicksTheRun(t *testing.T) {
	_, a := recordOTLP(t)
	_, b := recordOTLP(t)
	var in bytes.Buffer
	in.Write(otlpJSON(t, exporter.RunTraces(a.Info, a.Records)))
	in.Write(otlpJSON(t, exporter.RunTraces(b.Info, b.Records)))
	if _, err := replayer.LoadOTLPJSON(bytes.NewReader(in.Bytes()), ""); err == nil {
		t.Error("no trace id with two runs in the input: want an error")
	} else if !strings.Contains(err.Error(), a.Info.TraceID) || !strings.Contains(err.Error(), b.Info.TraceID) {
		t.Errorf("error does not list the runs: %v", err)
	}
	if _, err := replayer.LoadOTLPJSON(bytes.NewReader(in.Bytes()), "ffffffff"); !errors.Is(err, spanlog.ErrNotFound) {
		t.Errorf("unknown id: %v, want ErrNotFound", err)
	}
	rec, err := replayer.LoadOTLPJSON(bytes.NewReader(in.Bytes()), b.Info.TraceID)
	if err != nil || rec.TraceID != b.Info.TraceID {
		t.Fatalf("pick %s: %v", b.Info.TraceID, err)
	}
	if _, err := replayer.LoadOTLPJSON(strings.NewReader(`{"resourceSpans": [`), ""); err == nil {
		t.Error("malformed JSON: want an error")
	}
}

func TestFetchJaeger(t *testing.T) {
	_, run := recordOTLP(t)
	id := run.Info.TraceID
	body := append(append([]byte(`{"result":`), otlpJSON(t, exporter.RunTraces(run.Info, run.Records))...), '}')
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/jaeger/api/v3/traces/"+id {
			http.Error(w, `{"error":{"httpCode":404,"message":"No traces found"}}`, http.StatusNotFound)
			return
		}
		w.Write(body)
	}))
	defer srv.Close()
	rec, err := replayer.FetchJaeger(context.Background(), srv.URL+"/jaeger/", id)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, rec, run)
	other := strings.Repeat("ab", 16)
	if _, err := replayer.FetchJaeger(context.Background(), srv.URL+"/jaeger", other); !errors.Is(err, spanlog.ErrNotFound) {
		t.Errorf("unknown trace: %v, want ErrNotFound", err)
	}
	if _, err := replayer.FetchJaeger(context.Background(), srv.URL, id[:8]); !errors.Is(err, spanlog.ErrBadTraceID) {
		t.Errorf("prefix: %v, want ErrBadTraceID", err)
	}
}

func TestDamageMarkersAreOne(t *testing.T) {
	for name, err := range map[string]error{
		"spanlog":         &spanlog.DamagedError{TraceID: "x"},
		"replayer":        &replayer.DamagedError{TraceID: "x"},
		"incomplete OTLP": &replayer.IncompleteError{TraceID: "x"},
		"payload cut":     &exporter.PayloadCutError{Seq: 1},
	} {
		if !errors.Is(err, boundary.ErrDamaged) || !errors.Is(err, replayer.ErrDamaged) || !errors.Is(err, spanlog.ErrDamaged) {
			t.Errorf("%s: %T does not match the damage marker", name, err)
		}
	}
}
