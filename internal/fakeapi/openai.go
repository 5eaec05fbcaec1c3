package fakeapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// created is the fixed "created" time of every completion.
const created = 1767225600 // 2026-01-01T00:00:00Z

type openAIRequest struct {
	Model    string `json:"model"`
	Stream   bool   `json:"stream"`
	Messages []struct {
		Role       string          `json:"role"`
		Content    json.RawMessage `json:"content"`
		ToolCallID string          `json:"tool_call_id"`
		ToolCalls  []struct {
			ID string `json:"id"`
		} `json:"tool_calls"`
	} `json:"messages"`
	Tools []struct {
		Function struct {
			Name       string          `json:"name"`
			Parameters json.RawMessage `json:"parameters"`
		} `json:"function"`
	} `json:"tools"`
	// ParallelToolCalls is the request's parallel_tool_calls, nil when
	// absent.
	ParallelToolCalls *bool `json:"parallel_tool_calls"`
	StreamOptions     *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// openAIText is the text of a message content: a string or text parts.
func openAIText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(raw, &parts)
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String()
}

func (s *Server) openAIChat(w http.ResponseWriter, r *http.Request) {
	var req openAIRequest
	fault, id, ok := s.accept(w, r, "openai", &req)
	if !ok {
		return
	}
	var conv conversation
	for _, m := range req.Messages {
		text := openAIText(m.Content)
		conv.words += countWords(text)
		switch m.Role {
		case "user":
			conv.lastUser, conv.results = text, nil
		case "tool":
			conv.results = append(conv.results, text)
		}
	}
	tools := make([]tool, len(req.Tools))
	for i, t := range req.Tools {
		tools[i] = tool{name: t.Function.Name, params: schemaParams(t.Function.Parameters)}
	}
	// The real API calls tools in parallel unless parallel_tool_calls is
	// false; the fake calls one at a time unless it is true, so that
	// agents written for one call per turn keep their conversation.
	rep := s.vary(conv, answer(conv, tools, req.ParallelToolCalls != nil && *req.ParallelToolCalls))

	chatID := fmt.Sprintf("chatcmpl-fake-%d", id)
	model := req.Model + "-2026-01-01"
	outWords := countWords(rep.text) + rep.argWords()
	usage := map[string]any{"prompt_tokens": conv.words, "completion_tokens": outWords, "total_tokens": conv.words + outWords}
	finish := "stop"
	if len(rep.calls) > 0 {
		finish = "tool_calls"
	}
	toolCallID := func(i int) string { return callID("call_fake", id, i, len(rep.calls)) }

	if !req.Stream {
		msg := map[string]any{"role": "assistant", "content": nil, "refusal": nil}
		var calls []any
		for i, c := range rep.calls {
			calls = append(calls, map[string]any{
				"id": toolCallID(i), "type": "function",
				"function": map[string]any{"name": c.name, "arguments": c.args},
			})
		}
		if len(calls) > 0 {
			msg["tool_calls"] = calls
		} else {
			msg["content"] = rep.text
		}
		writeJSON(w, fault, map[string]any{
			"id": chatID, "object": "chat.completion", "created": created, "model": model,
			"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish, "logprobs": nil}},
			"usage":   usage,
		})
		return
	}

	out := s.newSSE(w, fault)
	chunk := func(delta map[string]any, finishReason any) map[string]any {
		return map[string]any{
			"id": chatID, "object": "chat.completion.chunk", "created": created, "model": model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finishReason, "logprobs": nil}},
		}
	}
	out.event("", chunk(map[string]any{"role": "assistant", "content": ""}, nil))
	// Several tool calls stream one after the other, each told apart by
	// its index, as the real API streams them.
	for i, c := range rep.calls {
		out.event("", chunk(map[string]any{"tool_calls": []any{map[string]any{
			"index": i, "id": toolCallID(i), "type": "function",
			"function": map[string]any{"name": c.name, "arguments": ""},
		}}}, nil))
		for _, p := range thirds(c.args) {
			out.event("", chunk(map[string]any{"tool_calls": []any{map[string]any{
				"index": i, "function": map[string]any{"arguments": p},
			}}}, nil))
		}
	}
	if len(rep.calls) == 0 {
		for _, p := range pieces(rep.text) {
			out.event("", chunk(map[string]any{"content": p}, nil))
		}
	}
	out.event("", chunk(map[string]any{}, finish))
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		out.event("", map[string]any{
			"id": chatID, "object": "chat.completion.chunk", "created": created, "model": model,
			"choices": []any{}, "usage": usage,
		})
	}
	out.event("", "[DONE]")
}
