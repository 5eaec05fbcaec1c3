// Package fakellm is an in-process stand-in for an LLM chat API, used by the
// example agents so they run with no API key and no network. Its answers are
// a deterministic function of the request, and it counts its calls so tests
// can prove that a replay made none.
package fakellm

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
)

// Message is one chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Request is a chat completion request.
type Request struct {
	Model       string    `json:"model"`
	Messages    []Message `json:"messages"`
	Temperature float64   `json:"temperature"`
	Tools       []string  `json:"tools,omitempty"`
}

// ToolCall is a tool the model asks the agent to run.
type ToolCall struct {
	Name string            `json:"name"`
	Args map[string]string `json:"args"`
}

// Response is a chat completion response.
type Response struct {
	Model        string    `json:"model"`
	Content      string    `json:"content,omitempty"`
	ToolCall     *ToolCall `json:"tool_call,omitempty"`
	InputTokens  int64     `json:"input_tokens"`
	OutputTokens int64     `json:"output_tokens"`
}

// Usage reports token usage (otelrr sets the GenAI usage attributes from it).
func (r Response) Usage() (int64, int64) { return r.InputTokens, r.OutputTokens }

// Client is the fake model. The zero value is ready to use.
type Client struct {
	calls atomic.Int64
}

// Calls returns how many times Complete ran.
func (c *Client) Calls() int64 { return c.calls.Load() }

// Complete answers req. While the conversation has an unanswered tool it
// knows how to use, it asks for that tool; then it writes a final answer
// from the tool results.
func (c *Client) Complete(_ context.Context, req Request) (Response, error) {
	c.calls.Add(1)
	resp := Response{Model: req.Model}
	var words int64
	for _, m := range req.Messages {
		words += int64(len(strings.Fields(m.Content)))
	}
	resp.InputTokens = words
	used := map[string]bool{}
	var results []string
	for _, m := range req.Messages {
		if m.Role == "tool" {
			name, _, _ := strings.Cut(m.Content, ":")
			used[name] = true
			results = append(results, m.Content)
		}
	}
	for _, t := range req.Tools {
		if !used[t] {
			resp.ToolCall = &ToolCall{Name: t, Args: map[string]string{"order_id": orderID(req.Messages)}}
			resp.OutputTokens = 12
			return resp, nil
		}
	}
	resp.Content = fmt.Sprintf("Thanks for your patience. %s", strings.Join(results, " "))
	resp.OutputTokens = int64(len(strings.Fields(resp.Content)))
	return resp, nil
}

// orderID finds an order id (a word starting with "A-") in the user's messages.
func orderID(msgs []Message) string {
	for _, m := range msgs {
		if m.Role != "user" {
			continue
		}
		for _, w := range strings.Fields(m.Content) {
			w = strings.Trim(w, ".,?!")
			if strings.HasPrefix(w, "A-") {
				return w
			}
		}
	}
	return "unknown"
}
