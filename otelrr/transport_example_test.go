package otelrr_test

import (
	"context"
	"fmt"
	"log"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/agentrr/agentrr/otelrr"
)

// Record (or, under `agentrr replay`, replay) an agent built on openai-go:
// its HTTP client is otelrr's, and every call gets the run's context.
func ExampleHTTPClient() {
	ctx := context.Background()
	tp, err := otelrr.NewTracerProvider(ctx, otelrr.FromEnv())
	if err != nil {
		log.Fatal(err)
	}
	defer tp.Shutdown(ctx)

	client := openai.NewClient(option.WithHTTPClient(otelrr.HTTPClient(nil)))

	ctx, run, err := tp.StartRun(ctx, "support-agent")
	if err != nil {
		log.Fatal(err)
	}
	resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Where is my order A-1001?")},
	})
	if endErr := run.End(err); endErr != nil {
		log.Fatal(endErr)
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Choices[0].Message.Content)
}

// The same with anthropic-sdk-go, plugged in as a middleware: the SDK keeps
// its own HTTP client, which replay never uses.
func ExampleMiddleware() {
	client := anthropic.NewClient(aoption.WithMiddleware(otelrr.Middleware))
	_ = client
}
