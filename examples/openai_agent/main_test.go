package main

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/examples/internal/exampletest"
	"github.com/agentrr/agentrr/examples/internal/openaiclient"
	"github.com/agentrr/agentrr/internal/fakeapi"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/rrtest"
)

// TestCommandRecordsThenReplaysOffline runs the command as `go run` would:
// first recording against the fake server it starts, then replaying (as
// under `agentrr replay`) with no server and a transport that fails on any
// dial. The replay prints the same streamed text and answer.
func TestCommandRecordsThenReplaysOffline(t *testing.T) {
	for _, stream := range []bool{true, false} {
		t.Run(map[bool]string{true: "stream", false: "json"}[stream], func(t *testing.T) {
			// Everything the agent printed (streamed deltas, tool calls,
			// answer) is the same; only the run id and the server differ.
			id, rec, rp := exampletest.RecordThenReplay(t, func(tracer []otelrr.Option, transport http.RoundTripper, out io.Writer) error {
				return run(context.Background(), &Options{Stream: stream, Out: out, Transport: transport, TracerOptions: tracer})
			})
			exampletest.CheckPrinted(t, "recording", rec, "answer: Here is what I found: order A-1001 is delayed at the depot, new delivery in 2 days. late orders get their shipping refunded on request.")
			exampletest.CheckPrinted(t, "replay", rp, "replayed "+id+": faithful (tool runs: 0)")
			if stream {
				exampletest.CheckPrinted(t, "recording", rec, `[tool call lookup_order {"order_id":"A-1001"}]`)
			}
		})
	}
}

// TestEditedPromptDivergesInProcess replays a recording in-process with
// rrtest.Replay, as a regression test would, with the system prompt
// edited: the first model call diverges, naming the changed field.
func TestEditedPromptDivergesInProcess(t *testing.T) {
	srv := fakeapi.New()
	defer srv.Close()
	rec, _, err := rrtest.Record(t, "openai_agent", func(ctx context.Context) (string, error) {
		a := &Agent{Client: openaiclient.New(srv.OpenAIBaseURL(), "k", nil), Stream: true}
		return a.Run(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()

	replay := func(prompt string) *analyze.Report {
		rep, _ := rrtest.Replay(t, rec, func(ctx context.Context) (string, error) {
			a := &Agent{Client: openaiclient.New("", "", exampletest.DialGuard(t)), Stream: true, Prompt: prompt}
			out, err := a.Run(ctx)
			if a.ToolRuns.Load() != 0 {
				t.Errorf("replay ran %d tools", a.ToolRuns.Load())
			}
			return out, err
		})
		return rep
	}
	if rep := replay(""); !rep.Faithful() {
		t.Fatalf("unedited replay diverged: %+v", rep.Divergences)
	}
	rep := replay("You are a terse support agent.")
	if rep.Faithful() || rep.Divergences[0].Seq != 0 || len(rep.Divergences[0].Diff) != 1 ||
		rep.Divergences[0].Diff[0].Path != "body.messages[0].content" {
		t.Fatalf("edited replay: %+v", rep.Divergences)
	}
}
