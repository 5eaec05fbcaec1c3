package genai

import (
	"encoding/json"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/sse"
)

// OpenAI Responses: POST …/responses.

type oaResponse struct {
	ID     string `json:"id"`
	Model  string `json:"model"`
	Status string `json:"status"`
	Output []struct {
		Type      string `json:"type"`
		Role      string `json:"role"`
		CallID    string `json:"call_id"`
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
		Content   []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
	} `json:"output"`
	Usage *struct {
		InputTokens        *int64 `json:"input_tokens"`
		OutputTokens       *int64 `json:"output_tokens"`
		InputTokensDetails *struct {
			CachedTokens *int64 `json:"cached_tokens"`
		} `json:"input_tokens_details"`
	} `json:"usage"`
	IncompleteDetails *struct {
		Reason string `json:"reason"`
	} `json:"incomplete_details"`
}

// openAIResponsesRequest reads the parameters, the instructions and the
// input items of a request.
func openAIResponsesRequest(f *fields) {
	f.integer("max_output_tokens", boundary.GenAIRequestMaxTokens)
	var instructions string
	if json.Unmarshal(f.m["instructions"], &instructions) == nil && instructions != "" {
		f.attrs = appendJSON(f.attrs, boundary.GenAISystemInstructions, []Part{{Type: "text", Content: instructions}})
	}
	f.attrs = appendJSON(f.attrs, boundary.GenAIInputMessages, openAIResponsesInput(f.m["input"]))
}

// openAIResponses reads a response object, or a stream of events.
func (r *Result) openAIResponses(body []byte, stream bool) {
	if stream {
		// The last event carrying the whole response (response.completed,
		// .incomplete or .failed) has what the non-streamed body has.
		var last json.RawMessage
		for _, ev := range sse.Parse(body) {
			var e struct {
				Response json.RawMessage `json:"response"`
			}
			if json.Unmarshal(ev.Data, &e) == nil && len(e.Response) > 0 {
				last = e.Response
			}
		}
		if last == nil {
			return
		}
		body = last
	}
	var resp oaResponse
	if json.Unmarshal(body, &resp) != nil {
		return
	}
	r.id, r.model = resp.ID, resp.Model
	if u := resp.Usage; u != nil {
		r.input, r.output = u.InputTokens, u.OutputTokens
		if u.InputTokensDetails != nil {
			r.cacheRead = u.InputTokensDetails.CachedTokens
		}
	}
	msg := Message{Role: "assistant", Parts: []Part{}}
	for _, o := range resp.Output {
		switch o.Type {
		case "message":
			for _, c := range o.Content {
				switch c.Type {
				case "output_text":
					msg.Parts = append(msg.Parts, Part{Type: "text", Content: c.Text})
				case "refusal":
					msg.Parts = append(msg.Parts, Part{Type: "refusal", Content: c.Text})
				}
			}
		case "function_call":
			msg.Parts = append(msg.Parts, Part{Type: "tool_call", ID: o.CallID, Name: o.Name, Arguments: jsonOrString(o.Arguments)})
			r.toolCalls = append(r.toolCalls, toolCall{ID: o.CallID, Name: o.Name, Arguments: o.Arguments})
		default:
			msg.Parts = append(msg.Parts, Part{Type: o.Type})
		}
	}
	finish := resp.Status
	if resp.IncompleteDetails != nil && resp.IncompleteDetails.Reason != "" {
		finish = resp.IncompleteDetails.Reason
	}
	if finish != "" {
		r.finishReasons = []string{finish}
	}
	msg.FinishReason = semconvFinishReason(finish)
	if len(r.toolCalls) > 0 && finish == "completed" {
		msg.FinishReason = "tool_call"
	}
	r.messages = []Message{msg}
}

func openAIResponsesInput(raw json.RawMessage) []Message {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []Message{{Role: "user", Parts: []Part{{Type: "text", Content: s}}}}
	}
	var items []struct {
		Type      string          `json:"type"`
		Role      string          `json:"role"`
		Content   json.RawMessage `json:"content"`
		CallID    string          `json:"call_id"`
		Name      string          `json:"name"`
		Arguments string          `json:"arguments"`
		Output    json.RawMessage `json:"output"`
	}
	if json.Unmarshal(raw, &items) != nil {
		return nil
	}
	var out []Message
	for _, it := range items {
		switch {
		case it.Type == "function_call":
			out = append(out, Message{Role: "assistant", Parts: []Part{{Type: "tool_call", ID: it.CallID, Name: it.Name, Arguments: jsonOrString(it.Arguments)}}})
		case it.Type == "function_call_output":
			out = append(out, Message{Role: "tool", Parts: []Part{{Type: "tool_call_response", ID: it.CallID, Response: textOf(it.Output)}}})
		case it.Role != "":
			out = append(out, Message{Role: it.Role, Parts: contentParts(it.Content)})
		default:
			out = append(out, Message{Role: "user", Parts: []Part{{Type: it.Type}}})
		}
	}
	return out
}
