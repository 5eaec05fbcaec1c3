package fakeapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

type anthropicBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
}

type anthropicRequest struct {
	Model    string `json:"model"`
	Stream   bool   `json:"stream"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Tools []struct {
		Name        string          `json:"name"`
		InputSchema json.RawMessage `json:"input_schema"`
	} `json:"tools"`
}

// anthropicBlocks reads a message content: a string or content blocks.
func anthropicBlocks(raw json.RawMessage) []anthropicBlock {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []anthropicBlock{{Type: "text", Text: s}}
	}
	var blocks []anthropicBlock
	_ = json.Unmarshal(raw, &blocks)
	return blocks
}

func (s *Server) anthropicMessages(w http.ResponseWriter, r *http.Request) {
	var req anthropicRequest
	fault, id, ok := s.accept(w, r, "anthropic", &req)
	if !ok {
		return
	}
	var conv conversation
	for _, m := range req.Messages {
		var text strings.Builder
		var results []string
		for _, b := range anthropicBlocks(m.Content) {
			switch b.Type {
			case "text":
				text.WriteString(b.Text)
			case "tool_result":
				var res strings.Builder
				for _, rb := range anthropicBlocks(b.Content) {
					res.WriteString(rb.Text)
				}
				results = append(results, res.String())
				conv.words += countWords(res.String())
			}
		}
		conv.words += countWords(text.String())
		if m.Role == "user" {
			if text.Len() > 0 && len(results) == 0 {
				conv.lastUser, conv.results = text.String(), nil
			}
			conv.results = append(conv.results, results...)
		}
	}
	tools := make([]tool, len(req.Tools))
	for i, t := range req.Tools {
		tools[i] = tool{name: t.Name, params: schemaParams(t.InputSchema)}
	}
	// Claude may call several tools in one turn, but the fake calls one at
	// a time.
	rep := s.vary(conv, answer(conv, tools, false))

	msgID := fmt.Sprintf("msg_fake_%d", id)
	model := req.Model + "-20260101"
	outWords := countWords(rep.text) + rep.argWords()
	stop := "end_turn"
	if len(rep.calls) > 0 {
		stop = "tool_use"
	}
	toolID := func(i int) string { return callID("toolu_fake", id, i, len(rep.calls)) }

	if !req.Stream {
		var content []any
		for i, c := range rep.calls {
			content = append(content, map[string]any{"type": "tool_use", "id": toolID(i), "name": c.name, "input": json.RawMessage(c.args)})
		}
		if len(rep.calls) == 0 {
			content = append(content, map[string]any{"type": "text", "text": rep.text})
		}
		writeJSON(w, fault, map[string]any{
			"id": msgID, "type": "message", "role": "assistant", "model": model, "content": content,
			"stop_reason": stop, "stop_sequence": nil,
			"usage": map[string]any{"input_tokens": conv.words, "output_tokens": outWords},
		})
		return
	}

	out := s.newSSE(w, fault)
	out.event("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": msgID, "type": "message", "role": "assistant", "model": model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": conv.words, "output_tokens": 1},
	}})
	out.event("ping", map[string]any{"type": "ping"})
	for i, c := range rep.calls {
		out.event("content_block_start", map[string]any{"type": "content_block_start", "index": i,
			"content_block": map[string]any{"type": "tool_use", "id": toolID(i), "name": c.name, "input": map[string]any{}}})
		for _, p := range thirds(c.args) {
			out.event("content_block_delta", map[string]any{"type": "content_block_delta", "index": i,
				"delta": map[string]any{"type": "input_json_delta", "partial_json": p}})
		}
		out.event("content_block_stop", map[string]any{"type": "content_block_stop", "index": i})
	}
	if len(rep.calls) == 0 {
		out.event("content_block_start", map[string]any{"type": "content_block_start", "index": 0,
			"content_block": map[string]any{"type": "text", "text": ""}})
		for _, p := range pieces(rep.text) {
			out.event("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0,
				"delta": map[string]any{"type": "text_delta", "text": p}})
		}
		out.event("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	}
	out.event("message_delta", map[string]any{"type": "message_delta",
		"delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": outWords}})
	out.event("message_stop", map[string]any{"type": "message_stop"})
}
