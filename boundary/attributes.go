package boundary

// Attribute keys of a boundary span. They are part of the stored format and
// of what is forwarded to OTLP backends: renaming one is a format change.
const (
	// AttrKind is the boundary kind: llm, tool, clock, rand, id, http or mcp.
	AttrKind = "agentrr.kind"
	// AttrSeq is the position of the boundary in its run's completion order:
	// 0, 1, 2, … with no gaps. It is what a crash leaves a prefix of, and how
	// show and Jaeger order a run; replay matches by branch and index.
	AttrSeq = "agentrr.seq"
	// AttrBranch is the path of the branch that made the boundary (see
	// ChildBranch); absent on the root branch.
	AttrBranch = "agentrr.branch"
	// AttrBranchIndex is the position of the boundary in its branch: 0, 1,
	// 2, … with no gaps. Absent in recordings made before branches existed,
	// which are one root branch whose index is the seq.
	AttrBranchIndex = "agentrr.branch.index"
	// AttrConcurrent is set on boundaries that were in flight at the same
	// time as another boundary of the same branch (goroutines sharing one
	// branch's context): the boundaries in flight together, directly or
	// through each other, form a concurrency group, and every member but
	// the first carries the branch index of the first. A group's indices
	// are contiguous; replay matches its members among themselves by exact
	// kind, name and signature.
	AttrConcurrent = "agentrr.concurrent"
	// AttrName is the model, tool name, clock/rand operation or HTTP method+path.
	AttrName = "agentrr.name"
	// AttrRequest is the canonical JSON request.
	AttrRequest = "agentrr.request"
	// AttrResponse is the canonical JSON response (absent when the call failed).
	AttrResponse = "agentrr.response"
	// AttrError is the error text when the call failed.
	AttrError = "agentrr.error"
	// AttrErrorIs names the sentinel errors a failed call's error matched
	// (errors.Is) when it was recorded, so that replay returns an error
	// matching the same ones; AttrErrorTimeout is true when it was a
	// timeout. A failed boundary recorded by this version always carries
	// AttrErrorIs, empty when the error matched nothing.
	AttrErrorIs      = "agentrr.error.is"
	AttrErrorTimeout = "agentrr.error.timeout"
	// AttrSignature is the hex SHA-256 of kind, name and canonical request.
	AttrSignature = "agentrr.signature"
	// AttrPayloadHash is the hex SHA-256 over request, response and error, so
	// any change to a stored payload is detected.
	AttrPayloadHash = "agentrr.payload.sha256"
	// AttrRequestLength and AttrResponseLength are the payload lengths in bytes,
	// so a payload cut by OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT is told apart from
	// other damage and named as such.
	AttrRequestLength  = "agentrr.request.length"
	AttrResponseLength = "agentrr.response.length"
	// AttrDamage is set by the recorder when it stored a span it knows is not
	// whole (for example a payload cut by span limits). Such a boundary is never
	// replayed.
	AttrDamage = "agentrr.damage"
)

// OpenTelemetry GenAI semantic-convention attribute keys set on llm and tool
// boundaries, so GenAI-aware backends show them natively.
const (
	GenAIOperationName = "gen_ai.operation.name"
	GenAIProviderName  = "gen_ai.provider.name"
	GenAIRequestModel  = "gen_ai.request.model"
	GenAIResponseModel = "gen_ai.response.model"
	GenAIInputTokens   = "gen_ai.usage.input_tokens"
	GenAIOutputTokens  = "gen_ai.usage.output_tokens"
	GenAIToolName      = "gen_ai.tool.name"
	GenAIToolCallID    = "gen_ai.tool.call.id"
)

// More OpenTelemetry GenAI semantic-convention keys (semconv v1.41), set on
// the llm boundaries the HTTP transport recognises (see otelrr.Transport).
const (
	GenAIResponseID               = "gen_ai.response.id"
	GenAIResponseFinishReasons    = "gen_ai.response.finish_reasons"
	GenAIRequestTemperature       = "gen_ai.request.temperature"
	GenAIRequestMaxTokens         = "gen_ai.request.max_tokens"
	GenAIRequestTopP              = "gen_ai.request.top_p"
	GenAIRequestTopK              = "gen_ai.request.top_k"
	GenAIRequestStopSequences     = "gen_ai.request.stop_sequences"
	GenAIRequestFrequencyPenalty  = "gen_ai.request.frequency_penalty"
	GenAIRequestPresencePenalty   = "gen_ai.request.presence_penalty"
	GenAIRequestSeed              = "gen_ai.request.seed"
	GenAIRequestChoiceCount       = "gen_ai.request.choice.count"
	GenAIInputMessages            = "gen_ai.input.messages"
	GenAIOutputMessages           = "gen_ai.output.messages"
	GenAISystemInstructions       = "gen_ai.system_instructions"
	GenAIUsageCacheReadTokens     = "gen_ai.usage.cache_read.input_tokens"
	GenAIUsageCacheCreationTokens = "gen_ai.usage.cache_creation.input_tokens"
	GenAIToolType                 = "gen_ai.tool.type"
	GenAIToolCallArguments        = "gen_ai.tool.call.arguments"
	// EventGenAIToolCall names the span event added to an llm boundary for
	// each tool call the model requested (attributes gen_ai.tool.name,
	// gen_ai.tool.call.id, gen_ai.tool.call.arguments, gen_ai.tool.type).
	EventGenAIToolCall = "gen_ai.tool.call"
)

// Attributes of the boundaries made by the HTTP transport (otelrr.Transport).
// None of them is part of the signature or the payload hash: they describe,
// they are not replayed.
const (
	// AttrHTTPStream is true on a boundary whose response body was recorded
	// as it streamed, chunk by chunk.
	AttrHTTPStream = "agentrr.http.stream"
	// AttrHTTPStreamOpenedAt is, on a streamed boundary, the index the next
	// boundary of its branch would have had when the request was sent (in
	// recordings made before branches: the run's next seq, the same thing).
	// A stream is stored when it ends, so boundaries the branch made while
	// it was open come before it; replay finds the stream by this position
	// and matches it when it ends, as recorded.
	AttrHTTPStreamOpenedAt = "agentrr.http.stream.opened_at"
	// AttrHTTPConnectFailed is true on a failed exchange whose connection
	// attempt never got a connection (nothing was sent). Replay reports the
	// same connection attempt to the request's httptrace hooks, which SDKs
	// use to decide whether a retry is safe.
	AttrHTTPConnectFailed = "agentrr.http.connect_failed"
	// AttrHTTPRetryWaitSkipped is set on a replayed boundary whose
	// retry-wait headers (Retry-After, Retry-After-Ms) were served as
	// Retry-After-Ms: 0 because the recording shows the client retried
	// the request next; the value is the recorded headers.
	AttrHTTPRetryWaitSkipped = "agentrr.http.retry_wait_skipped"
)
