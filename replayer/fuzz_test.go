package replayer_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentrr/agentrr/exporter"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// fuzzSeedRun records otlpAgent into a temporary store and returns the run
// as OTLP traces, as `agentrr export` sends it.
func fuzzSeedRun(f *testing.F) (ptrace.Traces, string) {
	f.Helper()
	dir := f.TempDir()
	ctx := context.Background()
	tp, err := otelrr.NewTracerProvider(ctx, otelrr.WithStore(dir), otelrr.WithServiceName("fuzz-seed"))
	if err != nil {
		f.Fatal(err)
	}
	if err := otlpAgent(ctx, tp); err != nil {
		f.Fatal(err)
	}
	tp.Shutdown(ctx)
	store, err := spanlog.OpenExisting(dir)
	if err != nil {
		f.Fatal(err)
	}
	ids, _ := store.TraceIDs()
	run, err := store.ReadRun(ids[0])
	if err != nil {
		f.Fatal(err)
	}
	return exporter.RunTraces(run.Info, run.Records), ids[0]
}

func seedJSON(f *testing.F, td ptrace.Traces) []byte {
	b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// checkLoaded is what every recording loaded from outside bytes must be:
// seqs 0..n-1, each boundary whole, all of the one trace asked for.
func checkLoaded(t *testing.T, rec *replayer.Recording) {
	t.Helper()
	if _, err := spanlog.ParseTraceID(rec.TraceID); err != nil {
		t.Fatalf("recording trace id %q: %v", rec.TraceID, err)
	}
	for i, r := range rec.Records {
		if r.Seq != int64(i) {
			t.Fatalf("record %d has seq %d: a recording must hold seqs 0..n-1", i, r.Seq)
		}
		if err := r.Check(); err != nil {
			t.Fatalf("accepted a boundary that is not whole: %v", err)
		}
		if hex.EncodeToString(r.TraceID[:]) != rec.TraceID {
			t.Fatalf("seq %d belongs to trace %x, not %s", i, r.TraceID, rec.TraceID)
		}
	}
	if rec.Truncated != (rec.Info.Status == spanlog.StatusTruncated) {
		t.Fatalf("Truncated %v with status %s", rec.Truncated, rec.Info.Status)
	}
}

// OTLP JSON files (a Collector's file exporter, `--from-file`) are outside
// bytes: LoadOTLPJSON fails with an error or returns a recording that is
// whole; it never panics.
func FuzzLoadOTLPJSON(f *testing.F) {
	td, id := fuzzSeedRun(f)
	whole := seedJSON(f, td)
	f.Add(whole, id)
	f.Add(whole, "")
	f.Add(append(append([]byte(`{"result":`), whole...), '}'), id[:8])
	f.Add(append(append(slicesClone(whole), '\n'), whole...), id) // file exporter: one object per line
	// Without the root span: a truncated run.
	noRoot := ptrace.NewTraces()
	td.CopyTo(noRoot)
	spans := noRoot.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	spans.RemoveIf(func(s ptrace.Span) bool { _, ok := s.Attributes().Get("agentrr.run"); return ok })
	f.Add(seedJSON(f, noRoot), id)
	for _, s := range []string{``, `{}`, `{"error":{"message":"x"}}`, `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","attributes":[{"key":"agentrr.kind","value":{"stringValue":"tool"}},{"key":"agentrr.seq","value":{"intValue":"9223372036854775807"}}]}]}]}]}`} {
		f.Add([]byte(s), "")
	}
	f.Fuzz(func(t *testing.T, b []byte, id string) {
		rec, err := replayer.LoadOTLPJSON(bytes.NewReader(b), id)
		if err != nil {
			return
		}
		checkLoaded(t, rec)
	})
}

// Jaeger's query API answers are outside bytes too: whatever the status
// and body, FetchJaeger returns an error or a whole recording.
func FuzzFetchJaeger(f *testing.F) {
	td, id := fuzzSeedRun(f)
	whole := seedJSON(f, td)
	f.Add(uint16(200), append(append([]byte(`{"result":`), whole...), '}'))
	f.Add(uint16(200), whole)
	f.Add(uint16(404), []byte(`{"error":{"code":404,"message":"trace not found"}}`))
	f.Add(uint16(500), []byte("internal error"))
	f.Add(uint16(200), []byte(`{"result":{"resourceSpans":[]}}`))
	f.Add(uint16(302), []byte(``))

	var (
		mu     sync.Mutex
		status int
		body   []byte
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		st, b := status, body
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(st)
		w.Write(b)
	}))
	defer srv.Close()

	f.Fuzz(func(t *testing.T, st uint16, b []byte) {
		code := int(st)%500 + 100 // a status line net/http will send: 100-599
		if code < 200 {
			code += 100 // no 1xx: they are interim responses, not answers
		}
		mu.Lock()
		status, body = code, b
		mu.Unlock()
		rec, err := replayer.FetchJaeger(context.Background(), srv.URL, id)
		if err != nil {
			if code == http.StatusNotFound && !errors.Is(err, spanlog.ErrNotFound) {
				t.Errorf("404: %v, want ErrNotFound", err)
			}
			return
		}
		if code != http.StatusOK {
			t.Fatalf("status %d accepted", code)
		}
		checkLoaded(t, rec)
		if rec.TraceID != id {
			t.Fatalf("asked for %s, got %s", id, rec.TraceID)
		}
	})
}

func slicesClone(b []byte) []byte { return append([]byte(nil), b...) }
