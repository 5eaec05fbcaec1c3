package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentrr/agentrr/bench/internal/payload"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/exporter"
	"github.com/agentrr/agentrr/internal/benchwork"
	"github.com/agentrr/agentrr/internal/replaylink"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

func search(_ context.Context, d payload.Doc) (payload.Doc, error) { return d, nil }

// newProvider returns an otelrr provider recording into store dir.
func newProvider(ctx context.Context, dir string) (*otelrr.TracerProvider, error) {
	return otelrr.NewTracerProvider(ctx, otelrr.WithStore(dir), otelrr.WithServiceName("bench"))
}

// openRun starts a run of the bench agent in a fresh store in dir and
// returns its context and end, which ends the run, shuts the provider down
// and removes the store.
func openRun(dir string) (context.Context, func() error, error) {
	os.RemoveAll(dir)
	ctx := context.Background()
	tp, err := newProvider(ctx, dir)
	if err != nil {
		return nil, nil, err
	}
	ctx, run, err := tp.StartRun(ctx, "bench")
	if err != nil {
		tp.Shutdown(context.Background())
		return nil, nil, err
	}
	return ctx, func() error {
		err := run.End(nil)
		tp.Shutdown(context.Background())
		os.RemoveAll(dir)
		return err
	}, nil
}

// recordTools records one run of n tool boundaries into store dir from conc
// goroutines; doc(i) is the payload of the i-th call (request and response).
// It returns the run id and µs per boundary (wall time / n).
func recordTools(dir string, n, conc int, doc func(i int) payload.Doc) (string, float64, error) {
	return recordCalls(dir, n, conc, doc, nil)
}

// lastEnd is how long the last recordCalls' Run.End took (synced end
// record and flush).
var lastEnd time.Duration

// recordCalls is recordTools with response resp(i) for the i-th call (nil:
// the tool answers with its request).
func recordCalls(dir string, n, conc int, doc, resp func(i int) payload.Doc) (string, float64, error) {
	ctx := context.Background()
	tp, err := newProvider(ctx, dir)
	if err != nil {
		return "", 0, err
	}
	defer tp.Shutdown(ctx)
	ctx, run, err := tp.StartRun(ctx, "bench")
	if err != nil {
		return "", 0, err
	}
	start := time.Now()
	werr := inParallel(conc, func(g int) error {
		for i := g; i < n; i += conc {
			fn := search
			if resp != nil {
				r := resp(i)
				fn = func(context.Context, payload.Doc) (payload.Doc, error) { return r, nil }
			}
			if _, err := otelrr.Tool(ctx, "search", doc(i), fn); err != nil {
				return err
			}
		}
		return nil
	})
	us := float64(time.Since(start).Nanoseconds()) / 1e3 / float64(max(n, 1))
	endStart := time.Now()
	if err := run.End(werr); err != nil {
		return "", 0, err
	}
	lastEnd = time.Since(endStart)
	return run.TraceID(), us, werr
}

// toolRecorder is P1 as a contender: otelrr.Tool with payload doc into a
// run of a store in dir, one goroutine.
func toolRecorder(id, what, dir string, doc payload.Doc) contender {
	return contender{id, what, func(int) (func(int) error, func() error, error) {
		ctx, end, err := openRun(dir)
		if err != nil {
			return nil, nil, err
		}
		return func(int) error {
			_, err := otelrr.Tool(ctx, "search", doc, search)
			return err
		}, end, nil
	}}
}

// nopProcessor is a span processor that does nothing: the span machinery alone.
type nopProcessor struct{}

func (nopProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (nopProcessor) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (nopProcessor) Shutdown(context.Context) error                  { return nil }
func (nopProcessor) ForceFlush(context.Context) error                { return nil }

// boundaryAttrs are the attributes otelrr puts on a tool boundary with
// canonical request and response req, resp.
func boundaryAttrs(req, resp []byte) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String(boundary.AttrKind, string(boundary.KindTool)),
		attribute.String(boundary.AttrName, "search"),
		attribute.String(boundary.GenAIOperationName, "execute_tool"),
		attribute.String(boundary.GenAIToolName, "search"),
		attribute.String(boundary.AttrRequest, string(req)),
		attribute.Int(boundary.AttrRequestLength, len(req)),
		attribute.String(boundary.AttrSignature, boundary.Signature(boundary.KindTool, "search", req)),
		attribute.String(boundary.AttrResponse, string(resp)),
		attribute.Int(boundary.AttrResponseLength, len(resp)),
		attribute.String(boundary.AttrPayloadHash, boundary.PayloadHash(req, resp, "")),
	}
}

// spanOnly is P0a: one boundary span with a 1 KB payload started, given
// its attributes and ended, with no store behind it; µs per span.
func spanOnly(n int) (float64, error) {
	body, err := boundary.Canonical(payload.Text(1024, 1))
	if err != nil {
		return 0, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(nopProcessor{}))
	defer tp.Shutdown(context.Background())
	tr := tp.Tracer("bench")
	ctx, root := tr.Start(context.Background(), "run")
	defer root.End()
	return perOp(n, func(int) error {
		_, sp := tr.Start(ctx, "execute_tool search", trace.WithSpanKind(trace.SpanKindInternal))
		sp.SetAttributes(boundaryAttrs(body, body)...)
		sp.End()
		return nil
	})
}

// encodeOnly is P0b: one ended 1 KB boundary span converted to OTLP and
// marshaled to protobuf, as the durable processor does; µs per span.
func encodeOnly(n int) (float64, error) {
	body, err := boundary.Canonical(payload.Text(1024, 1))
	if err != nil {
		return 0, err
	}
	s := tracetest.SpanStub{
		Name:        "execute_tool search",
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled}),
		StartTime:   time.Now(),
		EndTime:     time.Now(),
		Attributes:  boundaryAttrs(body, body),
	}.Snapshot()
	return perOp(n, func(i int) error {
		_, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(exporter.Traces(s, attribute.Int64(boundary.AttrSeq, int64(i))))
		return err
	})
}

// storedSpan returns the bytes agentrr stores for one 1 KB tool boundary
// (its OTLP protobuf encoding).
func storedSpan() ([]byte, error) { return storedSpanOf(trace.TraceID{1}, 1) }

// storedSpanOf is storedSpan for boundary seq of the run with trace id tid:
// a whole boundary, as a reader checks it.
func storedSpanOf(tid trace.TraceID, seq int64) ([]byte, error) {
	body, err := boundary.Canonical(payload.Text(1024, 1))
	if err != nil {
		return nil, err
	}
	s := tracetest.SpanStub{
		Name:        "execute_tool search",
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{2, byte(seq >> 8), byte(seq)}, TraceFlags: trace.FlagsSampled}),
		StartTime:   time.Now(),
		EndTime:     time.Now(),
		Attributes:  boundaryAttrs(body, body),
	}.Snapshot()
	return (&ptrace.ProtoMarshaler{}).MarshalTraces(exporter.Traces(s, attribute.Int64(boundary.AttrSeq, seq)))
}

// canonicalOnly is P0c: canonical JSON of a 1 KB request and response,
// signature and payload hash, as otelrr computes them; µs per boundary.
func canonicalOnly(n int) (float64, error) {
	doc := payload.Text(1024, 1)
	return perOp(n, func(int) error {
		req, err := boundary.Canonical(doc)
		if err != nil {
			return err
		}
		resp, err := boundary.Canonical(doc)
		if err != nil {
			return err
		}
		var back payload.Doc
		if err := json.Unmarshal(resp, &back); err != nil {
			return err
		}
		_ = boundary.Signature(boundary.KindTool, "search", req)
		_ = boundary.PayloadHash(req, resp, "")
		return nil
	})
}

// trace is a recorded run used by the replay measurements.
type recorded struct {
	store string
	id    string
	n     int
}

// prepareTrace records a run of n identical 1 KB tool boundaries, one
// after the other as the replaying agents make them (recorded from several
// goroutines, they would be one concurrency group). It records on tmpfs
// when there is one, where syncs are free, and copies the store to root.
func prepareTrace(root string, n int) (recorded, error) {
	dir := filepath.Join(root, "trace-"+strconv.Itoa(n))
	os.RemoveAll(dir)
	doc := payload.Text(1024, 1)
	rec := dir
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		tmp, err := os.MkdirTemp("/dev/shm", "agentrr-bench-trace-")
		if err != nil {
			return recorded{}, err
		}
		defer os.RemoveAll(tmp)
		rec = filepath.Join(tmp, "store")
	}
	id, _, err := recordTools(rec, n, 1, func(int) payload.Doc { return doc })
	if err != nil {
		return recorded{}, err
	}
	if rec != dir {
		if err := copyTree(rec, dir); err != nil {
			return recorded{}, err
		}
	}
	return recorded{store: dir, id: id, n: n}, nil
}

// copyTree copies the directory src to dst, synced.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
}

// load is spanlog's read of the whole run with every check (what both the
// CLI and the replaying agent do before the first boundary); µs per boundary.
func load(t recorded) (*replayer.Recording, float64, error) {
	store, err := spanlog.OpenExisting(t.store)
	if err != nil {
		return nil, 0, err
	}
	var rec *replayer.Recording
	us, err := perOp(1, func(int) error {
		rec, err = replayer.Load(store, t.id)
		return err
	})
	if err == nil && len(rec.Records) != t.n {
		err = fmt.Errorf("loaded %d boundaries of run %s, want %d", len(rec.Records), t.id, t.n)
	}
	return rec, us / float64(t.n), err
}

// sessionOnly is P3a: replayer.Session.Next over the whole recording;
// boundaries per second.
func sessionOnly(rec *replayer.Recording, decode bool) (float64, error) {
	s := replaylink.NewSession(rec, []replayer.Option(nil))
	r0 := rec.Records[0]
	us, err := perOp(len(rec.Records), func(int) error {
		a := s.Next(replaylink.Query{Kind: boundary.KindTool, Name: "search", Signature: r0.Signature, Request: r0.Request})
		r, err := a.Rec, a.Err
		s.Release("")
		if err != nil || !decode {
			return err
		}
		var d payload.Doc
		return json.Unmarshal(r.Response, &d)
	})
	return 1e6 / us, err
}

// replayInProcess is P3c: the agent's n tool calls replayed through the
// otelrr helpers (replayer.Replay), including its provider and the
// recording of the replayed run into a fresh store; µs per boundary.
func replayInProcess(root string, rec *replayer.Recording) (float64, error) {
	dir, err := os.MkdirTemp(root, "replay-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	doc := payload.Text(1024, 1)
	n := len(rec.Records)
	us, err := perOp(1, func(int) error {
		rep, err := replayer.Replay(context.Background(), rec, func(ctx context.Context) error {
			return benchwork.InRun(ctx, dir, func(ctx context.Context) error {
				for range n {
					if _, err := otelrr.Tool(ctx, "search", doc, search); err != nil {
						return err
					}
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
		if !rep.Faithful() {
			return fmt.Errorf("replay of %s diverged: %+v", rec.TraceID, rep.Divergences)
		}
		return nil
	})
	return us / float64(n), err
}

// storedSize is P4: the files on disk of a run of n boundaries once it has
// ended, and of an ended run with no boundary (the fixed cost of a run),
// with the raw payload bytes per boundary (canonical request + response).
func storedSize(root, name string, n int, mk func(size int, seed uint64) payload.Doc) (run, empty runFiles, rawPer float64, end time.Duration, err error) {
	dir := filepath.Join(root, "size-"+name)
	os.RemoveAll(dir)
	defer os.RemoveAll(dir)
	// Requests and responses all differ, as a real tool's would.
	reqs, resps := make([]payload.Doc, n), make([]payload.Doc, n)
	var raw int64
	for i := range reqs {
		reqs[i], resps[i] = mk(1024, uint64(2*i)+1), mk(1024, uint64(2*i)+2)
		for _, d := range []payload.Doc{reqs[i], resps[i]} {
			b, err := boundary.Canonical(d)
			if err != nil {
				return run, empty, 0, 0, err
			}
			raw += int64(len(b))
		}
	}
	id, _, err := recordCalls(dir, n, 8, func(i int) payload.Doc { return reqs[i] }, func(i int) payload.Doc { return resps[i] })
	if err != nil {
		return run, empty, 0, 0, err
	}
	end = lastEnd
	if run, err = runFilesOf(dir, id); err != nil {
		return run, empty, 0, 0, err
	}
	eid, _, err := recordTools(dir, 0, 1, nil)
	if err != nil {
		return run, empty, 0, 0, err
	}
	empty, err = runFilesOf(dir, eid)
	return run, empty, float64(raw) / float64(n), end, err
}
