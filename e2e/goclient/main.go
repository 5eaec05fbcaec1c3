// Command goclient is a Go agent that knows nothing of agentrr: it uses
// openai-go and anthropic-sdk-go as they come, configured by the standard
// environment (OPENAI_BASE_URL, OPENAI_API_KEY, ANTHROPIC_BASE_URL,
// ANTHROPIC_API_KEY), and prints what the models answered as JSON. The
// end-to-end tests record and replay it through `agentrr proxy`, pointed
// at the proxy by base URL alone.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "goclient:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	oa := openai.NewClient()
	out := map[string]any{}

	params := openai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Where is order G-7007?")},
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name:       "lookup_order",
			Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"order_id": map[string]any{"type": "string"}}},
		})},
	}
	first, err := oa.Chat.Completions.New(ctx, params)
	if err != nil {
		return err
	}
	msg := first.Choices[0].Message
	out["tool_calls"] = msg.ToolCalls
	params.Messages = append(params.Messages, msg.ToParam())
	for _, c := range msg.ToolCalls {
		params.Messages = append(params.Messages, openai.ToolMessage("order G-7007 shipped", c.ID))
	}
	stream := oa.Chat.Completions.NewStreaming(ctx, params)
	var deltas []string
	for stream.Next() {
		if ch := stream.Current(); len(ch.Choices) > 0 && ch.Choices[0].Delta.Content != "" {
			deltas = append(deltas, ch.Choices[0].Delta.Content)
		}
	}
	if err := stream.Err(); err != nil {
		return err
	}
	out["deltas"] = deltas

	an := anthropic.NewClient()
	m, err := an.Messages.New(ctx, anthropic.MessageNewParams{
		Model:     "claude-sonnet-4-5",
		MaxTokens: 64,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello from Go"))},
	})
	if err != nil {
		return err
	}
	out["anthropic"] = m.Content

	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
