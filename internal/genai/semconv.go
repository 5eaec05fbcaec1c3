package genai

import (
	"bytes"
	"encoding/json"
	"strings"

	"go.opentelemetry.io/otel/attribute"
)

// Part is one part of a GenAI semantic-convention message (the JSON
// schemas of gen_ai.input.messages and gen_ai.output.messages): "text"
// (Content), "tool_call" (ID, Name, Arguments), "tool_call_response" (ID,
// Response), or another type with its content as it was.
type Part struct {
	Type      string `json:"type"`
	Content   any    `json:"content,omitempty"`
	ID        string `json:"id,omitempty"`
	Name      string `json:"name,omitempty"`
	Arguments any    `json:"arguments,omitempty"`
	Response  any    `json:"response,omitempty"`
}

// Message is one GenAI semantic-convention message.
type Message struct {
	Role         string `json:"role"`
	Parts        []Part `json:"parts"`
	FinishReason string `json:"finish_reason,omitempty"`
}

// semconvFinishReason maps a provider's finish reason onto the values the
// output messages schema names (stop, length, content_filter, tool_call,
// error); others pass through.
func semconvFinishReason(r string) string {
	switch r {
	case "stop", "end_turn", "stop_sequence", "completed", "pause_turn":
		return "stop"
	case "length", "max_tokens", "max_output_tokens", "incomplete", "model_context_window_exceeded":
		return "length"
	case "tool_calls", "tool_use", "function_call":
		return "tool_call"
	case "content_filter", "refusal":
		return "content_filter"
	case "failed":
		return "error"
	}
	return r
}

// jsonOrString is s decoded when it is a JSON document (tool arguments),
// else s itself, so that the messages carry arguments as objects when they
// can, as the conventions ask.
func jsonOrString(s string) any {
	var v any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if s != "" && dec.Decode(&v) == nil && !dec.More() {
		return v
	}
	if s == "" {
		return nil
	}
	return s
}

// stringList reads a JSON string or array of strings.
func stringList(raw json.RawMessage) []string {
	var s string
	if json.Unmarshal(raw, &s) == nil && s != "" {
		return []string{s}
	}
	var list []string
	_ = json.Unmarshal(raw, &list)
	return list
}

// appendJSON appends key = v encoded as JSON (no HTML escaping), leaving
// it out when v is empty or cannot be encoded.
func appendJSON[T any](attrs []attribute.KeyValue, key string, v []T) []attribute.KeyValue {
	if len(v) == 0 {
		return attrs
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return attrs
	}
	return append(attrs, attribute.String(key, strings.TrimSuffix(buf.String(), "\n")))
}
