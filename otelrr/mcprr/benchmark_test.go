package mcprr_test

import (
	"context"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/otelrr/mcprr"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/rrtest"
)

// callN connects over t and makes n tools/call, in the run of ctx.
func callN(ctx context.Context, b *testing.B, t mcp.Transport, n int) {
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil).Connect(ctx, mcprr.Transport(t, mcprr.WithServerName("greeter")), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer cs.Close()
	for range n {
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": "Ada"}}); err != nil {
			b.Fatal(err)
		}
	}
}

// recordCalls records a run of n calls to an in-memory server into dir.
func recordCalls(b *testing.B, dir string, n int) string {
	ctx := context.Background()
	greets := 0
	serverEnd, clientEnd := mcp.NewInMemoryTransports()
	ss, err := greeter(&greets).Connect(ctx, serverEnd, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer ss.Close()
	tp, err := otelrr.NewTracerProvider(ctx, otelrr.WithStore(dir))
	if err != nil {
		b.Fatal(err)
	}
	defer tp.Shutdown(ctx)
	rctx, run, err := tp.StartRun(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	callN(rctx, b, clientEnd, n)
	if err := run.End(nil); err != nil {
		b.Fatal(err)
	}
	return run.TraceID()
}

// BenchmarkCallToolRecord is one recorded tools/call to an in-memory
// server: the call, and its synced write.
func BenchmarkCallToolRecord(b *testing.B) {
	b.ReportAllocs()
	recordCalls(b, b.TempDir(), b.N)
}

// BenchmarkCallToolReplay is one replayed tools/call: no server.
func BenchmarkCallToolReplay(b *testing.B) {
	dir := b.TempDir()
	id := recordCalls(b, dir, b.N)
	rec := rrtest.Load(b, dir, id)
	_, unused := mcp.NewInMemoryTransports()
	b.ReportAllocs()
	b.ResetTimer()
	rep, err := replayer.Replay(context.Background(), rec, func(ctx context.Context) error {
		tp, err := otelrr.NewTracerProvider(ctx, otelrr.WithStore(dir))
		if err != nil {
			return err
		}
		defer tp.Shutdown(ctx)
		ctx, run, err := tp.StartRun(ctx, "bench")
		if err != nil {
			return err
		}
		callN(ctx, b, unused, b.N)
		return run.End(nil)
	})
	if err != nil {
		b.Fatal(err)
	}
	if !rep.Faithful() {
		b.Fatalf("replay diverged: %+v", rep.Divergences)
	}
}
