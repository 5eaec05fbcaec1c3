package otelrr_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/internal/benchwork"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/rrtest"
)

// benchDoc is a realistic JSON tool payload: a search query and its hits,
// mostly text, about size bytes when encoded.
type benchDoc struct {
	Query string     `json:"query"`
	Hits  []benchHit `json:"hits"`
}

type benchHit struct {
	ID      string  `json:"id"`
	Title   string  `json:"title"`
	Score   float64 `json:"score"`
	Snippet string  `json:"snippet"`
}

const benchWords = "the order shipped from the warehouse on monday and the customer asked for a refund because the parcel arrived damaged "

func newBenchDoc(size int) benchDoc {
	d := benchDoc{Query: "refund policy for damaged parcels"}
	for n := 60; n < size; n += 200 {
		i := len(d.Hits)
		d.Hits = append(d.Hits, benchHit{
			ID:      fmt.Sprintf("doc-%06d", i),
			Title:   fmt.Sprintf("Support article %d", i),
			Score:   0.5 + float64(i%50)/100,
			Snippet: strings.Repeat(benchWords, 2)[:120],
		})
	}
	return d
}

func benchTool(_ context.Context, d benchDoc) (benchDoc, error) { return d, nil }

// BenchmarkToolRecord is one durable tool boundary: canonical encoding,
// span, pdata encoding and a synced Pebble write, one goroutine.
func BenchmarkToolRecord(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20} {
		b.Run(sizeName(size), func(b *testing.B) {
			doc := newBenchDoc(size)
			ctx, run := benchRun(b, benchTP(b, b.TempDir()))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := otelrr.Tool(ctx, "search", doc, benchTool); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if err := run.End(nil); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkToolRecordParallel records 1 KB tool boundaries from 8
// goroutines into one run; concurrent boundaries share fsyncs.
func BenchmarkToolRecordParallel(b *testing.B) {
	doc := newBenchDoc(1 << 10)
	ctx, run := benchRun(b, benchTP(b, b.TempDir()))
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := otelrr.Tool(ctx, "search", doc, benchTool); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if err := run.End(nil); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkToolReplay replays a recorded run of 1,000 1 KB tool boundaries
// in-process (the replayed run is itself recorded) and reports the cost per
// boundary.
func BenchmarkToolReplay(b *testing.B) {
	const n = 1000
	dir, id := benchRecording(b, n)
	rec := rrtest.Load(b, dir, id)
	doc := newBenchDoc(1 << 10)
	benchReplay(b, rec, n, func(ctx context.Context) error {
		for range n {
			if _, err := otelrr.Tool(ctx, "search", doc, benchTool); err != nil {
				return err
			}
		}
		return nil
	})
}

// benchReplay replays rec in-process until b is done, each replay a run of
// a new provider in which work makes the run's n boundaries, fails b
// unless every replay is faithful, and reports the cost per boundary.
func benchReplay(b *testing.B, rec *replayer.Recording, n int, work func(ctx context.Context) error) {
	b.ReportAllocs()
	for b.Loop() {
		rep, err := replayer.Replay(context.Background(), rec, func(ctx context.Context) error {
			return benchwork.InRun(ctx, b.TempDir(), work)
		})
		if err != nil {
			b.Fatal(err)
		}
		if !rep.Faithful() {
			b.Fatalf("replay diverged: %+v", rep.Divergences)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/boundary")
}

// benchRecording records a run of n 1 KB tool boundaries and returns its
// store and id.
func benchRecording(b *testing.B, n int) (dir, id string) {
	b.Helper()
	dir = b.TempDir()
	ctx, run := benchRun(b, benchTP(b, dir))
	doc := newBenchDoc(1 << 10)
	for range n {
		if _, err := otelrr.Tool(ctx, "search", doc, benchTool); err != nil {
			b.Fatal(err)
		}
	}
	if err := run.End(nil); err != nil {
		b.Fatal(err)
	}
	return dir, run.TraceID()
}

// benchRun starts the run "bench" of tp.
func benchRun(b *testing.B, tp *otelrr.TracerProvider) (context.Context, *otelrr.Run) {
	b.Helper()
	ctx, run, err := tp.StartRun(context.Background(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	return ctx, run
}

func benchTP(b *testing.B, dir string) *otelrr.TracerProvider {
	b.Helper()
	tp, err := otelrr.NewTracerProvider(context.Background(), otelrr.WithStore(dir), otelrr.WithServiceName("bench"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tp.Shutdown(context.Background()) })
	return tp
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMB", n>>20)
	}
	return fmt.Sprintf("%dKB", n>>10)
}

// BenchmarkToolRecordBranches records 1 KB tool boundaries into one run
// from one goroutine on the root branch and from 8 goroutines each on its
// own branch (otelrr.Branch): the branches' synced writes share fsyncs
// (group commit). ns/op is wall time per boundary.
func BenchmarkToolRecordBranches(b *testing.B) {
	for _, branches := range []int{1, 8} {
		b.Run(fmt.Sprintf("branches=%d", branches), func(b *testing.B) {
			doc := newBenchDoc(1 << 10)
			ctx, run := benchRun(b, benchTP(b, b.TempDir()))
			b.ReportAllocs()
			b.ResetTimer()
			if err := benchBranches(ctx, b.N, branches, true, doc); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := run.End(nil); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkToolReplayBranches is BenchmarkToolReplay for a run of 1,000
// 1 KB tool boundaries on one branch and on 8 branches (125 each),
// replayed in-process: on 8 branches made one after another from one
// goroutine, and on 8 branches a goroutine each (otelrr.Go). The cost per
// boundary should not depend on the number of branches.
func BenchmarkToolReplayBranches(b *testing.B) {
	const n = 1000
	for _, c := range []struct {
		name       string
		branches   int
		concurrent bool
	}{{"branches=1", 1, false}, {"branches=8/sequential", 8, false}, {"branches=8/concurrent", 8, true}} {
		b.Run(c.name, func(b *testing.B) {
			doc := newBenchDoc(1 << 10)
			dir := b.TempDir()
			tp := benchTP(b, dir)
			ctx, run := benchRun(b, tp)
			if err := benchBranches(ctx, n, c.branches, true, doc); err != nil {
				b.Fatal(err)
			}
			if err := run.End(nil); err != nil {
				b.Fatal(err)
			}
			tp.Shutdown(context.Background())
			rec := rrtest.Load(b, dir, run.TraceID())
			benchReplay(b, rec, n, func(ctx context.Context) error {
				return benchBranches(ctx, n, c.branches, c.concurrent, doc)
			})
		})
	}
}

// benchBranches makes n 1 KB tool calls, spread over branches as
// benchwork.Spread does.
func benchBranches(ctx context.Context, n, branches int, concurrent bool, doc benchDoc) error {
	return benchwork.Spread(ctx, n, branches, concurrent, func(ctx context.Context) error {
		_, err := otelrr.Tool(ctx, "search", doc, benchTool)
		return err
	})
}
