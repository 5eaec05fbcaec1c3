// Command tool_caller is a reference agent for agentrr: the classic
// LLM → tools → LLM loop, run until the model stops asking for tools. The
// model (a scripted fake, no network) asks for several tools per turn, one
// tool call fails (an unknown currency) and the model recovers from the
// error on the next turn. Run it to record a run, then replay it:
//
//	agentrr record -- go run ./examples/tool_caller
//	agentrr replay --from-trace <run_id> -- go run ./examples/tool_caller
//
// The replay is faithful: the recorded answers, the failed tool call's
// error text included, are served back, and neither the model nor any tool
// runs. Replayed with a different task (-task), it halts at the first LLM
// call with a diff of the changed message.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/agentrr/agentrr/otelrr"
)

// DefaultTask is the user's request the agent works on.
const DefaultTask = "I land in Lisbon on Friday with 200 USD. What will the weather be, how much is that in euros, and when does the tile museum open?"

// maxTurns bounds the loop: a model that never stops asking for tools is
// a failure, not a hang.
const maxTurns = 8

// Agent is the tool-calling agent. Its model and tools count their calls,
// so a test can prove that a replay ran none of them.
type Agent struct {
	Model *Planner
	Tools *Toolbox
	// Log, if not nil, receives the transcript: each tool call and result.
	Log func(format string, args ...any)
}

// Run works on task inside a run and returns the model's final answer.
func (a *Agent) Run(ctx context.Context, task string) (string, error) {
	req := ChatRequest{
		Model: "fake-planner-1",
		Tools: a.Tools.Specs(),
		Messages: []Message{
			{Role: "system", Content: "You are a travel assistant. Use the tools; never guess a number."},
			{Role: "user", Content: task},
		},
	}
	for turn := 1; turn <= maxTurns; turn++ {
		resp, err := otelrr.LLM(ctx, "fake", req.Model, req, a.Model.Complete)
		if err != nil {
			return "", err
		}
		if len(resp.ToolCalls) == 0 {
			return resp.Content, nil
		}
		req.Messages = append(req.Messages, Message{Role: "assistant", ToolCalls: resp.ToolCalls})
		for _, tc := range resp.ToolCalls {
			fn, ok := a.Tools.Lookup(tc.Name)
			if !ok {
				// Tell the model, as real agents do; it is not the agent's failure.
				req.Messages = append(req.Messages, Message{Role: "tool", ToolCallID: tc.ID, Name: tc.Name, Content: "error: no such tool " + tc.Name})
				continue
			}
			out, err := otelrr.Tool(ctx, tc.Name, tc.Args, fn)
			content := out
			if err != nil {
				content = "error: " + err.Error()
			}
			a.logf("turn %d: %s(%s) → %s", turn, tc.Name, formatArgs(tc.Args), content)
			req.Messages = append(req.Messages, Message{Role: "tool", ToolCallID: tc.ID, Name: tc.Name, Content: content})
		}
	}
	return "", fmt.Errorf("the model still asked for tools after %d turns", maxTurns)
}

func (a *Agent) logf(format string, args ...any) {
	if a.Log != nil {
		a.Log(format, args...)
	}
}

func formatArgs(args map[string]string) string {
	parts := make([]string, 0, len(args))
	for _, k := range sortedKeys(args) {
		parts = append(parts, k+"="+args[k])
	}
	return strings.Join(parts, ", ")
}

func main() {
	log.SetFlags(0)
	task := flag.String("task", DefaultTask, "the user's request")
	flag.Parse()

	ctx := context.Background()
	tp, err := otelrr.NewTracerProvider(ctx, otelrr.FromEnv(), otelrr.WithServiceName("tool_caller"))
	if err != nil {
		log.Fatal(err)
	}
	defer tp.Shutdown(ctx)
	ctx, run, err := tp.StartRun(ctx, "tool_caller")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("run_id: %s\n", run.TraceID())

	agent := &Agent{Model: &Planner{}, Tools: NewToolbox(), Log: func(format string, args ...any) {
		fmt.Printf(format+"\n", args...)
	}}
	answer, err := agent.Run(ctx, *task)
	if endErr := run.End(err); endErr != nil {
		log.Fatal(endErr)
	}
	if err != nil {
		tp.Shutdown(ctx)
		log.Fatal(err)
	}
	fmt.Println("answer:", answer)
	if run.Replaying() {
		fmt.Printf("replayed %s: %s (live model calls: %d, tool runs: %d)\n",
			run.Report().OriginalTrace, run.Report().Verdict(), agent.Model.Calls(), agent.Tools.Calls())
	} else if os.Getenv("AGENTRR_EXAMPLE_QUIET") == "" {
		fmt.Printf("replay it with: agentrr replay --from-trace %s -- go run ./examples/tool_caller\n", run.TraceID())
	}
}
