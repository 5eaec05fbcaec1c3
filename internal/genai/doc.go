// Package genai maps the wire APIs of LLM providers onto the OpenTelemetry
// GenAI semantic conventions (semconv 1.41 names): it recognises an HTTP
// request as one of the APIs agentrr knows (OpenAI Chat Completions, OpenAI
// Responses, Anthropic Messages), and reads a request or response body,
// JSON or streamed, into gen_ai.* span attributes and gen_ai.tool.call
// event attributes.
//
// Everything that records an HTTP exchange as an llm boundary (otelrr's
// transport, and a recording proxy) goes through this package, so that the
// same exchange carries the same attributes whichever recorded it. The
// attributes describe a boundary; they are not what replay compares (that
// is the request and its signature). Parsing never fails: what a body does
// not say, or says in a shape the package does not know, is left out.
//
// One file per wire API: openai_chat.go, openai_responses.go and
// anthropic.go; openai.go holds what both OpenAI APIs share, semconv.go
// the conventions' message schema.
package genai
