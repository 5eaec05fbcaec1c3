// Command openai_agent is a support agent built on the official OpenAI Go
// SDK (github.com/openai/openai-go/v3), recorded and replayed by agentrr at
// the HTTP boundary: the SDK's HTTP client is otelrr.HTTPClient, so every
// Chat Completions call — streamed, with tool calls, with the SDK's own
// retries — is one boundary, and each tool run is an otelrr.Tool boundary.
//
// With no configuration it starts a local fake OpenAI server
// (internal/fakeapi) and talks to it, so it runs with no key and no network:
//
//	go run ./examples/openai_agent
//
// With OPENAI_API_KEY set it talks to the real API (OPENAI_BASE_URL, when
// set, names another OpenAI-compatible server); -fake forces the fake:
//
//	OPENAI_API_KEY=sk-… go run ./examples/openai_agent -model gpt-4o-mini
//
// Either way it prints the run id. Replay the run offline afterwards — no
// server, no key, no network — with the same flags:
//
//	agentrr replay --from-trace <run_id> -- go run ./examples/openai_agent
//
// Or fork it: served up to the fork point, then live again (against a new
// fake server, or the API named as when recording); a tool runs live only
// when allowed:
//
//	agentrr fork --from-trace <run_id> --at 2 --live-tool refund_policy -- go run ./examples/openai_agent
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/agentrr/agentrr/examples/internal/openaiclient"
	"github.com/agentrr/agentrr/otelrr"
)

const systemPrompt = "You are a helpful support agent for Acme. Look the order up, check the refund policy, then answer in one short paragraph."

const defaultQuestion = "Where is my order A-1001? It was due yesterday."

// Agent is the support agent.
type Agent struct {
	// Client is the OpenAI client; its HTTP client must be otelrr's
	// (openaiclient.New).
	Client openai.Client
	Model  string
	// Stream makes the agent stream the model's replies, printing the
	// deltas to Out as they arrive.
	Stream   bool
	Question string
	// Prompt overrides systemPrompt when not empty (tests use it to play an
	// edited agent).
	Prompt string
	// Out receives the streamed deltas (nil: discarded).
	Out io.Writer

	// ToolRuns counts the tool functions actually run (none on replay).
	ToolRuns atomic.Int64
}

func (a *Agent) lookupOrder(_ context.Context, args orderArgs) (string, error) {
	a.ToolRuns.Add(1)
	if args.OrderID != "A-1001" {
		return fmt.Sprintf("no order %q.", args.OrderID), nil
	}
	return "order A-1001 is delayed at the depot, new delivery in 2 days.", nil
}

func (a *Agent) refundPolicy(_ context.Context, _ orderArgs) (string, error) {
	a.ToolRuns.Add(1)
	return "late orders get their shipping refunded on request.", nil
}

type orderArgs struct {
	OrderID string `json:"order_id"`
}

func orderTool(name, description string) openai.ChatCompletionToolUnionParam {
	return openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name:        name,
		Description: openai.String(description),
		Parameters: shared.FunctionParameters{
			"type":       "object",
			"properties": map[string]any{"order_id": map[string]any{"type": "string", "description": "the order id, such as A-1001"}},
			"required":   []string{"order_id"},
		},
	})
}

// Run answers the question inside the run carried by ctx.
func (a *Agent) Run(ctx context.Context) (string, error) {
	tools := map[string]func(context.Context, orderArgs) (string, error){
		"lookup_order":  a.lookupOrder,
		"refund_policy": a.refundPolicy,
	}
	params := openai.ChatCompletionNewParams{
		Model: cmp.Or(a.Model, "gpt-4o-mini"),
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage(cmp.Or(a.Prompt, systemPrompt)),
			openai.UserMessage(cmp.Or(a.Question, defaultQuestion)),
		},
		Tools: []openai.ChatCompletionToolUnionParam{
			orderTool("lookup_order", "Look an order up: its status and delivery date."),
			orderTool("refund_policy", "The refund policy that applies to an order."),
		},
		Temperature: openai.Float(0.2),
	}
	for turn := 0; turn < 6; turn++ {
		msg, err := openaiclient.Complete(ctx, a.Client, params, a.Stream, a.Out)
		if err != nil {
			return "", err
		}
		if len(msg.ToolCalls) == 0 {
			return msg.Content, nil
		}
		params.Messages = append(params.Messages, msg.ToParam())
		for _, tc := range msg.ToolCalls {
			var args orderArgs
			result := ""
			fn, ok := tools[tc.Function.Name]
			switch {
			case !ok:
				result = "error: no tool named " + tc.Function.Name
			case json.Unmarshal([]byte(tc.Function.Arguments), &args) != nil:
				result = "error: arguments are not JSON: " + tc.Function.Arguments
			default:
				res, err := otelrr.Tool(ctx, tc.Function.Name, args, fn)
				var failed *otelrr.RecordedError
				switch {
				case errors.As(err, &failed):
					// The tool failed (or, in a fork, an override says it
					// did): the model is told, as real agents do.
					result = "error: " + failed.Error()
				case err != nil:
					// agentrr's error (a replay divergence, a tool a fork
					// may not run live, a store failure) ends the run.
					return "", err
				default:
					result = res
				}
			}
			params.Messages = append(params.Messages, openai.ToolMessage(result, tc.ID))
		}
	}
	return "", errors.New("no answer after 6 turns")
}

// Options configure one run of the command.
type Options struct {
	Model    string
	Question string
	Stream   bool
	// Fake makes the agent talk to a local fake server even when APIKey is set.
	Fake bool
	// APIKey and BaseURL select the real API (OPENAI_API_KEY, OPENAI_BASE_URL).
	APIKey, BaseURL string
	// Transport is the transport under otelrr's (nil: the default).
	Transport http.RoundTripper
	// TracerOptions are added to the provider's (after FromEnv).
	TracerOptions []otelrr.Option
	Out           io.Writer
}

// run records (or, under `agentrr replay`, replays) one run of the agent.
func run(ctx context.Context, opts *Options) error {
	tp, err := otelrr.NewTracerProvider(ctx, append([]otelrr.Option{otelrr.FromEnv(), otelrr.WithServiceName("openai_agent")}, opts.TracerOptions...)...)
	if err != nil {
		return err
	}
	defer tp.Shutdown(ctx)

	// A replay talks to nothing. A fork (agentrr fork) is served up to its
	// fork point, then goes on live: it talks to what a recording would.
	api := openaiclient.Pick(tp.Replaying() && !tp.Forking(), opts.Fake, opts.APIKey, opts.BaseURL)
	defer api.Close()

	ctx, r, err := tp.StartRun(ctx, "openai_agent")
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.Out, "run_id: %s\n", r.TraceID())
	fmt.Fprintf(opts.Out, "talking to %s\n", api.Where)
	agent := &Agent{
		Client:   openaiclient.New(api.BaseURL, api.Key, opts.Transport),
		Model:    opts.Model,
		Stream:   opts.Stream,
		Question: opts.Question,
		Out:      opts.Out,
	}
	answer, agentErr := agent.Run(ctx)
	if err := r.End(agentErr); err != nil {
		return err
	}
	if agentErr == nil {
		fmt.Fprintln(opts.Out, "answer:", strings.TrimSpace(answer))
	}
	if r.Replaying() {
		// Said even when the run failed: a fork that refused a tool ran none.
		rep := r.Report()
		if f := rep.Fork; f != nil {
			fmt.Fprintf(opts.Out, "forked %s at seq %d (live: %d, tool runs: %d)\n", rep.OriginalTrace, f.Seq, rep.Live, agent.ToolRuns.Load())
		} else {
			fmt.Fprintf(opts.Out, "replayed %s: %s (tool runs: %d)\n", rep.OriginalTrace, rep.Verdict(), agent.ToolRuns.Load())
		}
	} else if agentErr == nil && os.Getenv("AGENTRR_EXAMPLE_QUIET") == "" {
		fmt.Fprintf(opts.Out, "replay it with: agentrr replay --from-trace %s -- go run ./examples/openai_agent\n", r.TraceID())
	}
	return agentErr
}

func main() {
	log.SetFlags(0)
	opts := &Options{Out: os.Stdout, APIKey: os.Getenv("OPENAI_API_KEY"), BaseURL: os.Getenv("OPENAI_BASE_URL")}
	flag.StringVar(&opts.Model, "model", "gpt-4o-mini", "the model to ask")
	flag.StringVar(&opts.Question, "question", defaultQuestion, "the customer's question")
	flag.BoolVar(&opts.Stream, "stream", true, "stream the model's replies")
	flag.BoolVar(&opts.Fake, "fake", false, "talk to a local fake OpenAI server even when OPENAI_API_KEY is set")
	flag.Parse()
	if err := run(context.Background(), opts); err != nil {
		log.Fatal(err)
	}
}
