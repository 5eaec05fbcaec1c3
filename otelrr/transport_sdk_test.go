package otelrr_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/agentrr/agentrr/internal/storetest"
	"github.com/agentrr/agentrr/rrtest"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	ooption "github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
)

// sdkAgent is a support agent written against a real LLM SDK: it asks about
// an order, runs the tools the model calls (as otelrr.Tool boundaries) and
// returns the model's final answer. It remembers the stream deltas it saw.
type sdkAgent struct {
	// The SDK client is built with these, and otelrr's transport plugged
	// in with option.WithHTTPClient.
	baseURL     string
	apiKey      string
	httpBase    http.RoundTripper // under otelrr's transport; nil: default
	stream      bool
	temperature float64
	maxRetries  int
	question    string
	// middleware plugs otelrr in with option.WithMiddleware instead.
	middleware bool

	deltas   []string
	toolRuns atomic.Int64
}

const sdkQuestion = "Where is my order A-1001? It was due yesterday."

func (a *sdkAgent) httpClient() *http.Client {
	if a.middleware {
		return &http.Client{Transport: a.httpBase}
	}
	return otelrr.HTTPClient(&http.Client{Transport: a.httpBase})
}

func (a *sdkAgent) lookupOrder(_ context.Context, args map[string]string) (string, error) {
	a.toolRuns.Add(1)
	return fmt.Sprintf("order %s is delayed at the depot, new delivery in 2 days.", args["order_id"]), nil
}

func (a *sdkAgent) refundPolicy(_ context.Context, _ map[string]string) (string, error) {
	a.toolRuns.Add(1)
	return "late orders get their shipping refunded.", nil
}

func (a *sdkAgent) tool(ctx context.Context, name, argsJSON string) (string, error) {
	args := map[string]string{}
	if err := json.Unmarshal([]byte(argsJSON), &args); err != nil {
		return "", fmt.Errorf("tool %s: arguments %q: %w", name, argsJSON, err)
	}
	fn := a.lookupOrder
	if name == "refund_policy" {
		fn = a.refundPolicy
	}
	return otelrr.Tool(ctx, name, args, fn)
}

var orderSchema = map[string]any{"type": "string", "description": "the order id"}

// openAI runs the conversation with openai-go.
func (a *sdkAgent) openAI(ctx context.Context) (string, error) {
	opts := []ooption.RequestOption{
		ooption.WithBaseURL(a.baseURL),
		ooption.WithAPIKey(a.apiKey),
		ooption.WithHTTPClient(a.httpClient()),
		ooption.WithMaxRetries(a.maxRetries),
	}
	if a.middleware {
		opts = append(opts, ooption.WithMiddleware(otelrr.Middleware))
	}
	client := openai.NewClient(opts...)
	tool := func(name string) openai.ChatCompletionToolUnionParam {
		return openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: name,
			Parameters: shared.FunctionParameters{
				"type": "object", "properties": map[string]any{"order_id": orderSchema}, "required": []string{"order_id"},
			},
		})
	}
	params := openai.ChatCompletionNewParams{
		Model:       "gpt-4o-mini",
		Temperature: openai.Float(a.temperature),
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("You are a helpful support agent."),
			openai.UserMessage(cmp.Or(a.question, sdkQuestion)),
		},
		Tools: []openai.ChatCompletionToolUnionParam{tool("lookup_order"), tool("refund_policy")},
	}
	if a.stream {
		params.StreamOptions.IncludeUsage = openai.Bool(true)
	}
	for turn := 0; turn < 5; turn++ {
		var msg openai.ChatCompletionMessage
		if a.stream {
			stream := client.Chat.Completions.NewStreaming(ctx, params)
			var acc openai.ChatCompletionAccumulator
			for stream.Next() {
				chunk := stream.Current()
				acc.AddChunk(chunk)
				for _, c := range chunk.Choices {
					d := c.Delta.Content
					for _, tc := range c.Delta.ToolCalls {
						d += "<" + tc.Function.Name + ":" + tc.Function.Arguments + ">"
					}
					a.deltas = append(a.deltas, d)
				}
			}
			if err := stream.Err(); err != nil {
				return "", err
			}
			if len(acc.Choices) == 0 {
				return "", errors.New("empty stream")
			}
			msg = acc.Choices[0].Message
		} else {
			resp, err := client.Chat.Completions.New(ctx, params)
			if err != nil {
				return "", err
			}
			msg = resp.Choices[0].Message
		}
		if len(msg.ToolCalls) == 0 {
			return msg.Content, nil
		}
		params.Messages = append(params.Messages, msg.ToParam())
		for _, tc := range msg.ToolCalls {
			out, err := a.tool(ctx, tc.Function.Name, tc.Function.Arguments)
			if err != nil {
				return "", err
			}
			params.Messages = append(params.Messages, openai.ToolMessage(out, tc.ID))
		}
	}
	return "", errors.New("no answer after 5 turns")
}

// anthropic runs the conversation with anthropic-sdk-go.
func (a *sdkAgent) anthropic(ctx context.Context) (string, error) {
	opts := []aoption.RequestOption{
		aoption.WithBaseURL(a.baseURL),
		aoption.WithAPIKey(a.apiKey),
		aoption.WithHTTPClient(a.httpClient()),
		aoption.WithMaxRetries(a.maxRetries),
	}
	if a.middleware {
		opts = append(opts, aoption.WithMiddleware(otelrr.Middleware))
	}
	client := anthropic.NewClient(opts...)
	tool := func(name string) anthropic.ToolUnionParam {
		return anthropic.ToolUnionParamOfTool(anthropic.ToolInputSchemaParam{
			Properties: map[string]any{"order_id": orderSchema}, Required: []string{"order_id"},
		}, name)
	}
	params := anthropic.MessageNewParams{
		Model:     "claude-sonnet-4-5",
		MaxTokens: 512,
		System:    []anthropic.TextBlockParam{{Text: "You are a helpful support agent."}},
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(cmp.Or(a.question, sdkQuestion)))},
		Tools:     []anthropic.ToolUnionParam{tool("lookup_order"), tool("refund_policy")},
	}
	for turn := 0; turn < 5; turn++ {
		var msg anthropic.Message
		if a.stream {
			stream := client.Messages.NewStreaming(ctx, params)
			for stream.Next() {
				ev := stream.Current()
				if err := msg.Accumulate(ev); err != nil {
					return "", err
				}
				a.deltas = append(a.deltas, ev.Type+":"+ev.Delta.Text+ev.Delta.PartialJSON)
			}
			if err := stream.Err(); err != nil {
				return "", err
			}
		} else {
			resp, err := client.Messages.New(ctx, params)
			if err != nil {
				return "", err
			}
			msg = *resp
		}
		var results []anthropic.ContentBlockParamUnion
		var text strings.Builder
		for _, b := range msg.Content {
			switch b.Type {
			case "text":
				text.WriteString(b.Text)
			case "tool_use":
				out, err := a.tool(ctx, b.Name, string(b.Input))
				if err != nil {
					return "", err
				}
				results = append(results, anthropic.NewToolResultBlock(b.ID, out, false))
			}
		}
		if len(results) == 0 {
			return text.String(), nil
		}
		params.Messages = append(params.Messages, msg.ToParam(), anthropic.NewUserMessage(results...))
	}
	return "", errors.New("no answer after 5 turns")
}

// sdkDialGuard is a transport that fails the test on any connection attempt:
// what replay runs on.
func sdkDialGuard(t *testing.T) http.RoundTripper {
	return &http.Transport{DialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
		t.Errorf("replay dialed %s %s: replay must make no network access", network, addr)
		return nil, errors.New("sdkDialGuard: no network during replay")
	}}
}

// sdkRecord runs fn in a recorded run on store dir.
func sdkRecord(t *testing.T, dir string, fn func(context.Context) (string, error), opts ...otelrr.Option) (id, out string, err error) {
	t.Helper()
	return recordRun(t, dir, "sdk-agent", fn, opts...)
}

// sdkReplay replays run id with fn, in-process.
func sdkReplay(t *testing.T, dir, id string, fn func(context.Context) (string, error), opts ...replayer.Option) (rep *analyze.Report, out string, err error) {
	t.Helper()
	return sdkReplayOn(t, dir, id, nil, nil, fn, opts...)
}

// sdkReplayOn is sdkReplay on a provider made with tpOpts (the recording's
// redaction rules, say), calling setup, when not nil, with the replaying
// provider before the agent runs.
func sdkReplayOn(t *testing.T, dir, id string, tpOpts []otelrr.Option, setup func(*otelrr.TracerProvider), fn func(context.Context) (string, error), opts ...replayer.Option) (rep *analyze.Report, out string, err error) {
	t.Helper()
	rec := rrtest.Load(t, dir, id)
	rep, rerr := replayer.Replay(context.Background(), rec, func(ctx context.Context) error {
		tp := newTP(t, dir, tpOpts...)
		if setup != nil {
			setup(tp)
		}
		ctx, run, err := tp.StartRun(ctx, "sdk-agent")
		if err != nil {
			return err
		}
		out, err = fn(ctx)
		if endErr := run.End(err); endErr != nil {
			return endErr
		}
		return err
	}, opts...)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if rep.AgentError != "" {
		err = errors.New(rep.AgentError)
	}
	return rep, out, err
}

// sdkKinds returns the kinds and names of a run's boundaries.
func sdkKinds(t *testing.T, dir, id string) []string {
	t.Helper()
	var out []string
	for _, r := range storetest.ReadRun(t, dir, id).Records {
		out = append(out, string(r.Kind)+" "+r.Name)
	}
	return out
}
