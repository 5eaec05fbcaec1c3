// Command mcp_agent is a travel-desk agent whose tools are served by MCP
// servers, reached with the official Go MCP SDK
// (github.com/modelcontextprotocol/go-sdk), and whose model is called with
// the official OpenAI Go SDK. agentrr records both at their boundaries:
// each MCP session's transport is wrapped with mcprr.Transport (one line
// per session), the OpenAI client's HTTP client is otelrr.HTTPClient.
//
// It uses two servers, built with the same MCP SDK (servers.go):
//
//   - weather, run as a child process over stdio: this very binary,
//     started as "mcp_agent serve weather", with an API key in its
//     environment;
//   - events, reached over streamable HTTP: a server the agent starts in
//     its own process while recording, standing for a remote one.
//
// The agent takes its instructions from the events server (prompts/get),
// lists both servers' tools (tools/list) and offers them to the model,
// which calls get_forecast (weather) and then find_events (events); the
// agent runs each call on its server (tools/call), passing the model's
// tool call id along, and shows the forecast's progress notifications.
//
// With no configuration it talks to a local fake OpenAI server
// (internal/fakeapi), so it runs with no key and no network:
//
//	go run ./examples/mcp_agent
//
// It prints the run id. Replay the run offline afterwards: no model, no
// weather process, no events server, no network:
//
//	agentrr replay --from-trace <run_id> -- go run ./examples/mcp_agent
//
// Replaying with -units imperial changes an argument of the get_forecast
// call: the replay diverges there, naming params.arguments.units.
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
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/examples/internal/openaiclient"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/otelrr/mcprr"
)

const defaultQuestion = "What can I do in Lisbon this weekend? My trip is TR-2026."

// weatherKey is the weather server's (demo) API key.
const weatherKey = "wk-demo-7f3a9c2e51d8"

// Agent is the travel-desk agent.
type Agent struct {
	// Client is the OpenAI client; its HTTP client must be otelrr's
	// (openaiclient.New).
	Client   openai.Client
	Model    string
	Question string
	// Units are the traveller's units ("metric" when empty, or
	// "imperial"): the agent sets the forecast's units argument itself,
	// so the model is not offered it.
	Units string
	// Weather is the command that runs the weather server (stdio).
	Weather *exec.Cmd
	// EventsURL is the events server's endpoint (streamable HTTP).
	EventsURL string
	Out       io.Writer
}

// agentParams are the tool parameters the agent fills in itself.
var agentParams = []string{"units"}

// Run answers the question inside the run carried by ctx.
func (a *Agent) Run(ctx context.Context) (string, error) {
	out := cmp.Or[io.Writer](a.Out, io.Discard)
	var (
		mu       sync.Mutex
		progress []string
	)
	client := mcp.NewClient(&mcp.Implementation{Name: "mcp_agent", Version: "1.0.0"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
			mu.Lock()
			progress = append(progress, fmt.Sprintf("  %v: %s (%v/%v)", r.Params.ProgressToken, r.Params.Message, r.Params.Progress, r.Params.Total))
			mu.Unlock()
		},
	})
	// One line per session makes it recordable.
	weather, err := client.Connect(ctx, mcprr.Transport(&mcp.CommandTransport{Command: a.Weather}, mcprr.WithServerName("weather")), nil)
	if err != nil {
		return "", fmt.Errorf("connecting to the weather server: %w", err)
	}
	defer weather.Close()
	events, err := client.Connect(ctx, mcprr.Transport(&mcp.StreamableClientTransport{Endpoint: a.EventsURL}, mcprr.WithServerName("events")), nil)
	if err != nil {
		return "", fmt.Errorf("connecting to the events server: %w", err)
	}
	defer events.Close()

	instructions, err := events.GetPrompt(ctx, &mcp.GetPromptParams{Name: "travel_desk"})
	if err != nil {
		return "", err
	}
	params := openai.ChatCompletionNewParams{
		Model: cmp.Or(a.Model, "gpt-4o-mini"),
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage(promptText(instructions)),
			openai.UserMessage(cmp.Or(a.Question, defaultQuestion)),
		},
		Temperature: openai.Float(0.2),
	}
	owner := map[string]*mcp.ClientSession{}
	for _, cs := range []*mcp.ClientSession{weather, events} {
		list, err := cs.ListTools(ctx, nil)
		if err != nil {
			return "", err
		}
		for _, tool := range list.Tools {
			owner[tool.Name] = cs
			params.Tools = append(params.Tools, functionTool(tool))
		}
	}

	answer, err := a.converse(ctx, params, owner, out)
	if err != nil {
		return "", err
	}
	// Closing waits for the notification handlers: every progress
	// notification has been handled.
	weather.Close()
	events.Close()
	if len(progress) > 0 {
		fmt.Fprintf(out, "progress:\n%s\n", strings.Join(progress, "\n"))
	}
	return answer, nil
}

// converse asks the model until it answers, running the tool calls it
// makes on their MCP servers.
func (a *Agent) converse(ctx context.Context, params openai.ChatCompletionNewParams, owner map[string]*mcp.ClientSession, out io.Writer) (string, error) {
	for turn := 0; turn < 6; turn++ {
		// Not streamed: the agent prints each tool call with its result.
		msg, err := openaiclient.Complete(ctx, a.Client, params, false, nil)
		if err != nil {
			return "", err
		}
		if len(msg.ToolCalls) == 0 {
			return msg.Content, nil
		}
		params.Messages = append(params.Messages, msg.ToParam())
		for _, tc := range msg.ToolCalls {
			result, err := a.callTool(ctx, owner, tc)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(out, "[%s %s] %s\n", tc.Function.Name, tc.Function.Arguments, result)
			params.Messages = append(params.Messages, openai.ToolMessage(result, tc.ID))
		}
	}
	return "", errors.New("no answer after 6 turns")
}

// callTool runs one of the model's tool calls on the server that has the
// tool. A tool's own failure (an isError result) goes back to the model;
// an error of the session (a replay divergence, a lost server) ends the
// run.
func (a *Agent) callTool(ctx context.Context, owner map[string]*mcp.ClientSession, tc openai.ChatCompletionMessageToolCallUnion) (string, error) {
	cs, ok := owner[tc.Function.Name]
	if !ok {
		return "error: no tool named " + tc.Function.Name, nil
	}
	var args map[string]any
	if err := json.Unmarshal([]byte(tc.Function.Arguments), &args); err != nil {
		return "error: the arguments are not a JSON object: " + tc.Function.Arguments, nil
	}
	if tc.Function.Name == "get_forecast" {
		args["units"] = cmp.Or(a.Units, "metric")
	}
	p := &mcp.CallToolParams{Name: tc.Function.Name, Arguments: args}
	p.SetProgressToken(tc.ID)
	res, err := cs.CallTool(mcprr.WithToolCallID(ctx, tc.ID), p)
	if err != nil {
		return "", fmt.Errorf("%s: %w", tc.Function.Name, err)
	}
	var parts []string
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, t.Text)
		}
	}
	text := strings.Join(parts, " ")
	if res.IsError {
		text = "error: " + text
	}
	return text, nil
}

// functionTool offers an MCP tool to the model, without the parameters
// the agent fills in itself.
func functionTool(tool *mcp.Tool) openai.ChatCompletionToolUnionParam {
	var schema map[string]any
	if b, err := json.Marshal(tool.InputSchema); err == nil {
		_ = json.Unmarshal(b, &schema)
	}
	if props, ok := schema["properties"].(map[string]any); ok {
		for _, p := range agentParams {
			delete(props, p)
		}
	}
	if req, ok := schema["required"].([]any); ok {
		schema["required"] = slices.DeleteFunc(req, func(v any) bool { return slices.Contains(agentParams, fmt.Sprint(v)) })
	}
	return openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name:        tool.Name,
		Description: openai.String(tool.Description),
		Parameters:  shared.FunctionParameters(schema),
	})
}

// Options configure one run of the command.
type Options struct {
	Model    string
	Question string
	Units    string
	// WeatherServer is the weather server's executable, run with
	// WeatherArgs (empty: this executable, with "serve weather").
	WeatherServer string
	WeatherArgs   []string
	// WeatherEnv is added to the weather server's environment.
	WeatherEnv []string
	// Fake makes the agent talk to a local fake OpenAI server even when
	// APIKey is set; APIKey and BaseURL select the real API.
	Fake            bool
	APIKey, BaseURL string
	// Transport is the transport under otelrr's, for the model (nil: the
	// default).
	Transport http.RoundTripper
	// TracerOptions are added to the provider's (after FromEnv).
	TracerOptions []otelrr.Option
	Out           io.Writer
}

// Outcome is what one run of the command did, for tests.
type Outcome struct {
	RunID string
	// WeatherStarted is true when the weather server process was started.
	WeatherStarted bool
	// Events is the events server, nil when none was started.
	Events *eventsServer
	// Report is the replay's report (nil when recording).
	Report *analyze.Report
}

// run records (or, under `agentrr replay`, replays) one run of the agent.
func run(ctx context.Context, opts *Options) (*Outcome, error) {
	tp, err := otelrr.NewTracerProvider(ctx, append([]otelrr.Option{otelrr.FromEnv(), otelrr.WithServiceName("mcp_agent")}, opts.TracerOptions...)...)
	if err != nil {
		return nil, err
	}
	defer tp.Shutdown(ctx)
	outcome := &Outcome{}

	api := openaiclient.Pick(tp.Replaying(), opts.Fake, opts.APIKey, opts.BaseURL)
	defer api.Close()
	where := api.Where
	if api.Fake != nil {
		where = "a local fake OpenAI server"
	}
	// The events server: started here while recording; on replay nothing
	// listens at its address, and nothing needs to.
	eventsURL := "http://127.0.0.1/mcp"
	if !tp.Replaying() {
		outcome.Events = newEventsServer()
		srv := httptest.NewServer(outcome.Events)
		defer srv.Close()
		eventsURL = srv.URL + "/mcp"
	}
	weather, err := weatherCommand(opts)
	if err != nil {
		return nil, err
	}

	ctx, r, err := tp.StartRun(ctx, "mcp_agent")
	if err != nil {
		return nil, err
	}
	outcome.RunID = r.TraceID()
	fmt.Fprintf(opts.Out, "run_id: %s\n", r.TraceID())
	fmt.Fprintf(opts.Out, "talking to %s\n", where)
	agent := &Agent{
		Client:    openaiclient.New(api.BaseURL, api.Key, opts.Transport),
		Model:     opts.Model,
		Question:  opts.Question,
		Units:     opts.Units,
		Weather:   weather,
		EventsURL: eventsURL,
		Out:       opts.Out,
	}
	answer, agentErr := agent.Run(ctx)
	outcome.WeatherStarted = weather.Process != nil
	if err := r.End(agentErr); err != nil {
		return outcome, err
	}
	outcome.Report = r.Report()
	if agentErr != nil {
		return outcome, agentErr
	}
	fmt.Fprintln(opts.Out, "answer:", strings.TrimSpace(answer))
	if r.Replaying() {
		var requests int64
		if outcome.Events != nil {
			requests = outcome.Events.Requests.Load()
		}
		fmt.Fprintf(opts.Out, "replayed %s: %s (weather server started: %v, events server requests: %d)\n",
			r.Report().OriginalTrace, r.Report().Verdict(), outcome.WeatherStarted, requests)
	} else if os.Getenv("AGENTRR_EXAMPLE_QUIET") == "" {
		fmt.Fprintf(opts.Out, "replay it with: agentrr replay --from-trace %s -- go run ./examples/mcp_agent\n", r.TraceID())
	}
	return outcome, nil
}

// weatherCommand is the command that runs the weather server.
func weatherCommand(opts *Options) (*exec.Cmd, error) {
	path, args := opts.WeatherServer, opts.WeatherArgs
	if path == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("finding the weather server (this executable): %w", err)
		}
		path, args = exe, []string{"serve", "weather"}
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(append(os.Environ(), envWeatherKey+"="+weatherKey), opts.WeatherEnv...)
	cmd.Stderr = os.Stderr
	return cmd, nil
}

// isServe reports whether args ask this executable to be the weather
// server.
func isServe(args []string) bool {
	return len(args) == 3 && args[1] == "serve" && args[2] == "weather"
}

func main() {
	log.SetFlags(0)
	if isServe(os.Args) {
		if err := serveWeather(context.Background()); err != nil {
			log.Fatal("weather server: ", err)
		}
		return
	}
	opts := &Options{Out: os.Stdout, APIKey: os.Getenv("OPENAI_API_KEY"), BaseURL: os.Getenv("OPENAI_BASE_URL")}
	flag.StringVar(&opts.Model, "model", "gpt-4o-mini", "the model to ask")
	flag.StringVar(&opts.Question, "question", defaultQuestion, "the traveller's question")
	flag.StringVar(&opts.Units, "units", "metric", "the traveller's units: metric or imperial")
	flag.StringVar(&opts.WeatherServer, "weather-server", "", "the weather MCP server's executable (default: this one, as \"serve weather\")")
	flag.BoolVar(&opts.Fake, "fake", false, "talk to a local fake OpenAI server even when OPENAI_API_KEY is set")
	flag.Parse()
	if _, err := run(context.Background(), opts); err != nil {
		log.Fatal(err)
	}
}
