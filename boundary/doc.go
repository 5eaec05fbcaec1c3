// Package boundary defines the boundary span: the one OpenTelemetry span that
// agentrr makes each time an agent crosses a nondeterministic boundary (an LLM
// call, a tool call, a clock read, a random draw, a generated id, an HTTP
// exchange).
//
// It owns the attribute names, the canonical JSON form of payloads, the
// signature that replay validates, the payload hash that detects a payload cut
// by span limits, and the conversion between a stored OTLP span (pdata) and a
// [Record]. Every other package speaks of boundaries through this one, so the
// schema lives in exactly one place.
package boundary
