package main

import (
	"cmp"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"time"

	"github.com/agentrr/agentrr/internal/fakeapi/fakellm"
	"github.com/agentrr/agentrr/otelrr"
)

// DefaultPrompt is the agent's system prompt.
const DefaultPrompt = "You are a support agent for Acme. Answer from the order and the customer profile."

// The agent's boundaries, with no attachments: seq 0 the ticket id, 1 the
// order lookup, 2 the customer profile, 3 the model call, 4 the clock.
const (
	seqOrderTool = 1
	seqLLM       = 3
	boundaries   = 5
)

// orderStatus is the order tool's answer; the damage scenarios flip bytes
// in the middle of it on disk.
const orderStatus = "order A-1001: delayed at the depot, new delivery in 2 days"

// attachmentSize is the size of one attachment before hex encoding. A few
// of them fill Pebble's memtables, so the run's early boundaries end up in
// .sst files rather than only in the write-ahead log.
const attachmentSize = 32 << 10

// Agent is a support agent whose parts the scenarios change: its prompt,
// the name of its order tool, how many attachments it fetches.
type Agent struct {
	LLM *fakellm.Client
	// Prompt is the system prompt (DefaultPrompt when empty).
	Prompt string
	// OrderTool is the name of the order lookup tool (lookup_order when
	// empty).
	OrderTool string
	// Attachments is the number of 64 KB attachments fetched after the
	// profile.
	Attachments int
	// AfterBoundary, if not nil, is called after each boundary returns,
	// with the number of boundaries made so far.
	AfterBoundary func(n int)

	made     int
	ToolRuns atomic.Int64
}

func (a *Agent) after() {
	a.made++
	if a.AfterBoundary != nil {
		a.AfterBoundary(a.made)
	}
}

func (a *Agent) lookupOrder(_ context.Context, args map[string]string) (string, error) {
	a.ToolRuns.Add(1)
	if args["order_id"] != "A-1001" {
		return "", fmt.Errorf("order %q not found", args["order_id"])
	}
	return orderStatus, nil
}

func (a *Agent) customerProfile(_ context.Context, args map[string]string) (string, error) {
	a.ToolRuns.Add(1)
	return "customer " + args["customer_id"] + ": gold tier since 2019", nil
}

func (a *Agent) fetchAttachment(_ context.Context, args map[string]int) (string, error) {
	a.ToolRuns.Add(1)
	b := make([]byte, attachmentSize)
	r := rand.New(rand.NewPCG(uint64(args["index"]), 42))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return hex.EncodeToString(b), nil
}

// Run answers one ticket inside a run.
func (a *Agent) Run(ctx context.Context) (string, error) {
	ticket, err := otelrr.NewID(ctx)
	if err != nil {
		return "", err
	}
	a.after()
	order, err := otelrr.Tool(ctx, cmp.Or(a.OrderTool, "lookup_order"), map[string]string{"order_id": "A-1001"}, a.lookupOrder)
	if err != nil {
		return "", err
	}
	a.after()
	profile, err := otelrr.Tool(ctx, "customer_profile", map[string]string{"customer_id": "C-77"}, a.customerProfile)
	if err != nil {
		return "", err
	}
	a.after()
	for i := range a.Attachments {
		doc, err := otelrr.Tool(ctx, "fetch_attachment", map[string]int{"index": i}, a.fetchAttachment)
		if err != nil {
			return "", err
		}
		if len(doc) != 2*attachmentSize {
			return "", fmt.Errorf("attachment %d has %d bytes, want %d", i, len(doc), 2*attachmentSize)
		}
		a.after()
	}
	req := fakellm.Request{
		Model: "fake-gpt-1",
		Messages: []fakellm.Message{
			{Role: "system", Content: cmp.Or(a.Prompt, DefaultPrompt)},
			{Role: "user", Content: "Where is my order A-1001?"},
			{Role: "tool", Content: "lookup_order: " + order},
			{Role: "tool", Content: "customer_profile: " + profile},
		},
	}
	resp, err := otelrr.LLM(ctx, "fake", req.Model, req, a.LLM.Complete)
	if err != nil {
		return "", err
	}
	a.after()
	at, err := otelrr.Now(ctx)
	if err != nil {
		return "", err
	}
	a.after()
	return fmt.Sprintf("[ticket %.8s, %s] %s", ticket, at.Format("2006-01-02"), resp.Content), nil
}

// agentMain is `broken_replay_cases agent`: the agent as a program that
// records, and replays under agentrr replay, through otelrr.FromEnv.
func agentMain(args []string) int {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	prompt := fs.String("prompt", DefaultPrompt, "the system prompt")
	orderTool := fs.String("order-tool", "lookup_order", "the name of the order lookup tool")
	attachments := fs.Int("attachments", 0, "the number of 64 KB attachments to fetch")
	pauseAfter := fs.Int("pause-after", 0, "after this many boundaries, print \"paused\" and wait to be killed (0: never)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx := context.Background()
	tp, err := otelrr.NewTracerProvider(ctx, otelrr.FromEnv(), otelrr.WithServiceName("broken_replay_cases"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer tp.Shutdown(ctx)
	ctx, run, err := tp.StartRun(ctx, "broken_replay_cases")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("run_id: %s\n", run.TraceID())
	a := &Agent{LLM: &fakellm.Client{}, Prompt: *prompt, OrderTool: *orderTool, Attachments: *attachments}
	if *pauseAfter > 0 {
		a.AfterBoundary = func(n int) {
			if n == *pauseAfter {
				fmt.Printf("paused after %d boundaries\n", n)
				for { // until killed
					time.Sleep(time.Hour)
				}
			}
		}
	}
	answer, err := a.Run(ctx)
	if endErr := run.End(err); endErr != nil {
		fmt.Fprintln(os.Stderr, endErr)
		return 1
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("answer:", answer)
	return 0
}
