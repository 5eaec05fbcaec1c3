package otelrr

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// The transport reads what LLM servers send (and, on replay, what a store
// or an OTLP file holds): a streamed body is split into server-sent events,
// request and response bodies are read for the GenAI attributes. None of it
// may panic or loop on any input.

func FuzzParseSSE(f *testing.F) {
	for _, s := range []string{
		"event: message_start\ndata: {\"type\":\"message_start\"}\n\n",
		"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\r\n\r\ndata: [DONE]\r\n\r\n",
		": comment\rdata:x\rdata: y\r\r",
		"data: cut off",
		"event:\n\n\n\n",
		"data\n\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		events := parseSSE(body)
		if len(events) > bytes.Count(body, []byte("\n"))+bytes.Count(body, []byte("\r")) {
			t.Fatalf("%d events from %d line ends", len(events), bytes.Count(body, []byte("\n")))
		}
		for _, ev := range events {
			// Lines end at CR or LF: neither can be inside a field.
			if bytes.ContainsAny(ev.Data, "\r") || bytes.ContainsAny([]byte(ev.Type), "\r\n") {
				t.Fatalf("event %+v holds a line end", ev)
			}
		}
	})
}

// FuzzGenAIAttributes feeds the GenAI parsers request and response bodies
// of each recognised API, streamed or not.
func FuzzGenAIAttributes(f *testing.F) {
	f.Add(uint8(apiOpenAIChat), []byte(`{"model":"gpt-4o","temperature":0.2,"messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"hi"}]},{"role":"assistant","tool_calls":[{"id":"c1","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"r"}],"stop":["x"]}`),
		[]byte(`{"id":"r1","model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"ok","tool_calls":[{"id":"c2","function":{"name":"g","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":1}}}`), false)
	f.Add(uint8(apiOpenAIChat), []byte(`{"model":"m","stream":true}`),
		[]byte("data: {\"id\":\"r\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"he\",\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"\"}}]}}]}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"a\\\":1}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n"), true)
	f.Add(uint8(apiOpenAIResponses), []byte(`{"model":"m","instructions":"be brief","input":[{"role":"user","content":"hi"},{"type":"function_call_output","call_id":"c","output":"x"}]}`),
		[]byte(`{"id":"resp_1","model":"m","status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"ok"}]},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"}],"usage":{"input_tokens":1,"output_tokens":2}}`), false)
	f.Add(uint8(apiOpenAIResponses), []byte(`{"model":"m","input":"hi"}`),
		[]byte("event: response.completed\ndata: {\"response\":{\"id\":\"r\",\"status\":\"completed\",\"output\":[]}}\n\n"), true)
	f.Add(uint8(apiAnthropicMessages), []byte(`{"model":"claude","max_tokens":10,"system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"r"}]}]}]}`),
		[]byte(`{"id":"msg","model":"claude","content":[{"type":"text","text":"hi"},{"type":"tool_use","id":"t2","name":"f","input":{"a":1}}],"stop_reason":"tool_use","usage":{"input_tokens":3,"output_tokens":1,"cache_read_input_tokens":2}}`), false)
	f.Add(uint8(apiAnthropicMessages), []byte(`{"model":"claude","stream":true,"messages":[]}`),
		[]byte("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"claude\",\"usage\":{\"input_tokens\":3}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":5,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":5,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\"}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":4}}\n\n"), true)
	f.Add(uint8(apiNone), []byte(`not json`), []byte(`{}`), false)
	f.Fuzz(func(t *testing.T, api uint8, reqBody, respBody []byte, stream bool) {
		a := llmAPI(api % 4)
		req, _ := parseLLMRequest(a, reqBody)
		_ = req
		res := parseLLMResponse(a, respBody, stream)
		if res == nil {
			t.Fatal("parseLLMResponse returned nil")
		}
		for _, kv := range res.attributes() {
			if !kv.Valid() {
				t.Fatalf("invalid attribute %v", kv)
			}
		}
		for _, ev := range res.toolCallEvents() {
			for _, kv := range ev {
				if !kv.Valid() {
					t.Fatalf("invalid event attribute %v", kv)
				}
			}
		}
	})
}

// FuzzReplayBody replays a recorded body in its recorded read sizes. The
// sizes come from a store or an OTLP file: whatever they are, the reader
// gets exactly the recorded bytes, then the end, in a bounded number of
// reads.
func FuzzReplayBody(f *testing.F) {
	sizes := func(ns ...int32) []byte {
		var b []byte
		for _, n := range ns {
			b = binary.LittleEndian.AppendUint32(b, uint32(n))
		}
		return b
	}
	f.Add([]byte("data: a\n\ndata: b\n\n"), sizes(9, 9), uint8(4))
	f.Add([]byte("hello"), sizes(), uint8(1))
	f.Add([]byte("hello"), sizes(0, 0, 5), uint8(3))
	f.Add([]byte("hello"), sizes(-1, 2), uint8(2))
	f.Add([]byte("hello"), sizes(100), uint8(0))
	f.Add([]byte{}, sizes(3), uint8(8))
	f.Fuzz(func(t *testing.T, data, rawSizes []byte, bufSize uint8) {
		var chunks []int
		for len(rawSizes) >= 4 {
			chunks = append(chunks, int(int32(binary.LittleEndian.Uint32(rawSizes))))
			rawSizes = rawSizes[4:]
		}
		var recorded httpResponse
		recorded.setBody(data)
		body := &replayBody{data: recorded.bodyBytes(), chunks: chunks, endErr: io.EOF}
		buf := make([]byte, int(bufSize%64)+1)
		var got []byte
		for reads := 0; ; reads++ {
			if reads > len(data)+len(chunks)+2 {
				t.Fatalf("no end after %d reads of %d bytes in %v", reads, len(data), chunks)
			}
			n, err := body.Read(buf)
			if n < 0 || n > len(buf) {
				t.Fatalf("Read returned %d for a %d-byte buffer", n, len(buf))
			}
			got = append(got, buf[:n]...)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("replayed %q, recorded %q", got, data)
		}
		if err := body.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzRecordedResponse decodes a recorded HTTP response (the JSON the
// transport stores as agentrr.response) as replay does.
func FuzzRecordedResponse(f *testing.F) {
	f.Add([]byte(`{"status":200,"status_line":"200 OK","proto":"HTTP/1.1","header":{"Content-Type":["application/json"]},"content_length":2,"body":"{}"}`))
	f.Add([]byte(`{"status":200,"body_base64":"AAEC","stream":true,"chunks":[1,2]}`))
	f.Add([]byte(`{"status":500,"body_base64":"!!not base64"}`))
	f.Add([]byte(`{"no_body":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var rec httpResponse
		if json.Unmarshal(b, &rec) != nil {
			return
		}
		_ = rec.bodyBytes()
	})
}
