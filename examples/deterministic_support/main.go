// Command deterministic_support is agentrr's golden-path example: a support
// agent with a fake in-process LLM, two tools, a clock read, a random draw
// and a generated ticket id. Run it to record a run; replay it with
//
//	agentrr replay --from-trace <run_id> -- go run ./examples/deterministic_support
//
// Edit systemPrompt below and replay again: the replay halts at the first
// LLM call with a signature mismatch and a diff of the changed text.
package main

import (
	"cmp"
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"sync/atomic"

	"github.com/agentrr/agentrr/internal/fakeapi/fakellm"
	"github.com/agentrr/agentrr/otelrr"
)

const systemPrompt = "You are a helpful support agent for Acme. Use the tools, then answer in one short paragraph."

const question = "Where is my order A-1001? It was due yesterday."

// Agent is the support agent. Its LLM client and tools count their calls.
type Agent struct {
	LLM       *fakellm.Client
	ToolCalls atomic.Int64
	// Prompt overrides systemPrompt when not empty (tests use it to play
	// an edited agent).
	Prompt string
}

func (a *Agent) lookupOrder(_ context.Context, args map[string]string) (string, error) {
	a.ToolCalls.Add(1)
	if args["order_id"] != "A-1001" {
		return "", fmt.Errorf("order %q not found", args["order_id"])
	}
	return "lookup_order: order A-1001 is delayed at the depot, new delivery in 2 days.", nil
}

func (a *Agent) refundPolicy(_ context.Context, args map[string]string) (string, error) {
	a.ToolCalls.Add(1)
	return "refund_policy: late orders get free shipping refunded on request.", nil
}

// Run answers one support question inside a run and returns the answer.
func (a *Agent) Run(ctx context.Context) (string, error) {
	ticket, err := otelrr.NewID(ctx)
	if err != nil {
		return "", err
	}
	opened, err := otelrr.Now(ctx)
	if err != nil {
		return "", err
	}
	tools := map[string]func(context.Context, map[string]string) (string, error){
		"lookup_order":  a.lookupOrder,
		"refund_policy": a.refundPolicy,
	}
	req := fakellm.Request{
		Model:       "fake-gpt-1",
		Temperature: 0.2,
		Tools:       []string{"lookup_order", "refund_policy"},
		Messages: []fakellm.Message{
			{Role: "system", Content: cmp.Or(a.Prompt, systemPrompt)},
			{Role: "user", Content: question},
		},
	}
	var answer string
	for turn := 0; answer == ""; turn++ {
		if turn == 5 {
			return "", fmt.Errorf("no answer after %d turns", turn)
		}
		resp, err := otelrr.LLM(ctx, "fake", req.Model, req, a.LLM.Complete)
		if err != nil {
			return "", err
		}
		if resp.ToolCall == nil {
			answer = resp.Content
			break
		}
		tool, ok := tools[resp.ToolCall.Name]
		if !ok {
			return "", fmt.Errorf("model asked for unknown tool %q", resp.ToolCall.Name)
		}
		out, err := otelrr.Tool(ctx, resp.ToolCall.Name, resp.ToolCall.Args, tool)
		if err != nil {
			out = resp.ToolCall.Name + ": error: " + err.Error()
		}
		req.Messages = append(req.Messages, fakellm.Message{Role: "tool", Content: out})
	}
	rng, err := otelrr.Rand(ctx)
	if err != nil {
		return "", err
	}
	code := fmt.Sprintf("ACME-%04d", rng.IntN(10000))
	return fmt.Sprintf("[ticket %s opened %s] %s Your goodwill code is %s.",
		ticket[:8], opened.Format("2006-01-02 15:04:05"), answer, code), nil
}

func main() {
	log.SetFlags(0)
	ctx := context.Background()
	tp, err := otelrr.NewTracerProvider(ctx, otelrr.FromEnv(), otelrr.WithServiceName("deterministic_support"))
	if err != nil {
		log.Fatal(err)
	}
	defer tp.Shutdown(ctx)

	ctx, run, err := tp.StartRun(ctx, "deterministic_support")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("run_id: %s\n", run.TraceID())
	agent := &Agent{LLM: &fakellm.Client{}}
	answer, err := agent.Run(ctx)
	if endErr := run.End(err); endErr != nil {
		log.Fatal(endErr)
	}
	if err != nil {
		tp.Shutdown(ctx)
		log.Fatal(err)
	}
	fmt.Println("answer:", strings.TrimSpace(answer))
	if run.Replaying() {
		fmt.Printf("replayed %s: %s (live LLM calls: %d, tool runs: %d)\n",
			run.Report().OriginalTrace, run.Report().Verdict(), agent.LLM.Calls(), agent.ToolCalls.Load())
	}
	if os.Getenv("AGENTRR_EXAMPLE_QUIET") == "" && !run.Replaying() {
		fmt.Printf("replay it with: agentrr replay --from-trace %s -- go run ./examples/deterministic_support\n", run.TraceID())
	}
}
