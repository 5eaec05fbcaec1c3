package otelrr_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/fakeapi"
	"github.com/agentrr/agentrr/internal/storetest"
	"github.com/agentrr/agentrr/otelrr"
)

const sdkWantAnswer = "Here is what I found: order A-1001 is delayed at the depot, new delivery in 2 days. late orders get their shipping refunded."

// sdkCase is one SDK under test.
type sdkCase struct {
	name    string
	baseURL func(*fakeapi.Server) string
	run     func(*sdkAgent) func(context.Context) (string, error)
	model   string
}

var sdkCases = []sdkCase{
	{"openai", (*fakeapi.Server).OpenAIBaseURL, func(a *sdkAgent) func(context.Context) (string, error) { return a.openAI }, "gpt-4o-mini"},
	{"anthropic", (*fakeapi.Server).AnthropicBaseURL, func(a *sdkAgent) func(context.Context) (string, error) { return a.anthropic }, "claude-sonnet-4-5"},
}

// forEachSDK runs test for each of sdkCases as a parallel subtest, against
// a fake API server of its own, closed when test returns.
func forEachSDK(t *testing.T, test func(t *testing.T, sc sdkCase, srv *fakeapi.Server)) {
	for _, sc := range sdkCases {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			srv := fakeapi.New()
			defer srv.Close()
			test(t, sc, srv)
		})
	}
}

func sdkSpanAttr(s sdktrace.ReadOnlySpan, key string) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// TestSDKConversationRecordsAndReplaysOffline records a tool-calling
// conversation through each real SDK, JSON and streamed, then replays it
// with the server gone and a transport that fails on any dial: the agent
// gets the same answer (and, streamed, the same deltas) and no tool runs.
func TestSDKConversationRecordsAndReplaysOffline(t *testing.T) {
	for _, sc := range sdkCases {
		for _, stream := range []bool{false, true} {
			name := sc.name + "/json"
			if stream {
				name = sc.name + "/stream"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				srv := fakeapi.New()
				defer srv.Close()
				srv.EventDelay = time.Millisecond // the client reads streams in pieces
				dir := t.TempDir()
				exp := tracetest.NewInMemoryExporter()

				rec := &sdkAgent{baseURL: sc.baseURL(srv), apiKey: "test-key", stream: stream, temperature: 0.2}
				id, want, err := sdkRecord(t, dir, sc.run(rec), otelrr.WithSpanProcessor(sdktrace.NewSimpleSpanProcessor(exp)))
				if err != nil {
					t.Fatal(err)
				}
				if want != sdkWantAnswer {
					t.Fatalf("recorded answer %q, want %q", want, sdkWantAnswer)
				}
				wantKinds := []string{"llm " + sc.model, "tool lookup_order", "llm " + sc.model, "tool refund_policy", "llm " + sc.model}
				if got := sdkKinds(t, dir, id); !slices.Equal(got, wantKinds) {
					t.Fatalf("recorded boundaries %q, want %q", got, wantKinds)
				}
				checkGenAISpans(t, exp.GetSpans().Snapshots(), sc)
				if stream {
					var resp struct{ Chunks []int }
					if err := json.Unmarshal(storetest.ReadRun(t, dir, id).Records[0].Response, &resp); err != nil || len(resp.Chunks) < 2 {
						t.Errorf("the first streamed response was recorded in %d chunks (%v), want several", len(resp.Chunks), err)
					}
				}
				srv.Close()

				rp := &sdkAgent{baseURL: rec.baseURL, apiKey: "test-key", stream: stream, temperature: 0.2, httpBase: sdkDialGuard(t)}
				rep, got, err := sdkReplay(t, dir, id, sc.run(rp))
				if err != nil || !rep.Faithful() {
					t.Fatalf("replay: err %v, divergences %+v", err, rep.Divergences)
				}
				if got != want {
					t.Errorf("replayed answer %q, recorded %q", got, want)
				}
				if rp.toolRuns.Load() != 0 {
					t.Errorf("replay ran %d tools", rp.toolRuns.Load())
				}
				if stream {
					if len(rec.deltas) < 10 {
						t.Errorf("recording saw %d deltas: the stream did not stream", len(rec.deltas))
					}
					if !slices.Equal(rp.deltas, rec.deltas) {
						t.Errorf("replayed deltas differ:\n got %q\nwant %q", rp.deltas, rec.deltas)
					}
				}
				if got := sdkKinds(t, dir, rep.ReplayTrace); !slices.Equal(got, wantKinds) {
					t.Errorf("the replayed run recorded %q, want %q", got, wantKinds)
				}
			})
		}
	}
}

// checkGenAISpans checks the GenAI attributes and tool-call events of the
// first llm boundary span (the model calls lookup_order) and the last (the
// answer).
func checkGenAISpans(t *testing.T, spans []sdktrace.ReadOnlySpan, sc sdkCase) {
	t.Helper()
	var llm []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if k, _ := sdkSpanAttr(s, boundary.AttrKind); k.AsString() == "llm" {
			llm = append(llm, s)
		}
	}
	if len(llm) != 3 {
		t.Fatalf("%d llm spans, want 3", len(llm))
	}
	first, last := llm[0], llm[2]
	if first.Name() != "chat "+sc.model {
		t.Errorf("span name %q, want %q", first.Name(), "chat "+sc.model)
	}
	wantStr := map[string]string{
		boundary.GenAIOperationName: "chat",
		boundary.GenAIProviderName:  sc.name,
		boundary.GenAIRequestModel:  sc.model,
	}
	for k, v := range wantStr {
		if got, _ := sdkSpanAttr(first, k); got.AsString() != v {
			t.Errorf("%s = %q, want %q", k, got.AsString(), v)
		}
	}
	for _, k := range []string{boundary.GenAIResponseModel, boundary.GenAIResponseID, boundary.GenAIInputMessages, boundary.GenAIOutputMessages} {
		if got, ok := sdkSpanAttr(first, k); !ok || got.AsString() == "" {
			t.Errorf("%s missing", k)
		}
	}
	if sc.name == "openai" {
		if got, _ := sdkSpanAttr(first, boundary.GenAIRequestTemperature); got.AsFloat64() != 0.2 {
			t.Errorf("temperature = %v, want 0.2", got.AsFloat64())
		}
	} else {
		if got, _ := sdkSpanAttr(first, boundary.GenAIRequestMaxTokens); got.AsInt64() != 512 {
			t.Errorf("max tokens = %v, want 512", got.AsInt64())
		}
		if got, _ := sdkSpanAttr(first, boundary.GenAISystemInstructions); !strings.Contains(got.AsString(), "helpful support agent") {
			t.Errorf("system instructions = %s", got.AsString())
		}
	}
	if in, ok := sdkSpanAttr(first, boundary.GenAIInputTokens); !ok || in.AsInt64() <= 0 {
		t.Errorf("input tokens %v", in.AsInt64())
	}
	if out, ok := sdkSpanAttr(last, boundary.GenAIOutputTokens); !ok || out.AsInt64() <= 0 {
		t.Errorf("output tokens %v", out.AsInt64())
	}
	wantFinish := map[string][2]string{"openai": {"tool_calls", "stop"}, "anthropic": {"tool_use", "end_turn"}}[sc.name]
	if got, _ := sdkSpanAttr(first, boundary.GenAIResponseFinishReasons); !slices.Equal(got.AsStringSlice(), []string{wantFinish[0]}) {
		t.Errorf("first finish reasons %q, want [%s]", got.AsStringSlice(), wantFinish[0])
	}
	if got, _ := sdkSpanAttr(last, boundary.GenAIResponseFinishReasons); !slices.Equal(got.AsStringSlice(), []string{wantFinish[1]}) {
		t.Errorf("last finish reasons %q, want [%s]", got.AsStringSlice(), wantFinish[1])
	}
	if out, _ := sdkSpanAttr(last, boundary.GenAIOutputMessages); !strings.Contains(out.AsString(), `"content":"`+sdkWantAnswer+`"`) || !strings.Contains(out.AsString(), `"finish_reason":"stop"`) {
		t.Errorf("output messages %s", out.AsString())
	}
	if in, _ := sdkSpanAttr(last, boundary.GenAIInputMessages); !strings.Contains(in.AsString(), `"type":"tool_call_response"`) {
		t.Errorf("input messages of the last call have no tool result: %s", in.AsString())
	}
	var calls []string
	for _, e := range first.Events() {
		if e.Name != boundary.EventGenAIToolCall {
			continue
		}
		a := map[string]string{}
		for _, kv := range e.Attributes {
			a[string(kv.Key)] = kv.Value.AsString()
		}
		if a[boundary.GenAIToolCallID] == "" {
			t.Errorf("tool call event without an id: %v", a)
		}
		calls = append(calls, a[boundary.GenAIToolName]+" "+a[boundary.GenAIToolCallArguments])
	}
	if want := []string{`lookup_order {"order_id":"A-1001"}`}; !slices.Equal(calls, want) {
		t.Errorf("tool call events %q, want %q", calls, want)
	}
	if len(last.Events()) != 0 {
		t.Errorf("the answer has tool call events: %v", last.Events())
	}
}

// TestSDKMiddlewareRecordsAndReplays plugs otelrr in with
// option.WithMiddleware instead of the HTTP client.
func TestSDKMiddlewareRecordsAndReplays(t *testing.T) {
	forEachSDK(t, func(t *testing.T, sc sdkCase, srv *fakeapi.Server) {
		srv.Fail(fakeapi.Fault{Status: http.StatusServiceUnavailable, RetryAfterMs: "10"})
		dir := t.TempDir()
		rec := &sdkAgent{baseURL: sc.baseURL(srv), apiKey: "test-key", stream: sc.name == "anthropic", middleware: true, maxRetries: 1}
		id, want, err := sdkRecord(t, dir, sc.run(rec))
		if err != nil || want != sdkWantAnswer {
			t.Fatalf("record: %q, %v", want, err)
		}
		if got := len(storetest.ReadRun(t, dir, id).Records); got != 6 {
			t.Errorf("%d boundaries, want 6 (a 503, its retry, a tool, a call, a tool, a call)", got)
		}
		srv.Close()
		rp := &sdkAgent{baseURL: rec.baseURL, apiKey: "test-key", stream: rec.stream, middleware: true, maxRetries: 1, httpBase: sdkDialGuard(t)}
		rep, got, err := sdkReplay(t, dir, id, sc.run(rp))
		if err != nil || !rep.Faithful() || got != want || rp.toolRuns.Load() != 0 {
			t.Fatalf("replay: err %v, answer %q, tool runs %d, divergences %+v", err, got, rp.toolRuns.Load(), rep.Divergences)
		}
		if !slices.Equal(rp.deltas, rec.deltas) {
			t.Errorf("replayed deltas %q, recorded %q", rp.deltas, rec.deltas)
		}
	})
}

// TestAnthropicSDKSpansCoexist registers agentrr's provider globally, so
// that anthropic-sdk-go emits its own spans through it: they are not
// boundaries, the boundary span is their child, and replay works alike.
func TestAnthropicSDKSpansCoexist(t *testing.T) {
	prev := otel.GetTracerProvider()
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	srv := fakeapi.New()
	defer srv.Close()
	dir := t.TempDir()
	exp := tracetest.NewInMemoryExporter()

	tp := newTP(t, dir, otelrr.WithSpanProcessor(sdktrace.NewSimpleSpanProcessor(exp)))
	otel.SetTracerProvider(tp)
	ctx, run, err := tp.StartRun(context.Background(), "sdk-agent")
	if err != nil {
		t.Fatal(err)
	}
	rec := &sdkAgent{baseURL: srv.AnthropicBaseURL(), apiKey: "test-key", stream: true}
	want, err := rec.anthropic(ctx)
	if endErr := run.End(err); endErr != nil || err != nil {
		t.Fatal(endErr, err)
	}
	if got := len(storetest.ReadRun(t, dir, run.TraceID()).Records); got != 5 {
		t.Errorf("%d boundaries stored, want 5 (SDK spans are not boundaries)", got)
	}
	sdkSpans, parented := 0, 0
	byID := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range exp.GetSpans().Snapshots() {
		byID[s.SpanContext().SpanID().String()] = s
	}
	for _, s := range byID {
		if strings.HasPrefix(s.Name(), "anthropic.") {
			sdkSpans++
		}
		if k, _ := sdkSpanAttr(s, boundary.AttrKind); k.AsString() == "llm" {
			if p := byID[s.Parent().SpanID().String()]; p != nil && strings.HasPrefix(p.Name(), "anthropic.") {
				parented++
			}
		}
	}
	if sdkSpans != 3 || parented != 3 {
		t.Errorf("%d SDK spans, %d llm boundaries parented to one; want 3 and 3", sdkSpans, parented)
	}

	// Replay with the global provider still set: the SDK's spans (and the
	// traceparent headers it sends) do not disturb matching.
	srv.Close()
	rp := &sdkAgent{baseURL: rec.baseURL, apiKey: "test-key", stream: true, httpBase: sdkDialGuard(t)}
	rep, got, err := sdkReplayOn(t, dir, run.TraceID(), nil, func(tp *otelrr.TracerProvider) { otel.SetTracerProvider(tp) }, rp.anthropic)
	if err != nil || !rep.Faithful() || got != want {
		t.Fatalf("replay: err %v, faithful %v, answer %q (want %q): %+v", err, rep.Faithful(), got, want, rep.Divergences)
	}
}
