package genai

import (
	"encoding/json"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/attribute"

	"github.com/agentrr/agentrr/boundary"
)

func genaiAttrMap(attrs []attribute.KeyValue) map[string]attribute.Value {
	m := make(map[string]attribute.Value, len(attrs))
	for _, kv := range attrs {
		m[string(kv.Key)] = kv.Value
	}
	return m
}

func TestRecognise(t *testing.T) {
	for _, c := range []struct {
		method, path string
		want         API
	}{
		{"POST", "/v1/chat/completions", OpenAIChat},
		{"POST", "/openai/deployments/gpt4/chat/completions", OpenAIChat},
		{"POST", "/v1/responses", OpenAIResponses},
		{"POST", "/v1/messages", AnthropicMessages},
		{"POST", "/v1/messages/count_tokens", None},
		{"POST", "/v1/threads/t1/messages", None},
		{"GET", "/v1/chat/completions", None},
		{"POST", "/v1/embeddings", None},
	} {
		if got := Recognise(c.method, c.path); got != c.want {
			t.Errorf("Recognise(%s %s) = %d, want %d", c.method, c.path, got, c.want)
		}
	}
	if p := ProviderName(OpenAIChat, "api.groq.com"); p != "groq" {
		t.Errorf("provider for api.groq.com = %q", p)
	}
	if p := ProviderName(OpenAIChat, "my.openai.azure.com"); p != "azure.ai.openai" {
		t.Errorf("provider for Azure = %q", p)
	}
	if p := ProviderName(AnthropicMessages, "127.0.0.1"); p != "anthropic" {
		t.Errorf("provider for a local Anthropic fake = %q", p)
	}
}

func TestParseRequestParameters(t *testing.T) {
	req, ok := ParseRequest(OpenAIChat, []byte(`{"model":"gpt-4o","temperature":0.3,"top_p":0.9,"max_tokens":10,"max_completion_tokens":20,
		"seed":7,"n":2,"stop":"END","frequency_penalty":0.1,"presence_penalty":0.2,
		"messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"x"}}]},
		{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},
		{"role":"tool","tool_call_id":"c1","content":"42"}]}`))
	if !ok || req.Model != "gpt-4o" {
		t.Fatalf("parse: %v %q", ok, req.Model)
	}
	a := genaiAttrMap(req.Attributes)
	if a[boundary.GenAIRequestTemperature].AsFloat64() != 0.3 || a[boundary.GenAIRequestTopP].AsFloat64() != 0.9 ||
		a[boundary.GenAIRequestMaxTokens].AsInt64() != 20 || a[boundary.GenAIRequestSeed].AsInt64() != 7 ||
		a[boundary.GenAIRequestChoiceCount].AsInt64() != 2 || !slices.Equal(a[boundary.GenAIRequestStopSequences].AsStringSlice(), []string{"END"}) ||
		a[boundary.GenAIRequestFrequencyPenalty].AsFloat64() != 0.1 || a[boundary.GenAIRequestPresencePenalty].AsFloat64() != 0.2 {
		t.Errorf("parameters %v", a)
	}
	const wantIn = `[{"role":"system","parts":[{"type":"text","content":"be brief"}]},` +
		`{"role":"user","parts":[{"type":"text","content":"hi"},{"type":"image_url"}]},` +
		`{"role":"assistant","parts":[{"type":"tool_call","id":"c1","name":"f","arguments":{"a":1}}]},` +
		`{"role":"tool","parts":[{"type":"tool_call_response","id":"c1","response":"42"}]}]`
	if got := a[boundary.GenAIInputMessages].AsString(); got != wantIn {
		t.Errorf("input messages\n got %s\nwant %s", got, wantIn)
	}

	if _, ok := ParseRequest(OpenAIChat, []byte(`{"messages":[]}`)); ok {
		t.Error("a body without a model parsed as an LLM request")
	}
	if _, ok := ParseRequest(OpenAIChat, []byte(`not json`)); ok {
		t.Error("a body that is not JSON parsed as an LLM request")
	}

	req, _ = ParseRequest(OpenAIResponses, []byte(`{"model":"gpt-5","instructions":"be kind","input":"hello","max_output_tokens":99}`))
	a = genaiAttrMap(req.Attributes)
	if a[boundary.GenAIRequestMaxTokens].AsInt64() != 99 ||
		a[boundary.GenAISystemInstructions].AsString() != `[{"type":"text","content":"be kind"}]` ||
		a[boundary.GenAIInputMessages].AsString() != `[{"role":"user","parts":[{"type":"text","content":"hello"}]}]` {
		t.Errorf("responses request attributes %v", a)
	}

	req, _ = ParseRequest(AnthropicMessages, []byte(`{"model":"claude","max_tokens":5,"top_k":3,"stop_sequences":["X"],"system":"sys",
		"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{"a":1}}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"r"}]}]}]}`))
	a = genaiAttrMap(req.Attributes)
	const wantAn = `[{"role":"user","parts":[{"type":"text","content":"q"}]},` +
		`{"role":"assistant","parts":[{"type":"tool_call","id":"t1","name":"f","arguments":{"a":1}}]},` +
		`{"role":"tool","parts":[{"type":"tool_call_response","id":"t1","response":"r"}]}]`
	if a[boundary.GenAIRequestTopK].AsInt64() != 3 || a[boundary.GenAISystemInstructions].AsString() != `[{"type":"text","content":"sys"}]` ||
		a[boundary.GenAIInputMessages].AsString() != wantAn {
		t.Errorf("anthropic request attributes %v", a)
	}
}

func TestParseOpenAIResponses(t *testing.T) {
	const resp = `{"id":"resp_1","model":"gpt-5-2025","status":"completed","output":[
		{"type":"reasoning","id":"rs_1"},
		{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Let me check."}]},
		{"type":"function_call","call_id":"call_9","name":"lookup","arguments":"{\"id\":\"A-1\"}"}],
		"usage":{"input_tokens":11,"output_tokens":7,"input_tokens_details":{"cached_tokens":3}}}`
	check := func(name string, r *Result) {
		t.Helper()
		a := genaiAttrMap(r.Attributes())
		if a[boundary.GenAIResponseID].AsString() != "resp_1" || a[boundary.GenAIResponseModel].AsString() != "gpt-5-2025" ||
			a[boundary.GenAIInputTokens].AsInt64() != 11 || a[boundary.GenAIOutputTokens].AsInt64() != 7 ||
			a[boundary.GenAIUsageCacheReadTokens].AsInt64() != 3 ||
			!slices.Equal(a[boundary.GenAIResponseFinishReasons].AsStringSlice(), []string{"completed"}) {
			t.Errorf("%s: attributes %v", name, a)
		}
		const wantOut = `[{"role":"assistant","parts":[{"type":"reasoning"},{"type":"text","content":"Let me check."},` +
			`{"type":"tool_call","id":"call_9","name":"lookup","arguments":{"id":"A-1"}}],"finish_reason":"tool_call"}]`
		if got := a[boundary.GenAIOutputMessages].AsString(); got != wantOut {
			t.Errorf("%s: output\n got %s\nwant %s", name, got, wantOut)
		}
		if len(r.toolCalls) != 1 || r.toolCalls[0] != (toolCall{ID: "call_9", Name: "lookup", Arguments: `{"id":"A-1"}`}) {
			t.Errorf("%s: tool calls %+v", name, r.toolCalls)
		}
	}
	check("json", ParseResponse(OpenAIResponses, []byte(resp), false))
	compact, _ := json.Marshal(json.RawMessage(resp))
	stream := "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\",\"output\":[]}}\n\n" +
		"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Let\"}\n\n" +
		"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":" + string(compact) + "}\n\n"
	check("stream", ParseResponse(OpenAIResponses, []byte(stream), true))
}

func TestParseOpenAIChatStreamTwoChoices(t *testing.T) {
	stream := `data: {"id":"c","model":"m","choices":[{"index":1,"delta":{"role":"assistant","content":"B"}},{"index":0,"delta":{"role":"assistant","content":"A"}}]}

data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t","function":{"name":"f","arguments":"{\"x\""}}]}}]}

data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]},"finish_reason":"tool_calls"},{"index":1,"delta":{"content":"b"},"finish_reason":"stop"}]}

data: [DONE]

`
	r := ParseResponse(OpenAIChat, []byte(stream), true)
	a := genaiAttrMap(r.Attributes())
	const want = `[{"role":"assistant","parts":[{"type":"text","content":"A"},{"type":"tool_call","id":"t","name":"f","arguments":{"x":1}}],"finish_reason":"tool_call"},` +
		`{"role":"assistant","parts":[{"type":"text","content":"Bb"}],"finish_reason":"stop"}]`
	if got := a[boundary.GenAIOutputMessages].AsString(); got != want {
		t.Errorf("output\n got %s\nwant %s", got, want)
	}
	if got := a[boundary.GenAIResponseFinishReasons].AsStringSlice(); !slices.Equal(got, []string{"tool_calls", "stop"}) {
		t.Errorf("finish reasons %q", got)
	}
	if _, ok := a[boundary.GenAIInputTokens]; ok {
		t.Error("usage set without a usage chunk")
	}
}

func TestParseAnthropicUsageCountsCachedInput(t *testing.T) {
	r := ParseResponse(AnthropicMessages, []byte(`{"id":"msg","model":"claude","role":"assistant",
		"content":[{"type":"thinking","thinking":"hmm"},{"type":"text","text":"hi"},{"type":"tool_use","id":"tu","name":"f","input":"not an object"}],
		"stop_reason":"max_tokens","usage":{"input_tokens":10,"output_tokens":4,"cache_read_input_tokens":100,"cache_creation_input_tokens":5}}`), false)
	a := genaiAttrMap(r.Attributes())
	if a[boundary.GenAIInputTokens].AsInt64() != 115 || a[boundary.GenAIUsageCacheReadTokens].AsInt64() != 100 ||
		a[boundary.GenAIUsageCacheCreationTokens].AsInt64() != 5 || a[boundary.GenAIOutputTokens].AsInt64() != 4 {
		t.Errorf("usage %v", a)
	}
	const want = `[{"role":"assistant","parts":[{"type":"reasoning","content":"hmm"},{"type":"text","content":"hi"},` +
		`{"type":"tool_call","id":"tu","name":"f","arguments":"not an object"}],"finish_reason":"length"}]`
	if got := a[boundary.GenAIOutputMessages].AsString(); got != want {
		t.Errorf("output\n got %s\nwant %s", got, want)
	}
}

func TestParseResponseNeverFails(t *testing.T) {
	for _, api := range []API{OpenAIChat, OpenAIResponses, AnthropicMessages} {
		for _, body := range []string{"", "null", "[]", "{", `{"choices":"x","content":7,"output":{}}`, "data: {\n\n", "event: x\n"} {
			for _, stream := range []bool{false, true} {
				r := ParseResponse(api, []byte(body), stream)
				_ = r.Attributes()
				_ = r.ToolCallEvents()
			}
		}
	}
}
