package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The agent's two MCP servers, built with the same SDK: a weather server
// the agent runs as a child process over stdio (this very binary, started
// with "serve weather"), and an events server it reaches over streamable
// HTTP (started in the agent's process while recording, standing for a
// remote one).

// trips are the trips the servers know.
var trips = map[string]string{"TR-2026": "Lisbon"}

// envWeatherKey is the weather server's API key: a secret in its
// environment, which the recording keeps only as REDACTED.
const envWeatherKey = "WEATHER_API_KEY"

// envWeatherLog names a file the weather server appends a line to for
// each tool call it runs (tests count them).
const envWeatherLog = "MCP_AGENT_WEATHER_LOG"

type forecastArgs struct {
	TripID string `json:"trip_id" jsonschema:"the trip's id, such as TR-2026"`
	Units  string `json:"units,omitempty" jsonschema:"metric or imperial; the agent sets it"`
}

type eventsArgs struct {
	TripID string `json:"trip_id" jsonschema:"the trip's id, such as TR-2026"`
}

// newWeatherServer is the weather MCP server. Its forecast tool reports
// its progress to callers that ask for it.
func newWeatherServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "weather", Version: "1.2.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "get_forecast", Description: "The weekend's weather forecast at a trip's destination."},
		func(ctx context.Context, req *mcp.CallToolRequest, a forecastArgs) (*mcp.CallToolResult, any, error) {
			noteCall("get_forecast")
			if os.Getenv(envWeatherKey) == "" {
				return nil, nil, fmt.Errorf("the weather server has no %s", envWeatherKey)
			}
			city, ok := trips[a.TripID]
			if !ok {
				return nil, nil, fmt.Errorf("no trip %q", a.TripID)
			}
			if tok := req.Params.GetProgressToken(); tok != nil {
				for i, step := range []string{"locating " + city, "running the forecast model"} {
					_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: float64(i + 1), Total: 2, Message: step})
				}
			}
			sat, sun := "24°C", "21°C"
			if a.Units == "imperial" {
				sat, sun = "75°F", "70°F"
			}
			text := fmt.Sprintf("%s this weekend: Saturday sunny, %s; Sunday cloudy, %s.", city, sat, sun)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil, nil
		})
	return s
}

// noteCall appends a line to the weather server's call log, if it has one.
func noteCall(tool string) {
	path := os.Getenv(envWeatherLog)
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintln(f, tool)
}

// serveWeather runs the weather server on this process's stdin and stdout.
func serveWeather(ctx context.Context) error {
	return newWeatherServer().Run(ctx, &mcp.StdioTransport{})
}

// eventsServer is the events MCP server over streamable HTTP (stateless,
// which the SDK serves at protocol 2026-07-28), counting the requests it
// gets.
type eventsServer struct {
	http.Handler
	Requests atomic.Int64
	Calls    atomic.Int64
}

func newEventsServer() *eventsServer {
	e := &eventsServer{}
	s := mcp.NewServer(&mcp.Implementation{Name: "events", Version: "0.9.1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "find_events", Description: "Events at a trip's destination this weekend."},
		func(_ context.Context, _ *mcp.CallToolRequest, a eventsArgs) (*mcp.CallToolResult, any, error) {
			e.Calls.Add(1)
			if trips[a.TripID] != "Lisbon" {
				return nil, nil, fmt.Errorf("no events known for trip %q", a.TripID)
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{
				Text: "Saturday: fado night in Alfama, 21:00; Sunday: the Feira da Ladra flea market, from 09:00.",
			}}}, nil, nil
		})
	s.AddPrompt(&mcp.Prompt{Name: "travel_desk", Description: "The travel desk's instructions."},
		func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{
				Text: "You are a travel desk assistant. Check the weather and the events of the trip, then answer in one short paragraph.",
			}}}}, nil
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true})
	e.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.Requests.Add(1)
		h.ServeHTTP(w, r)
	})
	return e
}

// promptText is the text of a prompt's messages.
func promptText(res *mcp.GetPromptResult) string {
	var parts []string
	for _, m := range res.Messages {
		if t, ok := m.Content.(*mcp.TextContent); ok {
			parts = append(parts, t.Text)
		}
	}
	return strings.Join(parts, "\n")
}
