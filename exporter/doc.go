// Package exporter holds agentrr's durable span processor: an
// sdktrace.SpanProcessor whose OnEnd encodes each boundary span as OTLP
// protobuf and commits it to the run's spanlog with a synced write, on the
// goroutine that ended the span, before span.End returns.
//
// OnEnd cannot return an error, so the outcome of each write (its seq, or
// the error) is handed back through the [Run] the span belongs to: the
// boundary helper that ended the span takes it with [Run.Take] and, on
// error, returns the error to the agent instead of a result that is not on
// disk (fail-stop).
package exporter
