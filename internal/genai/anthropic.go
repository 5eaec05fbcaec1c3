package genai

import (
	"cmp"
	"encoding/json"
	"strings"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/sse"
)

// Anthropic Messages: POST …/v1/messages.

type anBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Thinking  string          `json:"thinking"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
}

type anUsage struct {
	InputTokens              *int64 `json:"input_tokens"`
	OutputTokens             *int64 `json:"output_tokens"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
}

type anMessage struct {
	ID         string    `json:"id"`
	Model      string    `json:"model"`
	Role       string    `json:"role"`
	Content    []anBlock `json:"content"`
	StopReason string    `json:"stop_reason"`
	Usage      *anUsage  `json:"usage"`
}

// anthropicRequest reads the parameters, the system prompt and the
// messages of a request.
func anthropicRequest(f *fields) {
	f.integer("max_tokens", boundary.GenAIRequestMaxTokens)
	f.integer("top_k", boundary.GenAIRequestTopK)
	f.stringList("stop_sequences", boundary.GenAIRequestStopSequences)
	if sys := anthropicSystem(f.m["system"]); len(sys) > 0 {
		f.attrs = appendJSON(f.attrs, boundary.GenAISystemInstructions, sys)
	}
	f.attrs = appendJSON(f.attrs, boundary.GenAIInputMessages, anthropicInput(f.m["messages"]))
}

// anthropic reads a message, or a stream of message events.
func (r *Result) anthropic(body []byte, stream bool) {
	if stream {
		r.anthropicStream(sse.Parse(body))
		return
	}
	var msg anMessage
	if json.Unmarshal(body, &msg) == nil {
		r.anthropicMessage(&msg)
	}
}

// anthropicUsage sets the token counts. gen_ai.usage.input_tokens counts
// every input token, cached ones included, as the conventions ask;
// Anthropic reports the cached ones apart.
func (r *Result) anthropicUsage(u *anUsage) {
	if u == nil {
		return
	}
	if u.InputTokens != nil {
		in := *u.InputTokens
		for _, c := range []*int64{u.CacheReadInputTokens, u.CacheCreationInputTokens} {
			if c != nil {
				in += *c
			}
		}
		r.input = &in
	}
	if u.OutputTokens != nil {
		r.output = u.OutputTokens
	}
	if u.CacheReadInputTokens != nil {
		r.cacheRead = u.CacheReadInputTokens
	}
	if u.CacheCreationInputTokens != nil {
		r.cacheCreation = u.CacheCreationInputTokens
	}
}

func (r *Result) anthropicMessage(msg *anMessage) {
	r.id, r.model = msg.ID, msg.Model
	r.anthropicUsage(msg.Usage)
	out := Message{Role: cmp.Or(msg.Role, "assistant"), Parts: anthropicParts(msg.Content), FinishReason: semconvFinishReason(msg.StopReason)}
	for _, b := range msg.Content {
		if b.Type == "tool_use" {
			r.toolCalls = append(r.toolCalls, toolCall{ID: b.ID, Name: b.Name, Arguments: string(b.Input)})
		}
	}
	if msg.StopReason != "" {
		r.finishReasons = []string{msg.StopReason}
	}
	r.messages = []Message{out}
}

// anthropicStream accumulates message stream events as the SDK's
// Message.Accumulate does.
func (r *Result) anthropicStream(events []sse.Event) {
	var msg anMessage
	partial := map[int]*strings.Builder{}
	for _, ev := range events {
		var e struct {
			Type         string    `json:"type"`
			Index        int       `json:"index"`
			Message      anMessage `json:"message"`
			ContentBlock anBlock   `json:"content_block"`
			Delta        struct {
				Type        string `json:"type"`
				Text        string `json:"text"`
				Thinking    string `json:"thinking"`
				PartialJSON string `json:"partial_json"`
				StopReason  string `json:"stop_reason"`
			} `json:"delta"`
			Usage *anUsage `json:"usage"`
		}
		if json.Unmarshal(ev.Data, &e) != nil {
			continue
		}
		switch e.Type {
		case "message_start":
			msg = e.Message
		case "content_block_start":
			for len(msg.Content) <= e.Index {
				msg.Content = append(msg.Content, anBlock{})
			}
			msg.Content[e.Index] = e.ContentBlock
		case "content_block_delta":
			if e.Index >= len(msg.Content) {
				continue
			}
			b := &msg.Content[e.Index]
			switch e.Delta.Type {
			case "text_delta":
				b.Text += e.Delta.Text
			case "thinking_delta":
				b.Thinking += e.Delta.Thinking
			case "input_json_delta":
				if partial[e.Index] == nil {
					partial[e.Index] = &strings.Builder{}
				}
				partial[e.Index].WriteString(e.Delta.PartialJSON)
			}
		case "message_delta":
			if e.Delta.StopReason != "" {
				msg.StopReason = e.Delta.StopReason
			}
			if e.Usage != nil {
				if msg.Usage == nil {
					msg.Usage = &anUsage{}
				}
				if e.Usage.OutputTokens != nil {
					msg.Usage.OutputTokens = e.Usage.OutputTokens
				}
				if e.Usage.InputTokens != nil {
					msg.Usage.InputTokens = e.Usage.InputTokens
				}
			}
		}
	}
	for i, p := range partial {
		if i < len(msg.Content) && p.Len() > 0 {
			msg.Content[i].Input = json.RawMessage(p.String())
		}
	}
	r.anthropicMessage(&msg)
}

func anthropicParts(blocks []anBlock) []Part {
	parts := []Part{}
	for _, b := range blocks {
		switch b.Type {
		case "text":
			parts = append(parts, Part{Type: "text", Content: b.Text})
		case "thinking":
			parts = append(parts, Part{Type: "reasoning", Content: b.Thinking})
		case "tool_use":
			parts = append(parts, Part{Type: "tool_call", ID: b.ID, Name: b.Name, Arguments: jsonOrString(string(b.Input))})
		case "tool_result":
			parts = append(parts, Part{Type: "tool_call_response", ID: b.ToolUseID, Response: anthropicResultText(b.Content)})
		default:
			parts = append(parts, Part{Type: b.Type})
		}
	}
	return parts
}

// anthropicResultText is the content of a tool_result block: a string, or
// the text of its text blocks.
func anthropicResultText(raw json.RawMessage) any {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var blocks []anBlock
	if json.Unmarshal(raw, &blocks) == nil {
		var b strings.Builder
		for _, bl := range blocks {
			b.WriteString(bl.Text)
		}
		return b.String()
	}
	return nil
}

func anthropicInput(raw json.RawMessage) []Message {
	var msgs []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if json.Unmarshal(raw, &msgs) != nil {
		return nil
	}
	out := make([]Message, 0, len(msgs))
	for _, m := range msgs {
		var s string
		if json.Unmarshal(m.Content, &s) == nil {
			out = append(out, Message{Role: m.Role, Parts: []Part{{Type: "text", Content: s}}})
			continue
		}
		var blocks []anBlock
		_ = json.Unmarshal(m.Content, &blocks)
		role := m.Role
		if len(blocks) > 0 && allToolResults(blocks) {
			role = "tool"
		}
		out = append(out, Message{Role: role, Parts: anthropicParts(blocks)})
	}
	return out
}

func allToolResults(blocks []anBlock) bool {
	for _, b := range blocks {
		if b.Type != "tool_result" {
			return false
		}
	}
	return true
}

func anthropicSystem(raw json.RawMessage) []Part {
	var s string
	if json.Unmarshal(raw, &s) == nil && s != "" {
		return []Part{{Type: "text", Content: s}}
	}
	var blocks []anBlock
	if json.Unmarshal(raw, &blocks) != nil {
		return nil
	}
	var parts []Part
	for _, b := range blocks {
		if b.Type == "text" {
			parts = append(parts, Part{Type: "text", Content: b.Text})
		}
	}
	return parts
}
