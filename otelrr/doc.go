// Package otelrr is what an agent author imports to make an agent
// recordable and replayable.
//
// [NewTracerProvider] returns an OpenTelemetry tracer provider (usable with
// otel.SetTracerProvider and any existing instrumentation) wired with
// agentrr's durable span processor. [TracerProvider.StartRun] starts a run:
// a root span whose trace id is the run id. Inside a run, the boundary
// helpers — [LLM], [Tool], [Now], [Rand], [Intn], [Float64], [NewID] — each
// make exactly one boundary span carrying the full request and response, and
// return only once that span is durably stored. [Transport], [HTTPClient]
// and [Middleware] do the same for every HTTP exchange of an LLM SDK
// (openai-go, anthropic-sdk-go, or anything that takes an *http.Client),
// streams included. [Call] makes a boundary whose kind, name and span the
// caller chooses, for integrations of other protocols (otelrr/mcprr records
// MCP sessions). [WithForwarding] (or the OTEL_EXPORTER_OTLP_* variables
// with [FromEnv]) sends the same spans to an OTLP backend such as Jaeger.
//
// The same agent binary replays without code changes: with [FromEnv], the
// environment set by `agentrr replay` puts the provider into replay mode, and
// the helpers then serve the recorded answers in order (never calling the
// real LLM or tool) and report divergences as *replayer.DivergenceError.
// [replayer.Replay] does the same in-process, from a go test.
//
// Values passed to and returned from the helpers must round-trip through
// encoding/json: requests are stored as canonical JSON (the signature is
// computed over it) and responses are served back by decoding the stored
// JSON. In record mode the helpers also return the decoded copy, so what an
// agent sees while recording is exactly what it will see on replay.
package otelrr
