package mcprr_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/otelrr/mcprr"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// greeter is a one-tool MCP server; greets counts its calls.
func greeter(greets *int) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "greeter", Version: "1.0.0"}, nil)
	type args struct {
		Name string `json:"name"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "greet", Description: "Say hello."}, func(_ context.Context, _ *mcp.CallToolRequest, a args) (*mcp.CallToolResult, any, error) {
		*greets++
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "Hello, " + a.Name + "!"}}}, nil, nil
	})
	return s
}

// greet is the agent: it connects over t (wrapped by mcprr: the one line)
// and calls the greet tool.
func greet(ctx context.Context, t mcp.Transport) (string, error) {
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1.0.0"}, nil)
	cs, err := client.Connect(ctx, mcprr.Transport(t, mcprr.WithServerName("greeter")), nil)
	if err != nil {
		return "", err
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": "Ada"}})
	if err != nil {
		return "", err
	}
	return res.Content[0].(*mcp.TextContent).Text, nil
}

// Record a session with an in-memory MCP server, then replay it in-process
// without any server.
func ExampleTransport() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "mcprr-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// Record: the server runs, the call is a boundary.
	greets := 0
	serverEnd, clientEnd := mcp.NewInMemoryTransports()
	ss, err := greeter(&greets).Connect(ctx, serverEnd, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer ss.Close()
	tp, err := otelrr.NewTracerProvider(ctx, otelrr.WithStore(dir))
	if err != nil {
		log.Fatal(err)
	}
	rctx, run, err := tp.StartRun(ctx, "greet")
	if err != nil {
		log.Fatal(err)
	}
	answer, err := greet(rctx, clientEnd)
	if err := run.End(err); err != nil {
		log.Fatal(err)
	}
	tp.Shutdown(ctx)
	fmt.Println("recorded:", answer, "- server calls:", greets)

	// Replay: no server at all; the transport is never connected.
	store, err := spanlog.OpenExisting(dir)
	if err != nil {
		log.Fatal(err)
	}
	rec, err := replayer.Load(store, run.TraceID())
	if err != nil {
		log.Fatal(err)
	}
	_, unused := mcp.NewInMemoryTransports()
	report, err := replayer.Replay(ctx, rec, func(ctx context.Context) error {
		tp, err := otelrr.NewTracerProvider(ctx, otelrr.WithStore(dir))
		if err != nil {
			return err
		}
		defer tp.Shutdown(ctx)
		ctx, run, err := tp.StartRun(ctx, "greet")
		if err != nil {
			return err
		}
		answer, err := greet(ctx, unused)
		fmt.Println("replayed:", answer)
		return run.End(err)
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("verdict:", report.Verdict(), "- server calls:", greets)
	// Output:
	// recorded: Hello, Ada! - server calls: 1
	// replayed: Hello, Ada!
	// verdict: faithful - server calls: 1
}
