// Command parallel_tools is a travel-desk agent on the official OpenAI Go
// SDK (github.com/openai/openai-go/v3) whose model calls four tools at once
// (parallel_tool_calls): one assistant message with four tool calls. The
// agent runs each call in its own goroutine, on its own agentrr branch named
// after the tool call id, with tools that take random times, so they finish
// in a different order every run. It then gives the model every result, in
// the order of the calls, and finally streams two follow-up completions from
// two branches at once.
//
// A boundary's identity is its branch and its place in the branch, so the
// run replays exactly whichever order the goroutines finish in: the tools
// never run on replay, and the answer is the recorded one.
//
// With no configuration it starts a local fake OpenAI server
// (internal/fakeapi) and talks to it, so it runs with no key and no network:
//
//	go run ./examples/parallel_tools
//
// With OPENAI_API_KEY set it talks to the real API (OPENAI_BASE_URL, when
// set, names another OpenAI-compatible server); -fake forces the fake.
// Either way it prints the run id. Replay the run offline afterwards — no
// server, no key, no network — with the same flags:
//
//	agentrr replay --from-trace <run_id> -- go run ./examples/parallel_tools
//
// Replaying with another -units changes the arguments of one tool call, in
// one branch: the replay diverges there, and names that branch.
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
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/agentrr/agentrr/examples/internal/openaiclient"
	"github.com/agentrr/agentrr/otelrr"
)

const systemPrompt = "You are a travel desk assistant. Check the flight, the hotel, the weather and the local events of the trip, all at once, then answer in one short paragraph."

const defaultQuestion = "Plan my weekend in Lisbon, trip TR-2026."

// Agent is the travel-desk agent.
type Agent struct {
	// Client is the OpenAI client; its HTTP client must be otelrr's
	// (openaiclient.New).
	Client openai.Client
	Model  string
	// Stream makes the agent stream the model's planning replies, printing
	// the deltas and tool calls to Out as they arrive. The two follow-ups
	// always stream.
	Stream   bool
	Question string
	// Units are the traveller's units for the weather ("metric" when
	// empty, or "imperial"). The model does not know them: the agent adds
	// them to the weather tool's arguments.
	Units string
	// Out receives the streamed deltas of the planning replies (nil:
	// discarded).
	Out io.Writer

	// ToolRuns counts the tool functions actually run (none on replay).
	ToolRuns atomic.Int64
}

// Plan is what the agent answers.
type Plan struct {
	// Answer is the model's reply once it has every tool result.
	Answer string
	// SMS and Checklist are the two follow-ups, streamed concurrently.
	SMS, Checklist string
}

// tripArgs are the arguments of every tool.
type tripArgs struct {
	TripID string `json:"trip_id"`
	// Units is set by the agent, for the weather tool only.
	Units string `json:"units,omitempty"`
}

// tripTool is a tool the model may call.
type tripTool struct {
	name, description string
	run               func(*Agent, tripArgs) string
	// live tools answer with data of the moment: the agent notes when it
	// checked (a clock boundary on the tool's branch).
	live bool
}

// tools are the agent's tools, in the order they are declared to the model.
var tools = []tripTool{
	{"flight_status", "The status of the trip's flight.", (*Agent).flightStatus, true},
	{"hotel_booking", "The trip's hotel booking.", (*Agent).hotelBooking, false},
	{"weather_forecast", "The weather forecast at the destination, in the traveller's units.", (*Agent).weatherForecast, true},
	{"local_events", "Events at the destination during the trip.", (*Agent).localEvents, false},
}

// busy stands for the tool's real work (an API call, a database query): a
// random time, so that parallel tools finish in a random order.
func (a *Agent) busy() {
	a.ToolRuns.Add(1)
	time.Sleep(time.Duration(1+rand.IntN(20)) * time.Millisecond)
}

func (a *Agent) flightStatus(args tripArgs) string {
	a.busy()
	return fmt.Sprintf("flight TP 1351 of trip %s leaves on time at 09:40.", args.TripID)
}

func (a *Agent) hotelBooking(args tripArgs) string {
	a.busy()
	return fmt.Sprintf("trip %s has two nights booked at Casa do Alfama.", args.TripID)
}

func (a *Agent) weatherForecast(args tripArgs) string {
	a.busy()
	if args.Units == "imperial" {
		return "sunny on Saturday, 70°F."
	}
	return "sunny on Saturday, 21°C."
}

func (a *Agent) localEvents(_ tripArgs) string {
	a.busy()
	return "a fado night in Alfama on Saturday at 21:00."
}

// toolParams declares tools to the model.
func toolParams() []openai.ChatCompletionToolUnionParam {
	var out []openai.ChatCompletionToolUnionParam
	for _, t := range tools {
		out = append(out, openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name:        t.name,
			Description: openai.String(t.description),
			Parameters: shared.FunctionParameters{
				"type":       "object",
				"properties": map[string]any{"trip_id": map[string]any{"type": "string", "description": "the trip id, such as TR-2026"}},
				"required":   []string{"trip_id"},
			},
		}))
	}
	return out
}

// Run plans the trip inside the run carried by ctx.
func (a *Agent) Run(ctx context.Context) (*Plan, error) {
	answer, err := a.answer(ctx)
	if err != nil {
		return nil, err
	}
	sms, checklist, err := a.followUps(ctx, answer)
	if err != nil {
		return nil, err
	}
	return &Plan{Answer: answer, SMS: sms, Checklist: checklist}, nil
}

func (a *Agent) model() string { return cmp.Or(a.Model, "gpt-4o-mini") }

// answer asks the model until it answers without calling tools, running
// the tools of each reply in parallel.
func (a *Agent) answer(ctx context.Context) (string, error) {
	params := openai.ChatCompletionNewParams{
		Model: a.model(),
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage(systemPrompt),
			openai.UserMessage(cmp.Or(a.Question, defaultQuestion)),
		},
		Tools:             toolParams(),
		ParallelToolCalls: openai.Bool(true),
		Temperature:       openai.Float(0.2),
	}
	for turn := 0; turn < 4; turn++ {
		msg, err := openaiclient.Complete(ctx, a.Client, params, a.Stream, a.Out)
		if err != nil {
			return "", err
		}
		if len(msg.ToolCalls) == 0 {
			return msg.Content, nil
		}
		results, err := a.runTools(ctx, msg.ToolCalls)
		if err != nil {
			return "", err
		}
		// The results go back in the order of the calls, whatever order
		// the tools finished in.
		params.Messages = append(params.Messages, msg.ToParam())
		for i, tc := range msg.ToolCalls {
			params.Messages = append(params.Messages, openai.ToolMessage(results[i], tc.ID))
		}
	}
	return "", errors.New("no answer after 4 turns")
}

// runTools runs the tool calls in parallel, each on its own branch named
// after the call's id, and returns their results in the order of calls.
func (a *Agent) runTools(ctx context.Context, calls []openai.ChatCompletionMessageToolCallUnion) ([]string, error) {
	results := make([]string, len(calls))
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, tc := range calls {
		wg.Add(1)
		otelrr.Go(ctx, tc.ID, func(ctx context.Context) {
			defer wg.Done()
			results[i], errs[i] = a.runTool(ctx, tc.Function.Name, tc.Function.Arguments)
		})
	}
	wg.Wait()
	return results, errors.Join(errs...)
}

// runTool runs one tool call as an otelrr.Tool boundary. A call the agent
// cannot run (no such tool, arguments that are not JSON) is answered with
// an error message for the model; an error is agentrr's (a replay
// divergence, a store failure) and ends the run.
func (a *Agent) runTool(ctx context.Context, name, arguments string) (string, error) {
	i := toolIndex(name)
	if i < 0 {
		return "error: no tool named " + name, nil
	}
	var args tripArgs
	if json.Unmarshal([]byte(arguments), &args) != nil {
		return "error: arguments are not JSON: " + arguments, nil
	}
	t := tools[i]
	if t.name == "weather_forecast" {
		args.Units = cmp.Or(a.Units, "metric")
	}
	res, err := otelrr.Tool(ctx, t.name, args, func(_ context.Context, args tripArgs) (string, error) {
		return t.run(a, args), nil
	})
	if err != nil || !t.live {
		return res, err
	}
	now, err := otelrr.Now(ctx)
	if err != nil {
		return "", err
	}
	return res + " (checked at " + now.UTC().Format(time.TimeOnly) + " UTC)", nil
}

func toolIndex(name string) int {
	for i, t := range tools {
		if t.name == name {
			return i
		}
	}
	return -1
}

// followUps streams two completions at once from the answer, each from its
// own branch ("sms", "checklist"), and returns their texts.
func (a *Agent) followUps(ctx context.Context, answer string) (sms, checklist string, err error) {
	asks := []string{
		"Write this as a text message to the traveller: " + answer,
		"Turn this into a packing checklist: " + answer,
	}
	texts := make([]string, len(asks))
	errs := make([]error, len(asks))
	var wg sync.WaitGroup
	for i, name := range []string{"sms", "checklist"} {
		wg.Add(1)
		otelrr.Go(ctx, name, func(ctx context.Context) {
			defer wg.Done()
			// The deltas of two streams at once would interleave: only the
			// accumulated texts are printed, once both are done.
			msg, err := openaiclient.Stream(ctx, a.Client, openai.ChatCompletionNewParams{
				Model:    a.model(),
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(asks[i])},
			}, io.Discard)
			texts[i], errs[i] = msg.Content, err
		})
	}
	wg.Wait()
	return texts[0], texts[1], errors.Join(errs...)
}

// Options configure one run of the command.
type Options struct {
	Model    string
	Question string
	Stream   bool
	Units    string
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
	tp, err := otelrr.NewTracerProvider(ctx, append([]otelrr.Option{otelrr.FromEnv(), otelrr.WithServiceName("parallel_tools")}, opts.TracerOptions...)...)
	if err != nil {
		return err
	}
	defer tp.Shutdown(ctx)

	api := openaiclient.Pick(tp.Replaying(), opts.Fake, opts.APIKey, opts.BaseURL)
	defer api.Close()

	ctx, r, err := tp.StartRun(ctx, "parallel_tools")
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
		Units:    opts.Units,
		Out:      opts.Out,
	}
	plan, agentErr := agent.Run(ctx)
	if err := r.End(agentErr); err != nil {
		return err
	}
	if agentErr != nil {
		return agentErr
	}
	fmt.Fprintln(opts.Out, "answer:", plan.Answer)
	fmt.Fprintln(opts.Out, "sms:", plan.SMS)
	fmt.Fprintln(opts.Out, "checklist:", plan.Checklist)
	if r.Replaying() {
		rep := r.Report()
		fmt.Fprintf(opts.Out, "replayed %s: %s (tool runs: %d)\n", rep.OriginalTrace, rep.Verdict(), agent.ToolRuns.Load())
	} else if os.Getenv("AGENTRR_EXAMPLE_QUIET") == "" {
		fmt.Fprintf(opts.Out, "replay it with: agentrr replay --from-trace %s -- go run ./examples/parallel_tools\n", r.TraceID())
	}
	return nil
}

func main() {
	log.SetFlags(0)
	opts := &Options{Out: os.Stdout, APIKey: os.Getenv("OPENAI_API_KEY"), BaseURL: os.Getenv("OPENAI_BASE_URL")}
	flag.StringVar(&opts.Model, "model", "gpt-4o-mini", "the model to ask")
	flag.StringVar(&opts.Question, "question", defaultQuestion, "the traveller's question")
	flag.BoolVar(&opts.Stream, "stream", true, "stream the model's planning replies")
	flag.StringVar(&opts.Units, "units", "metric", "the traveller's units for the weather: metric or imperial")
	flag.BoolVar(&opts.Fake, "fake", false, "talk to a local fake OpenAI server even when OPENAI_API_KEY is set")
	flag.Parse()
	if err := run(context.Background(), opts); err != nil {
		log.Fatal(err)
	}
}
