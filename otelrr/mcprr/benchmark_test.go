package mcprr_test

import (
	"context"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentrr/agentrr/otelrr/mcprr"
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
	id, _, _ := rrtest.Run(ctx, b, dir, "bench", func(ctx context.Context) (any, error) {
		callN(ctx, b, clientEnd, n)
		return nil, nil
	})
	return id
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
	rep, _ := rrtest.ReplayIn(b, dir, rec, func(ctx context.Context) (any, error) {
		callN(ctx, b, unused, b.N)
		return nil, nil
	})
	if !rep.Faithful() {
		b.Fatalf("replay diverged: %+v", rep.Divergences)
	}
}
