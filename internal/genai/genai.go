package genai

import (
	"encoding/json"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"

	"github.com/agentrr/agentrr/boundary"
)

// API is an LLM wire API that requests are recognised as.
type API int

// The recognised APIs. None is every other request.
const (
	None              API = iota
	OpenAIChat            // POST …/chat/completions
	OpenAIResponses       // POST …/responses
	AnthropicMessages     // POST …/v1/messages
)

// Operation is the gen_ai.operation.name of an exchange with any of the
// recognised APIs; the span of such a boundary is named "chat {model}".
const Operation = "chat"

// Recognise says which API a request is for, from its method and path
// only (not its host, so that OpenAI-compatible servers and local fakes
// are recognised too).
func Recognise(method, path string) API {
	if method != http.MethodPost {
		return None
	}
	switch {
	case strings.HasSuffix(path, "/chat/completions"):
		return OpenAIChat
	case strings.HasSuffix(path, "/responses"):
		return OpenAIResponses
	case strings.HasSuffix(path, "/v1/messages"):
		return AnthropicMessages
	}
	return None
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

// ProviderName is the gen_ai.provider.name of an exchange with api at
// host: the well-known provider behind host, else the wire API's own
// provider.
func ProviderName(api API, host string) string {
	host = strings.ToLower(host)
	if p, ok := providerHosts[host]; ok {
		return p
	}
	if strings.HasSuffix(host, ".openai.azure.com") {
		return "azure.ai.openai"
	}
	if api == AnthropicMessages {
		return "anthropic"
	}
	return "openai"
}

// Request is what a recognised request body says.
type Request struct {
	// Model is the request's model: the name of its llm boundary.
	Model string
	// Attributes are gen_ai.request.model, the request parameters that are
	// set, gen_ai.system_instructions and gen_ai.input.messages.
	Attributes []attribute.KeyValue
}

// ParseRequest reads the model, the request parameters and the input
// messages of a request body for api. ok is false when the body is not a
// JSON object with a model: the exchange is then a plain http boundary.
func ParseRequest(api API, body []byte) (req Request, ok bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return req, false
	}
	var model string
	if err := json.Unmarshal(m["model"], &model); err != nil || model == "" {
		return req, false
	}
	f := &fields{m: m, attrs: []attribute.KeyValue{attribute.String(boundary.GenAIRequestModel, model)}}
	f.float("temperature", boundary.GenAIRequestTemperature)
	f.float("top_p", boundary.GenAIRequestTopP)
	switch api {
	case OpenAIChat:
		openAIChatRequest(f)
	case OpenAIResponses:
		openAIResponsesRequest(f)
	case AnthropicMessages:
		anthropicRequest(f)
	}
	return Request{Model: model, Attributes: f.attrs}, true
}

// fields reads the top-level members of a request body into attributes.
type fields struct {
	m     map[string]json.RawMessage
	attrs []attribute.KeyValue
}

// float sets key to the number in field, when there is one.
func (f *fields) float(field, key string) {
	var v float64
	if raw, ok := f.m[field]; ok && json.Unmarshal(raw, &v) == nil {
		f.attrs = append(f.attrs, attribute.Float64(key, v))
	}
}

// integer sets key to the integer in field, reporting whether there was one.
func (f *fields) integer(field, key string) bool {
	var n int64
	if raw, ok := f.m[field]; ok && json.Unmarshal(raw, &n) == nil {
		f.attrs = append(f.attrs, attribute.Int64(key, n))
		return true
	}
	return false
}

// stringList sets key to the string or strings in field, when there are any.
func (f *fields) stringList(field, key string) {
	if list := stringList(f.m[field]); len(list) > 0 {
		f.attrs = append(f.attrs, attribute.StringSlice(key, list))
	}
}

// Result is what a recognised response body says.
type Result struct {
	id, model     string
	finishReasons []string
	input, output *int64
	cacheRead     *int64
	cacheCreation *int64
	messages      []Message
	toolCalls     []toolCall
}

// toolCall is one tool call the model requested.
type toolCall struct {
	ID, Name, Arguments string
}

// ParseResponse reads api's response body: a JSON document, or, when
// stream is true, a text/event-stream, accumulated as the provider's SDK
// accumulates it. What it cannot read it leaves out; it never fails and
// never returns nil.
func ParseResponse(api API, body []byte, stream bool) *Result {
	r := &Result{}
	switch api {
	case OpenAIChat:
		r.openAIChat(body, stream)
	case OpenAIResponses:
		r.openAIResponses(body, stream)
	case AnthropicMessages:
		r.anthropic(body, stream)
	}
	return r
}

// Attributes returns the response attributes of the conventions:
// gen_ai.response.id, .model and .finish_reasons, the gen_ai.usage.*
// token counts, and gen_ai.output.messages, each when the response has it.
func (r *Result) Attributes() []attribute.KeyValue {
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

// ToolCallEvents returns the attributes of one gen_ai.tool.call span event
// (boundary.EventGenAIToolCall) per tool call the model requested, in
// order: gen_ai.tool.name, .call.id, .call.arguments (as the model sent
// them) and gen_ai.tool.type.
func (r *Result) ToolCallEvents() [][]attribute.KeyValue {
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
