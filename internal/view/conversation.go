package view

import (
	"encoding/json"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/genai"
)

// Conversation is an LLM call read as messages: what the model was sent
// and what it answered.
type Conversation struct {
	// Source says where the messages were read from: "gen_ai", the
	// OpenTelemetry GenAI attributes the HTTP transport sets
	// (gen_ai.system_instructions, gen_ai.input.messages,
	// gen_ai.output.messages); or "payload", the request and response
	// JSON, read as the common chat shapes (messages with a role and a
	// content, OpenAI choices, Anthropic content blocks).
	Source string    `json:"source"`
	System []Part    `json:"system,omitempty"`
	Input  []Message `json:"input"`
	Output []Message `json:"output"`
}

// Message is one message of a conversation: a GenAI semantic-convention
// message, as the HTTP transport writes it into the gen_ai attributes.
type Message = genai.Message

// Part is one part of a message (see genai.Part).
type Part = genai.Part

// ConversationOf reads r as a conversation; nil when r is not an LLM call
// or neither its attributes nor its payloads read as one.
func ConversationOf(r *boundary.Record) *Conversation {
	if r.Kind != boundary.KindLLM {
		return nil
	}
	if c := fromGenAI(r); c != nil {
		return c
	}
	return fromPayload(r)
}

func fromGenAI(r *boundary.Record) *Conversation {
	c := &Conversation{Source: "gen_ai", Input: []Message{}, Output: []Message{}}
	found := false
	for key, into := range map[string]any{
		boundary.GenAISystemInstructions: &c.System,
		boundary.GenAIInputMessages:      &c.Input,
		boundary.GenAIOutputMessages:     &c.Output,
	} {
		if s, ok := r.Attributes[key].(string); ok && json.Unmarshal([]byte(s), into) == nil {
			found = true
		}
	}
	if !found {
		return nil
	}
	return c
}

// fromPayload reads the request and response JSON of an LLM call made
// with otelrr.LLM (the agent's own types) or of an exchange the transport
// did not annotate.
func fromPayload(r *boundary.Record) *Conversation {
	var req map[string]any
	if json.Unmarshal(r.Request, &req) != nil {
		return nil
	}
	if body, ok := req["body"].(map[string]any); ok {
		req = body
	}
	c := &Conversation{Source: "payload", Input: []Message{}, Output: []Message{}}
	if sys, ok := req["system"].(string); ok && sys != "" {
		c.System = []Part{{Type: "text", Content: sys}}
	}
	for _, m := range asSlice(req["messages"]) {
		if msg, ok := readMessage(m, "user"); ok {
			c.Input = append(c.Input, msg)
		}
	}
	if len(c.Input) == 0 && c.System == nil {
		return nil
	}
	var resp any
	if !r.Failed && json.Unmarshal(r.Response, &resp) == nil {
		if m, ok := resp.(map[string]any); ok {
			if body, ok := m["body"].(map[string]any); ok {
				m = body
			}
			c.Output = readReply(m)
		} else if s, ok := resp.(string); ok {
			c.Output = []Message{{Role: "assistant", Parts: []Part{{Type: "text", Content: s}}}}
		}
	}
	return c
}

// readMessage reads one chat message: a role and a content that is a
// string or a list of parts, with OpenAI's tool_calls and tool_call_id.
func readMessage(v any, defaultRole string) (Message, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return Message{}, false
	}
	msg := Message{Role: defaultRole}
	if role, ok := m["role"].(string); ok && role != "" {
		msg.Role = role
	}
	id, _ := m["tool_call_id"].(string)
	switch content := m["content"].(type) {
	case string:
		if id != "" || msg.Role == "tool" {
			msg.Parts = append(msg.Parts, Part{Type: "tool_call_response", ID: id, Response: content})
		} else if content != "" {
			msg.Parts = append(msg.Parts, Part{Type: "text", Content: content})
		}
	case []any:
		msg.Parts = append(msg.Parts, readParts(content)...)
	}
	msg.Parts = append(msg.Parts, readToolCalls(m)...)
	if f, ok := m["finish_reason"].(string); ok {
		msg.FinishReason = f
	}
	return msg, len(msg.Parts) > 0
}

// readParts reads content blocks: {"type":"text","text":…} (OpenAI and
// Anthropic), tool_use and tool_result (Anthropic), others as they are.
func readParts(blocks []any) []Part {
	var parts []Part
	for _, b := range blocks {
		m, ok := b.(map[string]any)
		if !ok {
			if s, ok := b.(string); ok {
				parts = append(parts, Part{Type: "text", Content: s})
			}
			continue
		}
		typ, _ := m["type"].(string)
		id, _ := m["id"].(string)
		name, _ := m["name"].(string)
		switch {
		case typ == "tool_use":
			parts = append(parts, Part{Type: "tool_call", ID: id, Name: name, Arguments: m["input"]})
		case typ == "tool_result":
			tid, _ := m["tool_use_id"].(string)
			parts = append(parts, Part{Type: "tool_call_response", ID: tid, Response: m["content"]})
		case m["text"] != nil:
			parts = append(parts, Part{Type: "text", Content: m["text"]})
		default:
			if typ == "" {
				typ = "other"
			}
			parts = append(parts, Part{Type: typ, Content: m})
		}
	}
	return parts
}

// readToolCalls reads OpenAI's tool_calls and the single tool_call or
// tool_calls an agent's own types often carry.
func readToolCalls(m map[string]any) []Part {
	var parts []Part
	calls := asSlice(m["tool_calls"])
	if one, ok := m["tool_call"].(map[string]any); ok {
		calls = append(calls, one)
	}
	for _, c := range calls {
		tc, ok := c.(map[string]any)
		if !ok {
			continue
		}
		if fn, ok := tc["function"].(map[string]any); ok {
			id, _ := tc["id"].(string)
			name, _ := fn["name"].(string)
			parts = append(parts, Part{Type: "tool_call", ID: id, Name: name, Arguments: fn["arguments"]})
			continue
		}
		id, _ := tc["id"].(string)
		name, _ := tc["name"].(string)
		args := tc["arguments"]
		if args == nil {
			args = tc["args"]
		}
		if args == nil {
			args = tc["input"]
		}
		parts = append(parts, Part{Type: "tool_call", ID: id, Name: name, Arguments: args})
	}
	return parts
}

// readReply reads a model's answer: OpenAI choices, Anthropic content
// blocks, or an agent's own reply type (text, content, answer, output,
// tool_call).
func readReply(m map[string]any) []Message {
	if choices := asSlice(m["choices"]); len(choices) > 0 {
		var out []Message
		for _, ch := range choices {
			c, _ := ch.(map[string]any)
			if msg, ok := readMessage(c["message"], "assistant"); ok {
				if f, ok := c["finish_reason"].(string); ok {
					msg.FinishReason = f
				}
				out = append(out, msg)
			}
		}
		return out
	}
	msg := Message{Role: "assistant"}
	if role, ok := m["role"].(string); ok && role != "" {
		msg.Role = role
	}
	if blocks, ok := m["content"].([]any); ok {
		msg.Parts = readParts(blocks)
	}
	for _, key := range []string{"text", "content", "answer", "output"} {
		if s, ok := m[key].(string); ok && s != "" {
			msg.Parts = append(msg.Parts, Part{Type: "text", Content: s})
			break
		}
	}
	msg.Parts = append(msg.Parts, readToolCalls(m)...)
	if f, ok := m["stop_reason"].(string); ok {
		msg.FinishReason = f
	}
	if len(msg.Parts) == 0 {
		return []Message{}
	}
	return []Message{msg}
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}
