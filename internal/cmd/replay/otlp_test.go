package replay_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/exporter"
	"github.com/agentrr/agentrr/internal/cmd/internal/agentproc"
	"github.com/agentrr/agentrr/internal/cmd/replay"
	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/storetest"
)

// otlpRecording records a run of the agent process and returns it as OTLP
// JSON, as a backend would hold it, with spoil applied to its spans.
func otlpRecording(t *testing.T, spoil func(ptrace.SpanSlice)) (id string, js []byte) {
	t.Helper()
	store, id := agentproc.Record(t)
	run := storetest.ReadRun(t, store, id)
	td := exporter.RunTraces(run.Info, run.Records)
	if spoil != nil {
		spoil(td.ResourceSpans().At(0).ScopeSpans().At(0).Spans())
	}
	js, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	return id, js
}

// otlpReplay is replayRun of the agent process into a store of its own.
func otlpReplay(t *testing.T, opts *replay.Options) (stdout, stderr string, err error) {
	t.Helper()
	opts.StorePath = filepath.Join(t.TempDir(), "replays") // not the recording's store
	opts.Command = agentproc.Command(agentproc.OK)
	return replayRun(t, opts)
}

func TestReplayFromFileAndJaeger(t *testing.T) {
	id, js := otlpRecording(t, nil)
	file := filepath.Join(t.TempDir(), "trace.json")
	if err := os.WriteFile(file, js, 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := otlpReplay(t, &replay.Options{FromFile: file})
	if err != nil || !strings.Contains(out, "faithful — 7 of 7 boundaries served") {
		t.Fatalf("replay --from-file: %v\n%s\n%s", err, out, errOut)
	}

	jaeger := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v3/traces/"+id {
			http.Error(w, `{"error":{"httpCode":404,"message":"No traces found"}}`, http.StatusNotFound)
			return
		}
		w.Write([]byte(`{"result":`))
		w.Write(js)
		w.Write([]byte(`}`))
	}))
	defer jaeger.Close()
	out, errOut, err = otlpReplay(t, &replay.Options{TraceID: id, Jaeger: jaeger.URL})
	if err != nil || !strings.Contains(out, "faithful — 7 of 7 boundaries served") {
		t.Fatalf("replay --jaeger: %v\n%s\n%s", err, out, errOut)
	}
	_, _, err = otlpReplay(t, &replay.Options{TraceID: strings.Repeat("ab", 16), Jaeger: jaeger.URL})
	if cmdutil.Code(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), "not in Jaeger") {
		t.Errorf("unknown trace in Jaeger: %v (exit %d), want exit 2", err, cmdutil.Code(err))
	}
}

func TestReplayFromAnIncompleteTraceIsRefused(t *testing.T) {
	_, js := otlpRecording(t, func(s ptrace.SpanSlice) {
		s.RemoveIf(func(sp ptrace.Span) bool { v, _ := sp.Attributes().Get(boundary.AttrSeq); return v.Int() == 4 })
	})
	file := filepath.Join(t.TempDir(), "trace.json")
	if err := os.WriteFile(file, js, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := otlpReplay(t, &replay.Options{FromFile: file})
	if cmdutil.Code(err) != cmdutil.ExitDamaged || !strings.Contains(err.Error(), "seq 4 missing") {
		t.Errorf("replay of a trace missing seq 4: %v (exit %d), want exit 3 naming seq 4", err, cmdutil.Code(err))
	}
}
