package genai

import (
	"bytes"
	"cmp"
	"encoding/json"
	"sort"
	"strings"

	"go.opentelemetry.io/otel/attribute"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/sse"
)

// OpenAI Chat Completions: POST …/chat/completions.

type oaToolCall struct {
	Index    int    `json:"index"`
	ID       string `json:"id"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type oaMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	Refusal    string          `json:"refusal"`
	ToolCalls  []oaToolCall    `json:"tool_calls"`
	ToolCallID string          `json:"tool_call_id"`
}

type oaUsage struct {
	PromptTokens        *int64 `json:"prompt_tokens"`
	CompletionTokens    *int64 `json:"completion_tokens"`
	PromptTokensDetails *struct {
		CachedTokens *int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

type oaChatResponse struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Index        int       `json:"index"`
		Message      oaMessage `json:"message"`
		FinishReason string    `json:"finish_reason"`
	} `json:"choices"`
	Usage *oaUsage `json:"usage"`
}

// openAIChatRequest reads the parameters and the messages of a request.
// The system message stays among the input messages.
func openAIChatRequest(f *fields) {
	if !f.integer("max_completion_tokens", boundary.GenAIRequestMaxTokens) {
		f.integer("max_tokens", boundary.GenAIRequestMaxTokens)
	}
	f.float("frequency_penalty", boundary.GenAIRequestFrequencyPenalty)
	f.float("presence_penalty", boundary.GenAIRequestPresencePenalty)
	f.integer("seed", boundary.GenAIRequestSeed)
	var n int64
	if json.Unmarshal(f.m["n"], &n) == nil && n != 1 && n != 0 {
		f.attrs = append(f.attrs, attribute.Int64(boundary.GenAIRequestChoiceCount, n))
	}
	f.stringList("stop", boundary.GenAIRequestStopSequences)
	f.attrs = appendJSON(f.attrs, boundary.GenAIInputMessages, openAIChatInput(f.m["messages"]))
}

// openAIChat reads a chat.completion, or a stream of chunks.
func (r *Result) openAIChat(body []byte, stream bool) {
	if stream {
		r.openAIChatStream(sse.Parse(body))
		return
	}
	var resp oaChatResponse
	if json.Unmarshal(body, &resp) != nil {
		return
	}
	r.id, r.model = resp.ID, resp.Model
	r.openAIUsage(resp.Usage)
	for _, c := range resp.Choices {
		msg := openAIChatMessage(c.Message)
		msg.FinishReason = semconvFinishReason(c.FinishReason)
		r.messages = append(r.messages, msg)
		r.finishReasons = append(r.finishReasons, c.FinishReason)
		for _, tc := range c.Message.ToolCalls {
			r.toolCalls = append(r.toolCalls, toolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
		}
	}
}

func (r *Result) openAIUsage(u *oaUsage) {
	if u == nil {
		return
	}
	r.input, r.output = u.PromptTokens, u.CompletionTokens
	if u.PromptTokensDetails != nil {
		r.cacheRead = u.PromptTokensDetails.CachedTokens
	}
}

// openAIChatStream accumulates chat.completion.chunk events as the SDK's
// accumulator does: content and tool-call arguments concatenated per
// choice and per tool-call index.
func (r *Result) openAIChatStream(events []sse.Event) {
	type acc struct {
		role    string
		content strings.Builder
		calls   map[int]*toolCall
		order   []int
		finish  string
	}
	choices := map[int]*acc{}
	var order []int
	for _, ev := range events {
		if bytes.Equal(bytes.TrimSpace(ev.Data), []byte("[DONE]")) {
			continue
		}
		var chunk struct {
			ID      string   `json:"id"`
			Model   string   `json:"model"`
			Usage   *oaUsage `json:"usage"`
			Choices []struct {
				Index int `json:"index"`
				Delta struct {
					Role      string       `json:"role"`
					Content   string       `json:"content"`
					ToolCalls []oaToolCall `json:"tool_calls"`
				} `json:"delta"`
				FinishReason string `json:"finish_reason"`
			} `json:"choices"`
		}
		if json.Unmarshal(ev.Data, &chunk) != nil {
			continue
		}
		if chunk.ID != "" {
			r.id = chunk.ID
		}
		if chunk.Model != "" {
			r.model = chunk.Model
		}
		r.openAIUsage(chunk.Usage)
		for _, c := range chunk.Choices {
			a := choices[c.Index]
			if a == nil {
				a = &acc{calls: map[int]*toolCall{}}
				choices[c.Index] = a
				order = append(order, c.Index)
			}
			if c.Delta.Role != "" {
				a.role = c.Delta.Role
			}
			a.content.WriteString(c.Delta.Content)
			for _, tc := range c.Delta.ToolCalls {
				t := a.calls[tc.Index]
				if t == nil {
					t = &toolCall{}
					a.calls[tc.Index] = t
					a.order = append(a.order, tc.Index)
				}
				if tc.ID != "" {
					t.ID = tc.ID
				}
				if tc.Function.Name != "" {
					t.Name = tc.Function.Name
				}
				t.Arguments += tc.Function.Arguments
			}
			if c.FinishReason != "" {
				a.finish = c.FinishReason
			}
		}
	}
	sort.Ints(order)
	for _, i := range order {
		a := choices[i]
		msg := Message{Role: cmp.Or(a.role, "assistant"), Parts: []Part{}, FinishReason: semconvFinishReason(a.finish)}
		if a.content.Len() > 0 {
			msg.Parts = append(msg.Parts, Part{Type: "text", Content: a.content.String()})
		}
		sort.Ints(a.order)
		for _, j := range a.order {
			tc := *a.calls[j]
			msg.Parts = append(msg.Parts, Part{Type: "tool_call", ID: tc.ID, Name: tc.Name, Arguments: jsonOrString(tc.Arguments)})
			r.toolCalls = append(r.toolCalls, tc)
		}
		r.messages = append(r.messages, msg)
		if a.finish != "" {
			r.finishReasons = append(r.finishReasons, a.finish)
		}
	}
}

// openAIChatMessage converts one Chat Completions message.
func openAIChatMessage(m oaMessage) Message {
	msg := Message{Role: m.Role, Parts: []Part{}}
	if m.Role == "tool" {
		msg.Parts = append(msg.Parts, Part{Type: "tool_call_response", ID: m.ToolCallID, Response: textOf(m.Content)})
		return msg
	}
	msg.Parts = append(msg.Parts, contentParts(m.Content)...)
	if m.Refusal != "" {
		msg.Parts = append(msg.Parts, Part{Type: "refusal", Content: m.Refusal})
	}
	for _, tc := range m.ToolCalls {
		msg.Parts = append(msg.Parts, Part{Type: "tool_call", ID: tc.ID, Name: tc.Function.Name, Arguments: jsonOrString(tc.Function.Arguments)})
	}
	return msg
}

func openAIChatInput(raw json.RawMessage) []Message {
	var msgs []oaMessage
	if json.Unmarshal(raw, &msgs) != nil {
		return nil
	}
	out := make([]Message, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, openAIChatMessage(m))
	}
	return out
}
