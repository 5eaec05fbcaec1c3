package otelrr_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// exampleStore is a store directory for an example.
func exampleStore() string {
	dir, err := os.MkdirTemp("", "agentrr-example-")
	if err != nil {
		log.Fatal(err)
	}
	return dir
}

// A program with no OpenTelemetry setup of its own: NewTracerProvider is a
// provider that records every run into the store. With otelrr.FromEnv the
// same binary replays under `agentrr replay`.
func ExampleNewTracerProvider() {
	ctx := context.Background()
	dir := exampleStore()
	defer os.RemoveAll(dir)
	tp, err := otelrr.NewTracerProvider(ctx, otelrr.FromEnv(), otelrr.WithStore(dir), otelrr.WithServiceName("support"))
	if err != nil {
		log.Fatal(err)
	}
	defer tp.Shutdown(ctx)
	fmt.Println("replaying:", tp.Replaying())
	// Output: replaying: false
}

// StartRun starts a run; its context goes to every boundary helper, and End
// writes the end record.
func ExampleTracerProvider_StartRun() {
	ctx := context.Background()
	dir := exampleStore()
	defer os.RemoveAll(dir)
	tp, err := otelrr.NewTracerProvider(ctx, otelrr.WithStore(dir))
	if err != nil {
		log.Fatal(err)
	}
	defer tp.Shutdown(ctx)
	ctx, run, err := tp.StartRun(ctx, "support")
	if err != nil {
		log.Fatal(err)
	}
	now, err := otelrr.Now(ctx) // one boundary, durable before Now returns
	err = run.End(err)
	fmt.Println(len(run.TraceID()), !now.IsZero(), err)
	// Output: 32 true <nil>
}

// Tool makes one tool boundary: the function runs while recording, never on
// replay, where the recorded result (or error) comes back instead.
func ExampleTool() {
	ctx := context.Background()
	dir := exampleStore()
	defer os.RemoveAll(dir)
	tp, _ := otelrr.NewTracerProvider(ctx, otelrr.WithStore(dir))
	defer tp.Shutdown(ctx)
	ctx, run, _ := tp.StartRun(ctx, "support")
	status, err := otelrr.Tool(ctx, "lookup_order", map[string]string{"id": "A-1001"}, func(_ context.Context, args map[string]string) (string, error) {
		return "order " + args["id"] + " is delayed", nil
	})
	run.End(err)
	fmt.Println(status, err)
	// Output: order A-1001 is delayed <nil>
}

type chatRequest struct {
	Prompt string `json:"prompt"`
}

type chatReply struct {
	Text string `json:"text"`
}

// LLM makes one llm boundary named after the model, with the
// OpenTelemetry GenAI attributes; fn is the call to the model.
func ExampleLLM() {
	ctx := context.Background()
	dir := exampleStore()
	defer os.RemoveAll(dir)
	tp, _ := otelrr.NewTracerProvider(ctx, otelrr.WithStore(dir))
	defer tp.Shutdown(ctx)
	ctx, run, _ := tp.StartRun(ctx, "support")
	reply, err := otelrr.LLM(ctx, "openai", "gpt-4o-mini", chatRequest{Prompt: "Where is my order?"},
		func(_ context.Context, r chatRequest) (chatReply, error) {
			return chatReply{Text: "It left the depot."}, nil // client.Chat.Completions.New, in a real agent
		})
	run.End(err)
	fmt.Println(reply.Text)
	// Output: It left the depot.
}

// HTTPClient records every exchange of any HTTP client (an LLM SDK's, with
// option.WithHTTPClient) as a boundary of the run in the request's context.
func ExampleHTTPClient_plain() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"status":"ok"}`)
	}))
	defer srv.Close()
	ctx := context.Background()
	dir := exampleStore()
	defer os.RemoveAll(dir)
	tp, _ := otelrr.NewTracerProvider(ctx, otelrr.WithStore(dir))
	defer tp.Shutdown(ctx)
	ctx, run, _ := tp.StartRun(ctx, "status")
	client := otelrr.HTTPClient(nil)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/status", nil)
	resp, err := client.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	run.End(nil)
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 {"status":"ok"}
}

// A program that already has an OpenTelemetry provider adds recording in
// three lines: the Recorder as its first span processor, its sampler
// wrapped with Sampler, and runs started with Recorder.StartRun. Its own
// exporter keeps receiving every span, boundaries included, in one trace.
func ExampleRecorder() {
	ctx := context.Background()
	dir := exampleStore()
	defer os.RemoveAll(dir)
	exp := tracetest.NewInMemoryExporter() // your OTLP exporter
	rec, err := otelrr.NewRecorder(otelrr.WithStore(dir))
	if err != nil {
		log.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(rec),
		sdktrace.WithSampler(otelrr.Sampler(sdktrace.ParentBased(sdktrace.AlwaysSample()))),
		sdktrace.WithSyncer(exp),
	)
	defer tp.Shutdown(ctx)

	ctx, request := tp.Tracer("server").Start(ctx, "POST /support")
	ctx, run, err := rec.StartRun(ctx, tp, "support")
	if err != nil {
		log.Fatal(err)
	}
	_, err = otelrr.Now(ctx)
	run.End(err)
	request.End()

	traces := map[string]bool{}
	for _, s := range exp.GetSpans() {
		traces[s.SpanContext.TraceID().String()] = true
	}
	fmt.Println(len(exp.GetSpans()), "spans in", len(traces), "trace")
	// Output: 3 spans in 1 trace
}

// A recorded run replays in-process, from a test: the agent's code runs
// again, every answer comes from the recording.
func Example_replay() {
	ctx := context.Background()
	dir := exampleStore()
	defer os.RemoveAll(dir)
	agent := func(ctx context.Context) (string, error) {
		tp, err := otelrr.NewTracerProvider(ctx, otelrr.WithStore(dir))
		if err != nil {
			return "", err
		}
		defer tp.Shutdown(ctx)
		ctx, run, err := tp.StartRun(ctx, "weather") // replays when ctx carries a replay
		if err != nil {
			return "", err
		}
		answer, err := otelrr.Tool(ctx, "forecast", "Lisbon", func(context.Context, string) (string, error) {
			return "sunny", nil
		})
		if err := run.End(err); err != nil {
			return "", err
		}
		fmt.Println("replaying:", run.Replaying(), "answer:", answer)
		return run.TraceID(), err
	}
	id, _ := agent(ctx)

	store, _ := spanlog.OpenExisting(dir)
	rec, err := replayer.Load(store, id)
	if err != nil {
		log.Fatal(err)
	}
	report, err := replayer.Replay(ctx, rec, func(ctx context.Context) error {
		_, err := agent(ctx)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(report.Verdict())
	// Output:
	// replaying: false answer: sunny
	// replaying: true answer: sunny
	// faithful
}
