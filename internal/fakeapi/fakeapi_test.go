package fakeapi_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	ooption "github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"

	"github.com/agentrr/agentrr/internal/fakeapi"
)

// start starts a fake server, configured by configure (nil: as New), that
// is closed when the test ends.
func start(t *testing.T, configure func(*fakeapi.Server)) *fakeapi.Server {
	s := fakeapi.NewWith(configure)
	t.Cleanup(s.Close)
	return s
}

// openAIServer starts a fake server (see start) and returns it with an
// openai-go client on it that does not retry; opts come after its own.
func openAIServer(t *testing.T, configure func(*fakeapi.Server), opts ...ooption.RequestOption) (*fakeapi.Server, openai.Client) {
	s := start(t, configure)
	return s, openai.NewClient(append([]ooption.RequestOption{
		ooption.WithBaseURL(s.OpenAIBaseURL()), ooption.WithAPIKey("test-key"), ooption.WithMaxRetries(0),
	}, opts...)...)
}

// anthropicServer starts a fake server (see start) and returns it with an
// anthropic-sdk-go client on it that does not retry.
func anthropicServer(t *testing.T) (*fakeapi.Server, anthropic.Client) {
	s := start(t, nil)
	return s, anthropic.NewClient(aoption.WithBaseURL(s.AnthropicBaseURL()), aoption.WithAPIKey("test-key"), aoption.WithMaxRetries(0))
}

var orderTool = openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
	Name: "lookup_order",
	Parameters: shared.FunctionParameters{
		"type":       "object",
		"properties": map[string]any{"order_id": map[string]any{"type": "string"}},
	},
})

func TestOpenAIToolCallThenAnswer(t *testing.T) {
	_, client := openAIServer(t, nil)
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Where is order A-1001?")},
		Tools:    []openai.ChatCompletionToolUnionParam{orderTool},
	}
	resp, err := client.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	msg := resp.Choices[0].Message
	if len(msg.ToolCalls) != 1 || msg.ToolCalls[0].Function.Name != "lookup_order" || msg.ToolCalls[0].Function.Arguments != `{"order_id":"A-1001"}` {
		t.Fatalf("first turn: %+v", msg)
	}
	params.Messages = append(params.Messages, msg.ToParam(), openai.ToolMessage("order A-1001 shipped", msg.ToolCalls[0].ID))

	// The second turn streams: the accumulated message is the answer.
	stream := client.Chat.Completions.NewStreaming(ctx, params)
	var acc openai.ChatCompletionAccumulator
	var deltas []string
	for stream.Next() {
		c := stream.Current()
		acc.AddChunk(c)
		if len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
			deltas = append(deltas, c.Choices[0].Delta.Content)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if got, want := acc.Choices[0].Message.Content, "Here is what I found: order A-1001 shipped"; got != want {
		t.Errorf("answer %q, want %q", got, want)
	}
	if len(deltas) < 2 {
		t.Errorf("deltas %q: want the answer in several pieces", deltas)
	}
}

func TestOpenAIStreamedToolCall(t *testing.T) {
	_, client := openAIServer(t, nil)
	stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Where is order A-1001?")},
		Tools:    []openai.ChatCompletionToolUnionParam{orderTool},
	})
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	tc := acc.Choices[0].Message.ToolCalls
	if len(tc) != 1 || tc[0].Function.Arguments != `{"order_id":"A-1001"}` || tc[0].ID == "" {
		t.Fatalf("accumulated tool calls %+v", tc)
	}
}

func TestAnthropicToolUseThenAnswer(t *testing.T) {
	_, client := anthropicServer(t)
	ctx := context.Background()
	params := anthropic.MessageNewParams{
		Model:     "claude-sonnet-4-5",
		MaxTokens: 256,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Where is order A-1001?"))},
		Tools: []anthropic.ToolUnionParam{anthropic.ToolUnionParamOfTool(anthropic.ToolInputSchemaParam{
			Properties: map[string]any{"order_id": map[string]any{"type": "string"}},
		}, "lookup_order")},
	}
	// The first turn streams: the accumulated message holds the tool use.
	stream := client.Messages.NewStreaming(ctx, params)
	var msg anthropic.Message
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 1 || msg.Content[0].Type != "tool_use" || string(msg.Content[0].Input) != `{"order_id":"A-1001"}` {
		t.Fatalf("first turn: %+v", msg.Content)
	}
	params.Messages = append(params.Messages, msg.ToParam(),
		anthropic.NewUserMessage(anthropic.NewToolResultBlock(msg.Content[0].ID, "order A-1001 shipped", false)))
	resp, err := client.Messages.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.Content[0].Text, "Here is what I found: order A-1001 shipped"; got != want {
		t.Errorf("answer %q, want %q", got, want)
	}
}

func TestFaults(t *testing.T) {
	s, client := anthropicServer(t)
	s.Fail(fakeapi.Fault{Status: http.StatusTooManyRequests, RetryAfter: "1"}, fakeapi.Fault{CutAfter: 2})
	ctx := context.Background()
	params := anthropic.MessageNewParams{
		Model: "claude-sonnet-4-5", MaxTokens: 64,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello there"))},
	}
	_, err := client.Messages.New(ctx, params)
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("err = %v, want a 429 API error", err)
	}
	stream := client.Messages.NewStreaming(ctx, params)
	n := 0
	for stream.Next() {
		n++
	}
	// The two events sent are message_start and ping, which the SDK skips.
	if stream.Err() == nil || n != 1 {
		t.Fatalf("cut stream: %d events, err %v; want 1 event then an error", n, stream.Err())
	}
	if reqs := s.Requests(); len(reqs) != 2 || reqs[1].Fault == nil || !reqs[1].Stream {
		t.Errorf("requests %+v", reqs)
	}
}

func TestAPIKeyChecked(t *testing.T) {
	_, client := openAIServer(t, func(s *fakeapi.Server) { s.APIKey = "right-key" }, ooption.WithAPIKey("wrong-key"))
	_, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized || !strings.Contains(apiErr.Message, "wrong-key") {
		t.Fatalf("err = %v, want a 401 quoting the key sent", err)
	}
}

// tripTools declares one tool per name, each taking a trip id.
func tripTools(names ...string) []openai.ChatCompletionToolUnionParam {
	var tools []openai.ChatCompletionToolUnionParam
	for _, n := range names {
		tools = append(tools, openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: n,
			Parameters: shared.FunctionParameters{
				"type":       "object",
				"properties": map[string]any{"trip_id": map[string]any{"type": "string"}},
			},
		}))
	}
	return tools
}

// With parallel_tool_calls true, one reply calls every tool, non-streamed
// or streamed (the SDK's accumulator sees each call by its index); the
// results, given back in one turn, make the answer. Unset, the model calls
// one tool per turn as before.
func TestOpenAIParallelToolCalls(t *testing.T) {
	names := []string{"flights", "hotels", "weather"}
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "json", true: "stream"}[stream], func(t *testing.T) {
			_, client := openAIServer(t, nil)
			ctx := context.Background()
			params := openai.ChatCompletionNewParams{
				Model:             "gpt-4o-mini",
				Messages:          []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Plan trip T-42, please.")},
				Tools:             tripTools(names...),
				ParallelToolCalls: openai.Bool(true),
			}
			complete := func() openai.ChatCompletionMessage {
				t.Helper()
				if !stream {
					resp, err := client.Chat.Completions.New(ctx, params)
					if err != nil {
						t.Fatal(err)
					}
					return resp.Choices[0].Message
				}
				st := client.Chat.Completions.NewStreaming(ctx, params)
				var acc openai.ChatCompletionAccumulator
				var finished []string
				for st.Next() {
					acc.AddChunk(st.Current())
					if tc, ok := acc.JustFinishedToolCall(); ok {
						finished = append(finished, tc.Name)
					}
				}
				if err := st.Err(); err != nil {
					t.Fatal(err)
				}
				if calls := acc.Choices[0].Message.ToolCalls; len(calls) > 0 && !slices.Equal(finished, names) {
					t.Errorf("the accumulator finished the calls %q, want %q", finished, names)
				}
				return acc.Choices[0].Message
			}
			msg := complete()
			if len(msg.ToolCalls) != len(names) {
				t.Fatalf("one reply called %d tools, want %d: %+v", len(msg.ToolCalls), len(names), msg)
			}
			ids := map[string]bool{}
			for i, tc := range msg.ToolCalls {
				if tc.Function.Name != names[i] || tc.Function.Arguments != `{"trip_id":"T-42"}` || tc.ID == "" || ids[tc.ID] {
					t.Errorf("tool call %d: %+v", i, tc)
				}
				ids[tc.ID] = true
			}
			params.Messages = append(params.Messages, msg.ToParam())
			var results []string
			for _, tc := range msg.ToolCalls {
				results = append(results, tc.Function.Name+" ok.")
				params.Messages = append(params.Messages, openai.ToolMessage(tc.Function.Name+" ok.", tc.ID))
			}
			msg = complete()
			if want := "Here is what I found: " + strings.Join(results, " "); msg.Content != want || len(msg.ToolCalls) != 0 {
				t.Errorf("answer %+v, want %q", msg, want)
			}
		})
	}

	_, client := openAIServer(t, nil)
	resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Plan trip T-42, please.")},
		Tools:    tripTools(names...),
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls := resp.Choices[0].Message.ToolCalls; len(calls) != 1 || calls[0].Function.Name != names[0] {
		t.Errorf("without parallel_tool_calls: %+v, want one call of %s", calls, names[0])
	}
}

// AnswerEarly makes the model vary from call to call: on the decisions it
// picks, it answers instead of calling the tool. Requests keep their body.
func TestAnswerEarlyVariesTheModel(t *testing.T) {
	s, client := openAIServer(t, func(s *fakeapi.Server) { s.AnswerEarly = func(n int) bool { return n%2 == 0 } })
	params := openai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Where is order A-1001?")},
		Tools:    []openai.ChatCompletionToolUnionParam{orderTool},
	}
	var calls []int
	for range 4 {
		resp, err := client.Chat.Completions.New(context.Background(), params)
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, len(resp.Choices[0].Message.ToolCalls))
		if len(resp.Choices[0].Message.ToolCalls) == 0 && !strings.HasPrefix(resp.Choices[0].Message.Content, "Here is what I found:") {
			t.Errorf("early answer %q", resp.Choices[0].Message.Content)
		}
	}
	if !slices.Equal(calls, []int{1, 0, 1, 0}) {
		t.Errorf("tool calls per request %v, want [1 0 1 0]", calls)
	}
	reqs := s.Requests()
	if len(reqs) != 4 || !strings.Contains(string(reqs[0].Body), "Where is order A-1001?") {
		t.Errorf("requests %d, first body %s", len(reqs), reqs[0].Body)
	}
}

func TestResponsesToolCallsThenAnswer(t *testing.T) {
	_, client := openAIServer(t, nil)
	ctx := context.Background()
	tools := []responses.ToolUnionParam{
		{OfFunction: &responses.FunctionToolParam{Name: "lookup_order", Parameters: map[string]any{"type": "object", "properties": map[string]any{"order_id": map[string]any{"type": "string"}}}}},
		{OfFunction: &responses.FunctionToolParam{Name: "track_parcel", Parameters: map[string]any{"type": "object", "properties": map[string]any{"order_id": map[string]any{"type": "string"}}}}},
	}
	input := responses.ResponseInputParam{responses.ResponseInputItemParamOfMessage("Where is order A-1001?", responses.EasyInputMessageRoleUser)}
	resp, err := client.Responses.New(ctx, responses.ResponseNewParams{
		Model: "gpt-4.1", Input: responses.ResponseNewParamsInputUnion{OfInputItemList: input}, Tools: tools,
		ParallelToolCalls: openai.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	var calls []responses.ResponseFunctionToolCall
	for _, item := range resp.Output {
		if item.Type == "function_call" {
			calls = append(calls, item.AsFunctionCall())
		}
	}
	if len(calls) != 2 || calls[0].Name != "lookup_order" || calls[1].Name != "track_parcel" || calls[0].Arguments != `{"order_id":"A-1001"}` {
		t.Fatalf("want two parallel calls, got %+v", resp.Output)
	}
	for _, c := range calls {
		out := responses.ResponseInputItemParamOfFunctionCallOutput(c.Name + " done")
		out.OfFunctionCallOutput.CallID = openai.String(c.CallID)
		input = append(input, responses.ResponseInputItemParamOfFunctionCall(c.Arguments, c.CallID, c.Name), out)
	}
	stream := client.Responses.NewStreaming(ctx, responses.ResponseNewParams{
		Model: "gpt-4.1", Input: responses.ResponseNewParamsInputUnion{OfInputItemList: input}, Tools: tools,
	})
	var deltas []string
	var final string
	for stream.Next() {
		ev := stream.Current()
		switch ev.Type {
		case "response.output_text.delta":
			deltas = append(deltas, ev.Delta)
		case "response.completed":
			final = ev.Response.OutputText()
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if want := "Here is what I found: lookup_order done track_parcel done"; final != want || strings.Join(deltas, "") != want || len(deltas) < 2 {
		t.Errorf("answer %q in deltas %q, want %q", final, deltas, want)
	}
}
