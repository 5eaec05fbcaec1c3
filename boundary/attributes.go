package boundary

// Attribute keys of a boundary span. They are part of the stored format and
// of what is forwarded to OTLP backends: renaming one is a format change.
const (
	// AttrKind is the boundary kind: llm, tool, clock, rand, id or http.
	AttrKind = "agentrr.kind"
	// AttrSeq is the position of the boundary in its run: 0, 1, 2, … with no gaps.
	AttrSeq = "agentrr.seq"
	// AttrName is the model, tool name, clock/rand operation or HTTP method+path.
	AttrName = "agentrr.name"
	// AttrRequest is the canonical JSON request.
	AttrRequest = "agentrr.request"
	// AttrResponse is the canonical JSON response (absent when the call failed).
	AttrResponse = "agentrr.response"
	// AttrError is the error text when the call failed.
	AttrError = "agentrr.error"
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

	// AttrRun marks the run root span; its value is the run name.
	AttrRun = "agentrr.run"
	// AttrReplayOf is set on the root span of a replayed run: the trace id of
	// the recording it replays.
	AttrReplayOf = "agentrr.replay_of"
	// AttrReplayMode is strict or observe, on the root span of a replayed run.
	AttrReplayMode = "agentrr.replay.mode"
	// AttrReplayVerdict is faithful or diverged, on the root span of a replayed run.
	AttrReplayVerdict = "agentrr.replay.verdict"
	// AttrDivergence is set on a replayed boundary span that diverged: the reason.
	AttrDivergence = "agentrr.divergence"
	// AttrBoundaries is the number of boundaries of the run, on the root span.
	AttrBoundaries = "agentrr.boundaries"
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
