package genai

import (
	"bytes"
	"encoding/json"
	"strings"
)

// What the OpenAI Chat Completions and Responses APIs share.

// contentParts converts OpenAI message content: a string, or an array of
// typed parts of which the text ones carry their text.
func contentParts(raw json.RawMessage) []Part {
	if t := bytes.TrimSpace(raw); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return []Part{}
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []Part{{Type: "text", Content: s}}
	}
	var items []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &items) != nil {
		return []Part{}
	}
	parts := make([]Part, 0, len(items))
	for _, it := range items {
		switch it.Type {
		case "text", "input_text", "output_text":
			parts = append(parts, Part{Type: "text", Content: it.Text})
		default:
			parts = append(parts, Part{Type: it.Type})
		}
	}
	return parts
}

// textOf is the text of an OpenAI content value (a string or text parts).
func textOf(raw json.RawMessage) any {
	var b strings.Builder
	for _, p := range contentParts(raw) {
		if s, ok := p.Content.(string); ok {
			b.WriteString(s)
		}
	}
	return b.String()
}
