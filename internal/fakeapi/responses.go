package fakeapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// The OpenAI Responses API (POST /v1/responses), as the openai SDKs and the
// OpenAI Agents SDK speak it: input as a string or as items (messages,
// function_call, function_call_output), function tools, and streams of typed
// events (response.created … response.completed).

type responsesRequest struct {
	Model  string          `json:"model"`
	Stream bool            `json:"stream"`
	Input  json.RawMessage `json:"input"`
	Tools  []struct {
		Type       string          `json:"type"`
		Name       string          `json:"name"`
		Parameters json.RawMessage `json:"parameters"`
	} `json:"tools"`
	ParallelToolCalls *bool `json:"parallel_tool_calls"`
}

type responsesItem struct {
	Type    string          `json:"type"`
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	Output  json.RawMessage `json:"output"`
}

// responsesText is the text of a content or an output: a string, or parts
// with text.
func responsesText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) == nil {
		var b strings.Builder
		for _, p := range parts {
			b.WriteString(p.Text)
		}
		return b.String()
	}
	var one struct {
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &one) == nil && one.Text != "" {
		return one.Text
	}
	return string(raw)
}

func (s *Server) openAIResponses(w http.ResponseWriter, r *http.Request) {
	var req responsesRequest
	fault, id, ok := s.accept(w, r, "openai", &req)
	if !ok {
		return
	}
	var conv conversation
	var input string
	if json.Unmarshal(req.Input, &input) == nil {
		conv.lastUser = input
		conv.words += countWords(input)
	} else {
		var items []responsesItem
		if err := json.Unmarshal(req.Input, &items); err != nil {
			writeError(w, "openai", http.StatusBadRequest, "input is neither a string nor a list of items")
			return
		}
		for _, it := range items {
			switch {
			case it.Type == "function_call_output":
				out := responsesText(it.Output)
				conv.results = append(conv.results, out)
				conv.words += countWords(out)
			case it.Role == "user":
				text := responsesText(it.Content)
				conv.lastUser, conv.results = text, nil
				conv.words += countWords(text)
			case it.Role != "":
				conv.words += countWords(responsesText(it.Content))
			}
		}
	}
	var tools []tool
	for _, t := range req.Tools {
		if t.Type == "function" {
			tools = append(tools, tool{name: t.Name, params: schemaParams(t.Parameters)})
		}
	}
	rep := answer(conv, tools, req.ParallelToolCalls != nil && *req.ParallelToolCalls)

	respID := fmt.Sprintf("resp_fake_%d", id)
	model := req.Model + "-2026-01-01"
	outWords := countWords(rep.text) + rep.argWords()
	usage := map[string]any{
		"input_tokens": conv.words, "input_tokens_details": map[string]any{"cached_tokens": 0},
		"output_tokens": outWords, "output_tokens_details": map[string]any{"reasoning_tokens": 0},
		"total_tokens": conv.words + outWords,
	}
	parallel := req.ParallelToolCalls == nil || *req.ParallelToolCalls
	response := func(status string, output []any, usage any) map[string]any {
		return map[string]any{
			"id": respID, "object": "response", "created_at": created, "status": status, "model": model,
			"output": output, "parallel_tool_calls": parallel, "tool_choice": "auto", "tools": []any{},
			"error": nil, "incomplete_details": nil, "instructions": nil, "metadata": map[string]any{},
			"temperature": 1.0, "top_p": 1.0, "text": map[string]any{"format": map[string]any{"type": "text"}},
			"usage": usage,
		}
	}
	msgID := fmt.Sprintf("msg_fake_%d", id)
	message := func(status, text string) map[string]any {
		content := []any{}
		if status == "completed" {
			content = append(content, map[string]any{"type": "output_text", "text": text, "annotations": []any{}})
		}
		return map[string]any{"type": "message", "id": msgID, "status": status, "role": "assistant", "content": content}
	}
	call := func(i int, status, args string) map[string]any {
		c := rep.calls[i]
		return map[string]any{
			"type": "function_call", "id": callID("fc_fake", id, i, len(rep.calls)),
			"call_id": callID("call_fake", id, i, len(rep.calls)), "name": c.name, "arguments": args, "status": status,
		}
	}
	var output []any
	for i, c := range rep.calls {
		output = append(output, call(i, "completed", c.args))
	}
	if len(rep.calls) == 0 {
		output = append(output, message("completed", rep.text))
	}

	if !req.Stream {
		writeJSON(w, fault, response("completed", output, usage))
		return
	}
	out := s.newSSE(w, fault)
	seq := 0
	ev := func(typ string, fields map[string]any) {
		fields["type"] = typ
		fields["sequence_number"] = seq
		seq++
		out.event(typ, fields)
	}
	ev("response.created", map[string]any{"response": response("in_progress", []any{}, nil)})
	ev("response.in_progress", map[string]any{"response": response("in_progress", []any{}, nil)})
	for i, c := range rep.calls {
		item := call(i, "in_progress", "")
		ev("response.output_item.added", map[string]any{"output_index": i, "item": item})
		for _, p := range thirds(c.args) {
			ev("response.function_call_arguments.delta", map[string]any{"item_id": item["id"], "output_index": i, "delta": p})
		}
		ev("response.function_call_arguments.done", map[string]any{"item_id": item["id"], "output_index": i, "arguments": c.args})
		ev("response.output_item.done", map[string]any{"output_index": i, "item": call(i, "completed", c.args)})
	}
	if len(rep.calls) == 0 {
		part := func(text string) map[string]any {
			return map[string]any{"type": "output_text", "text": text, "annotations": []any{}}
		}
		ev("response.output_item.added", map[string]any{"output_index": 0, "item": message("in_progress", "")})
		ev("response.content_part.added", map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0, "part": part("")})
		for _, p := range pieces(rep.text) {
			ev("response.output_text.delta", map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0, "delta": p, "logprobs": []any{}})
		}
		ev("response.output_text.done", map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0, "text": rep.text, "logprobs": []any{}})
		ev("response.content_part.done", map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0, "part": part(rep.text)})
		ev("response.output_item.done", map[string]any{"output_index": 0, "item": message("completed", rep.text)})
	}
	ev("response.completed", map[string]any{"response": response("completed", output, usage)})
}
