// Package openaiclient is the plumbing the examples on the official OpenAI
// Go SDK (github.com/openai/openai-go/v3) share: the SDK client on agentrr's
// HTTP client, the choice of the server a run talks to (the recording, a
// local fake, the real API) and one Chat Completions call, streamed or not.
// What each agent does with the model stays in its own main.go.
package openaiclient

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/agentrr/agentrr/internal/fakeapi"
	"github.com/agentrr/agentrr/otelrr"
)

// New returns an OpenAI client on baseURL whose HTTP exchanges are agentrr
// boundaries: its HTTP client is otelrr.HTTPClient. base is the transport
// under otelrr's (nil: the default); baseURL and key may be empty (the
// SDK's defaults; no key is needed on replay).
func New(baseURL, key string, base http.RoundTripper) openai.Client {
	opts := []option.RequestOption{option.WithHTTPClient(otelrr.HTTPClient(&http.Client{Transport: base}))}
	if baseURL != "" {
		opts = append(opts, option.WithBaseURL(baseURL))
	}
	if key != "" {
		opts = append(opts, option.WithAPIKey(key))
	}
	return openai.NewClient(opts...)
}

// Endpoint is the OpenAI-compatible server a run's model calls go to.
type Endpoint struct {
	// BaseURL and Key are what the client is given.
	BaseURL, Key string
	// Where names the server, for the run's "talking to" line.
	Where string
	// Fake is the local fake server started for the run, nil when there
	// is none.
	Fake *fakeapi.Server
}

// Pick returns the endpoint of a run. Offline (a replay), nothing is
// contacted: the recorded responses are served in place, and BaseURL is
// baseURL as given (the host does not count in what replay compares, the
// path does: keep OPENAI_BASE_URL's path as it was; the key never does).
// Else, with fake set or no apiKey, it starts a local fake OpenAI server
// (internal/fakeapi); else it is the real API at baseURL (empty: the SDK's
// default, https://api.openai.com/v1/) with apiKey. Close the endpoint
// when the run is done.
func Pick(offline, fake bool, apiKey, baseURL string) *Endpoint {
	switch {
	case offline:
		return &Endpoint{BaseURL: baseURL, Where: "the recording (offline)"}
	case fake || apiKey == "":
		srv := fakeapi.New()
		return &Endpoint{BaseURL: srv.OpenAIBaseURL(), Key: "fake-key", Where: "a local fake OpenAI server at " + srv.URL, Fake: srv}
	default:
		return &Endpoint{BaseURL: baseURL, Key: apiKey, Where: cmp.Or(baseURL, "https://api.openai.com/v1/")}
	}
}

// Close closes the fake server, if one was started.
func (e *Endpoint) Close() {
	if e.Fake != nil {
		e.Fake.Close()
	}
}

// Complete makes one Chat Completions call and returns the model's
// message: streamed when stream is set (see Stream, out nil: the deltas
// are discarded), else in one JSON reply.
func Complete(ctx context.Context, client openai.Client, params openai.ChatCompletionNewParams, stream bool, out io.Writer) (openai.ChatCompletionMessage, error) {
	if stream {
		return Stream(ctx, client, params, cmp.Or[io.Writer](out, io.Discard))
	}
	resp, err := client.Chat.Completions.New(ctx, params)
	if err != nil {
		return openai.ChatCompletionMessage{}, err
	}
	if len(resp.Choices) == 0 {
		return openai.ChatCompletionMessage{}, errors.New("the model returned no choice")
	}
	return resp.Choices[0].Message, nil
}

// Stream makes one streamed Chat Completions call, with the usage chunk,
// printing its text deltas and each tool call to out as they arrive, and
// returns the accumulated message.
func Stream(ctx context.Context, client openai.Client, params openai.ChatCompletionNewParams, out io.Writer) (openai.ChatCompletionMessage, error) {
	params.StreamOptions.IncludeUsage = openai.Bool(true)
	stream := client.Chat.Completions.NewStreaming(ctx, params)
	defer stream.Close()
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		chunk := stream.Current()
		acc.AddChunk(chunk)
		if len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Content != "" {
			fmt.Fprint(out, chunk.Choices[0].Delta.Content)
		}
		if tc, ok := acc.JustFinishedToolCall(); ok {
			fmt.Fprintf(out, "[tool call %s %s]\n", tc.Name, tc.Arguments)
		}
	}
	if err := stream.Err(); err != nil {
		return openai.ChatCompletionMessage{}, err
	}
	if len(acc.Choices) == 0 {
		return openai.ChatCompletionMessage{}, errors.New("the stream had no choice")
	}
	if acc.Choices[0].Message.Content != "" {
		fmt.Fprintln(out)
	}
	return acc.Choices[0].Message, nil
}
