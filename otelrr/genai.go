package otelrr

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	"go.opentelemetry.io/otel/attribute"

	"github.com/agentrr/agentrr/boundary"
)

// llmAPI is an LLM API that the HTTP transport recognises by its path, and
// whose exchanges it records as llm boundaries with the OpenTelemetry GenAI
// semantic-convention attributes.
type llmAPI int

const (
	apiNone              llmAPI = iota
	apiOpenAIChat               // POST …/chat/completions
	apiOpenAIResponses          // POST …/responses
	apiAnthropicMessages        // POST …/v1/messages
)

// recogniseAPI says which LLM API a request is for, from its method and
// path only (not its host, so that OpenAI-compatible servers and local
// fakes are recognised too).
func recogniseAPI(method, path string) llmAPI {
	if method != http.MethodPost {
		return apiNone
	}
	switch {
	case strings.HasSuffix(path, "/chat/completions"):
		return apiOpenAIChat
	case strings.HasSuffix(path, "/responses"):
		return apiOpenAIResponses
	case strings.HasSuffix(path, "/v1/messages"):
		return apiAnthropicMessages
	}
	return apiNone
}

// providerHosts refines gen_ai.provider.name for well-known hosts that speak
// the OpenAI wire format.
var providerHosts = map[string]string{
	"api.openai.com":                "openai",
	"api.anthropic.com":             "anthropic",
	"api.groq.com":                  "groq",
	"api.deepseek.com":              "deepseek",
	"api.x.ai":                      "x_ai",
	"api.mistral.ai":                "mistral_ai",
	"api.perplexity.ai":             "perplexity",
	"api.cohere.com":                "cohere",
	"api.cohere.ai":                 "cohere",
	"models.inference.ai.azure.com": "azure.ai.inference",
}

// providerName is the gen_ai.provider.name of an exchange: the well-known
// provider behind host, else the wire format's own provider.
func providerName(api llmAPI, host string) string {
	host = strings.ToLower(host)
	if p, ok := providerHosts[host]; ok {
		return p
	}
	if strings.HasSuffix(host, ".openai.azure.com") {
		return "azure.ai.openai"
	}
	if api == apiAnthropicMessages {
		return "anthropic"
	}
	return "openai"
}

// genaiPart is one part of a GenAI semantic-convention message (the JSON
// schemas of gen_ai.input.messages and gen_ai.output.messages).
type genaiPart struct {
	Type      string `json:"type"`
	Content   any    `json:"content,omitempty"`
	ID        string `json:"id,omitempty"`
	Name      string `json:"name,omitempty"`
	Arguments any    `json:"arguments,omitempty"`
	Response  any    `json:"response,omitempty"`
}

// genaiMessage is one GenAI semantic-convention message.
type genaiMessage struct {
	Role         string      `json:"role"`
	Parts        []genaiPart `json:"parts"`
	FinishReason string      `json:"finish_reason,omitempty"`
}

// toolCall is one tool call the model requested.
type toolCall struct {
	ID, Name, Arguments string
}

// llmRequest is what the transport reads from a recognised request body.
type llmRequest struct {
	model string
	attrs []attribute.KeyValue // request parameters and input messages
}

// parseLLMRequest reads the model, the request parameters and the input
// messages of a request body. ok is false when the body is not a JSON
// object with a model: the exchange is then recorded as a plain http
// boundary.
func parseLLMRequest(api llmAPI, body []byte) (req llmRequest, ok bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return req, false
	}
	var model string
	if err := json.Unmarshal(m["model"], &model); err != nil || model == "" {
		return req, false
	}
	req.model = model
	attrs := []attribute.KeyValue{attribute.String(boundary.GenAIRequestModel, model)}
	num := func(field, key string) {
		var f float64
		if raw, ok := m[field]; ok && json.Unmarshal(raw, &f) == nil {
			attrs = append(attrs, attribute.Float64(key, f))
		}
	}
	integer := func(field, key string) bool {
		var n int64
		if raw, ok := m[field]; ok && json.Unmarshal(raw, &n) == nil {
			attrs = append(attrs, attribute.Int64(key, n))
			return true
		}
		return false
	}
	num("temperature", boundary.GenAIRequestTemperature)
	num("top_p", boundary.GenAIRequestTopP)
	switch api {
	case apiOpenAIChat:
		if !integer("max_completion_tokens", boundary.GenAIRequestMaxTokens) {
			integer("max_tokens", boundary.GenAIRequestMaxTokens)
		}
		num("frequency_penalty", boundary.GenAIRequestFrequencyPenalty)
		num("presence_penalty", boundary.GenAIRequestPresencePenalty)
		integer("seed", boundary.GenAIRequestSeed)
		var n int64
		if json.Unmarshal(m["n"], &n) == nil && n != 1 && n != 0 {
			attrs = append(attrs, attribute.Int64(boundary.GenAIRequestChoiceCount, n))
		}
		if stop := stringList(m["stop"]); len(stop) > 0 {
			attrs = append(attrs, attribute.StringSlice(boundary.GenAIRequestStopSequences, stop))
		}
		attrs = appendJSON(attrs, boundary.GenAIInputMessages, openAIChatInput(m["messages"]))
	case apiOpenAIResponses:
		integer("max_output_tokens", boundary.GenAIRequestMaxTokens)
		var instructions string
		if json.Unmarshal(m["instructions"], &instructions) == nil && instructions != "" {
			attrs = appendJSON(attrs, boundary.GenAISystemInstructions, []genaiPart{{Type: "text", Content: instructions}})
		}
		attrs = appendJSON(attrs, boundary.GenAIInputMessages, openAIResponsesInput(m["input"]))
	case apiAnthropicMessages:
		integer("max_tokens", boundary.GenAIRequestMaxTokens)
		integer("top_k", boundary.GenAIRequestTopK)
		if stop := stringList(m["stop_sequences"]); len(stop) > 0 {
			attrs = append(attrs, attribute.StringSlice(boundary.GenAIRequestStopSequences, stop))
		}
		if sys := anthropicSystem(m["system"]); len(sys) > 0 {
			attrs = appendJSON(attrs, boundary.GenAISystemInstructions, sys)
		}
		attrs = appendJSON(attrs, boundary.GenAIInputMessages, anthropicInput(m["messages"]))
	}
	req.attrs = attrs
	return req, true
}

// llmResult is what the transport reads from a recognised response body.
type llmResult struct {
	id, model     string
	finishReasons []string
	input, output *int64
	cacheRead     *int64
	cacheCreation *int64
	messages      []genaiMessage
	toolCalls     []toolCall
}

// attributes returns the response attributes of the GenAI conventions.
func (r *llmResult) attributes() []attribute.KeyValue {
	var attrs []attribute.KeyValue
	if r.id != "" {
		attrs = append(attrs, attribute.String(boundary.GenAIResponseID, r.id))
	}
	if r.model != "" {
		attrs = append(attrs, attribute.String(boundary.GenAIResponseModel, r.model))
	}
	if len(r.finishReasons) > 0 {
		attrs = append(attrs, attribute.StringSlice(boundary.GenAIResponseFinishReasons, r.finishReasons))
	}
	for _, t := range []struct {
		key string
		v   *int64
	}{
		{boundary.GenAIInputTokens, r.input},
		{boundary.GenAIOutputTokens, r.output},
		{boundary.GenAIUsageCacheReadTokens, r.cacheRead},
		{boundary.GenAIUsageCacheCreationTokens, r.cacheCreation},
	} {
		if t.v != nil {
			attrs = append(attrs, attribute.Int64(t.key, *t.v))
		}
	}
	if len(r.messages) > 0 {
		attrs = appendJSON(attrs, boundary.GenAIOutputMessages, r.messages)
	}
	return attrs
}

// toolCallEvents returns the attributes of one gen_ai.tool.call span event
// per tool call.
func (r *llmResult) toolCallEvents() [][]attribute.KeyValue {
	events := make([][]attribute.KeyValue, 0, len(r.toolCalls))
	for _, tc := range r.toolCalls {
		events = append(events, []attribute.KeyValue{
			attribute.String(boundary.GenAIToolName, tc.Name),
			attribute.String(boundary.GenAIToolCallID, tc.ID),
			attribute.String(boundary.GenAIToolCallArguments, tc.Arguments),
			attribute.String(boundary.GenAIToolType, "function"),
		})
	}
	return events
}

// parseLLMResponse reads a recognised API's response body: a JSON document,
// or, when stream is true, a text/event-stream. What it cannot read it
// leaves out; it never fails.
func parseLLMResponse(api llmAPI, body []byte, stream bool) *llmResult {
	r := &llmResult{}
	switch {
	case api == apiOpenAIChat && stream:
		r.openAIChatStream(parseSSE(body))
	case api == apiOpenAIChat:
		var resp oaChatResponse
		if json.Unmarshal(body, &resp) == nil {
			r.openAIChat(&resp)
		}
	case api == apiOpenAIResponses && stream:
		// The last event carrying the whole response (response.completed,
		// .incomplete or .failed) has what the non-streamed body has.
		var last json.RawMessage
		for _, ev := range parseSSE(body) {
			var e struct {
				Response json.RawMessage `json:"response"`
			}
			if json.Unmarshal(ev.Data, &e) == nil && len(e.Response) > 0 {
				last = e.Response
			}
		}
		var resp oaResponse
		if last != nil && json.Unmarshal(last, &resp) == nil {
			r.openAIResponses(&resp)
		}
	case api == apiOpenAIResponses:
		var resp oaResponse
		if json.Unmarshal(body, &resp) == nil {
			r.openAIResponses(&resp)
		}
	case api == apiAnthropicMessages && stream:
		r.anthropicStream(parseSSE(body))
	case api == apiAnthropicMessages:
		var msg anMessage
		if json.Unmarshal(body, &msg) == nil {
			r.anthropic(&msg)
		}
	}
	return r
}

// --- OpenAI Chat Completions ---

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

func (r *llmResult) openAIUsage(u *oaUsage) {
	if u == nil {
		return
	}
	r.input, r.output = u.PromptTokens, u.CompletionTokens
	if u.PromptTokensDetails != nil {
		r.cacheRead = u.PromptTokensDetails.CachedTokens
	}
}

func (r *llmResult) openAIChat(resp *oaChatResponse) {
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

// openAIChatStream accumulates chat.completion.chunk events as the SDK's
// accumulator does: content and tool-call arguments concatenated per
// choice and per tool-call index.
func (r *llmResult) openAIChatStream(events []sseEvent) {
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
		msg := genaiMessage{Role: cmp.Or(a.role, "assistant"), Parts: []genaiPart{}, FinishReason: semconvFinishReason(a.finish)}
		if a.content.Len() > 0 {
			msg.Parts = append(msg.Parts, genaiPart{Type: "text", Content: a.content.String()})
		}
		sort.Ints(a.order)
		for _, j := range a.order {
			tc := *a.calls[j]
			msg.Parts = append(msg.Parts, genaiPart{Type: "tool_call", ID: tc.ID, Name: tc.Name, Arguments: jsonOrString(tc.Arguments)})
			r.toolCalls = append(r.toolCalls, tc)
		}
		r.messages = append(r.messages, msg)
		if a.finish != "" {
			r.finishReasons = append(r.finishReasons, a.finish)
		}
	}
}

// openAIChatMessage converts one Chat Completions message.
func openAIChatMessage(m oaMessage) genaiMessage {
	msg := genaiMessage{Role: m.Role, Parts: []genaiPart{}}
	if m.Role == "tool" {
		msg.Parts = append(msg.Parts, genaiPart{Type: "tool_call_response", ID: m.ToolCallID, Response: textOf(m.Content)})
		return msg
	}
	msg.Parts = append(msg.Parts, contentParts(m.Content)...)
	if m.Refusal != "" {
		msg.Parts = append(msg.Parts, genaiPart{Type: "refusal", Content: m.Refusal})
	}
	for _, tc := range m.ToolCalls {
		msg.Parts = append(msg.Parts, genaiPart{Type: "tool_call", ID: tc.ID, Name: tc.Function.Name, Arguments: jsonOrString(tc.Function.Arguments)})
	}
	return msg
}

func openAIChatInput(raw json.RawMessage) []genaiMessage {
	var msgs []oaMessage
	if json.Unmarshal(raw, &msgs) != nil {
		return nil
	}
	out := make([]genaiMessage, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, openAIChatMessage(m))
	}
	return out
}

// --- OpenAI Responses ---

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

func (r *llmResult) openAIResponses(resp *oaResponse) {
	r.id, r.model = resp.ID, resp.Model
	if u := resp.Usage; u != nil {
		r.input, r.output = u.InputTokens, u.OutputTokens
		if u.InputTokensDetails != nil {
			r.cacheRead = u.InputTokensDetails.CachedTokens
		}
	}
	msg := genaiMessage{Role: "assistant", Parts: []genaiPart{}}
	for _, o := range resp.Output {
		switch o.Type {
		case "message":
			for _, c := range o.Content {
				switch c.Type {
				case "output_text":
					msg.Parts = append(msg.Parts, genaiPart{Type: "text", Content: c.Text})
				case "refusal":
					msg.Parts = append(msg.Parts, genaiPart{Type: "refusal", Content: c.Text})
				}
			}
		case "function_call":
			msg.Parts = append(msg.Parts, genaiPart{Type: "tool_call", ID: o.CallID, Name: o.Name, Arguments: jsonOrString(o.Arguments)})
			r.toolCalls = append(r.toolCalls, toolCall{ID: o.CallID, Name: o.Name, Arguments: o.Arguments})
		default:
			msg.Parts = append(msg.Parts, genaiPart{Type: o.Type})
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
	r.messages = []genaiMessage{msg}
}

func openAIResponsesInput(raw json.RawMessage) []genaiMessage {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []genaiMessage{{Role: "user", Parts: []genaiPart{{Type: "text", Content: s}}}}
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
	var out []genaiMessage
	for _, it := range items {
		switch {
		case it.Type == "function_call":
			out = append(out, genaiMessage{Role: "assistant", Parts: []genaiPart{{Type: "tool_call", ID: it.CallID, Name: it.Name, Arguments: jsonOrString(it.Arguments)}}})
		case it.Type == "function_call_output":
			out = append(out, genaiMessage{Role: "tool", Parts: []genaiPart{{Type: "tool_call_response", ID: it.CallID, Response: textOf(it.Output)}}})
		case it.Role != "":
			out = append(out, genaiMessage{Role: it.Role, Parts: contentParts(it.Content)})
		default:
			out = append(out, genaiMessage{Role: "user", Parts: []genaiPart{{Type: it.Type}}})
		}
	}
	return out
}

// --- Anthropic Messages ---

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

// anthropicUsage sets the token counts. gen_ai.usage.input_tokens counts
// every input token, cached ones included, as the conventions ask;
// Anthropic reports the cached ones apart.
func (r *llmResult) anthropicUsage(u *anUsage) {
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

func (r *llmResult) anthropic(msg *anMessage) {
	r.id, r.model = msg.ID, msg.Model
	r.anthropicUsage(msg.Usage)
	out := genaiMessage{Role: cmp.Or(msg.Role, "assistant"), Parts: anthropicParts(msg.Content), FinishReason: semconvFinishReason(msg.StopReason)}
	for _, b := range msg.Content {
		if b.Type == "tool_use" {
			r.toolCalls = append(r.toolCalls, toolCall{ID: b.ID, Name: b.Name, Arguments: string(b.Input)})
		}
	}
	if msg.StopReason != "" {
		r.finishReasons = []string{msg.StopReason}
	}
	r.messages = []genaiMessage{out}
}

// anthropicStream accumulates message stream events as the SDK's
// Message.Accumulate does.
func (r *llmResult) anthropicStream(events []sseEvent) {
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
	r.anthropic(&msg)
}

func anthropicParts(blocks []anBlock) []genaiPart {
	parts := []genaiPart{}
	for _, b := range blocks {
		switch b.Type {
		case "text":
			parts = append(parts, genaiPart{Type: "text", Content: b.Text})
		case "thinking":
			parts = append(parts, genaiPart{Type: "reasoning", Content: b.Thinking})
		case "tool_use":
			parts = append(parts, genaiPart{Type: "tool_call", ID: b.ID, Name: b.Name, Arguments: jsonOrString(string(b.Input))})
		case "tool_result":
			parts = append(parts, genaiPart{Type: "tool_call_response", ID: b.ToolUseID, Response: anthropicResultText(b.Content)})
		default:
			parts = append(parts, genaiPart{Type: b.Type})
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

func anthropicInput(raw json.RawMessage) []genaiMessage {
	var msgs []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if json.Unmarshal(raw, &msgs) != nil {
		return nil
	}
	out := make([]genaiMessage, 0, len(msgs))
	for _, m := range msgs {
		var s string
		if json.Unmarshal(m.Content, &s) == nil {
			out = append(out, genaiMessage{Role: m.Role, Parts: []genaiPart{{Type: "text", Content: s}}})
			continue
		}
		var blocks []anBlock
		_ = json.Unmarshal(m.Content, &blocks)
		role := m.Role
		if len(blocks) > 0 && allToolResults(blocks) {
			role = "tool"
		}
		out = append(out, genaiMessage{Role: role, Parts: anthropicParts(blocks)})
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

func anthropicSystem(raw json.RawMessage) []genaiPart {
	var s string
	if json.Unmarshal(raw, &s) == nil && s != "" {
		return []genaiPart{{Type: "text", Content: s}}
	}
	var blocks []anBlock
	if json.Unmarshal(raw, &blocks) != nil {
		return nil
	}
	var parts []genaiPart
	for _, b := range blocks {
		if b.Type == "text" {
			parts = append(parts, genaiPart{Type: "text", Content: b.Text})
		}
	}
	return parts
}

// --- shared ---

// contentParts converts OpenAI message content: a string, or an array of
// typed parts of which the text ones carry their text.
func contentParts(raw json.RawMessage) []genaiPart {
	if t := bytes.TrimSpace(raw); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return []genaiPart{}
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []genaiPart{{Type: "text", Content: s}}
	}
	var items []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &items) != nil {
		return []genaiPart{}
	}
	parts := make([]genaiPart, 0, len(items))
	for _, it := range items {
		switch it.Type {
		case "text", "input_text", "output_text":
			parts = append(parts, genaiPart{Type: "text", Content: it.Text})
		default:
			parts = append(parts, genaiPart{Type: it.Type})
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
