package genai

import "testing"

// FuzzGenAIAttributes feeds the parsers request and response bodies of
// each recognised API, streamed or not: what LLM servers send, and on
// replay what a store or an OTLP file holds. None of it may panic or loop
// on any input, or make an invalid attribute.
func FuzzGenAIAttributes(f *testing.F) {
	f.Add(uint8(OpenAIChat), []byte(`{"model":"gpt-4o","temperature":0.2,"messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"hi"}]},{"role":"assistant","tool_calls":[{"id":"c1","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"r"}],"stop":["x"]}`),
		[]byte(`{"id":"r1","model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"ok","tool_calls":[{"id":"c2","function":{"name":"g","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":1}}}`), false)
	f.Add(uint8(OpenAIChat), []byte(`{"model":"m","stream":true}`),
		[]byte("data: {\"id\":\"r\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"he\",\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"\"}}]}}]}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"a\\\":1}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n"), true)
	f.Add(uint8(OpenAIResponses), []byte(`{"model":"m","instructions":"be brief","input":[{"role":"user","content":"hi"},{"type":"function_call_output","call_id":"c","output":"x"}]}`),
		[]byte(`{"id":"resp_1","model":"m","status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"ok"}]},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"}],"usage":{"input_tokens":1,"output_tokens":2}}`), false)
	f.Add(uint8(OpenAIResponses), []byte(`{"model":"m","input":"hi"}`),
		[]byte("event: response.completed\ndata: {\"response\":{\"id\":\"r\",\"status\":\"completed\",\"output\":[]}}\n\n"), true)
	f.Add(uint8(AnthropicMessages), []byte(`{"model":"claude","max_tokens":10,"system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"r"}]}]}]}`),
		[]byte(`{"id":"msg","model":"claude","content":[{"type":"text","text":"hi"},{"type":"tool_use","id":"t2","name":"f","input":{"a":1}}],"stop_reason":"tool_use","usage":{"input_tokens":3,"output_tokens":1,"cache_read_input_tokens":2}}`), false)
	f.Add(uint8(AnthropicMessages), []byte(`{"model":"claude","stream":true,"messages":[]}`),
		[]byte("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"claude\",\"usage\":{\"input_tokens\":3}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":5,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":5,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\"}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":4}}\n\n"), true)
	f.Add(uint8(None), []byte(`not json`), []byte(`{}`), false)
	f.Fuzz(func(t *testing.T, api uint8, reqBody, respBody []byte, stream bool) {
		a := API(api % 4)
		req, _ := ParseRequest(a, reqBody)
		for _, kv := range req.Attributes {
			if !kv.Valid() {
				t.Fatalf("invalid request attribute %v", kv)
			}
		}
		res := ParseResponse(a, respBody, stream)
		if res == nil {
			t.Fatal("ParseResponse returned nil")
		}
		for _, kv := range res.Attributes() {
			if !kv.Valid() {
				t.Fatalf("invalid attribute %v", kv)
			}
		}
		for _, ev := range res.ToolCallEvents() {
			for _, kv := range ev {
				if !kv.Valid() {
					t.Fatalf("invalid event attribute %v", kv)
				}
			}
		}
	})
}
