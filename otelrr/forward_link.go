package otelrr

import (
	"encoding/hex"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/replaylink"
)

// replayLink is the span link from a replayed run's root span to the run it
// replays. It points at the original run's root span when the recording
// tells it (the parent of its first boundary), else at its first boundary;
// it carries agentrr.replay_of either way (the SDK keeps a link with
// attributes even when its span id is unknown).
func replayLink(rec replaylink.Original) trace.Link {
	var tid trace.TraceID
	if rec.First != nil {
		tid = trace.TraceID(rec.First.TraceID)
	} else {
		hex.Decode(tid[:], []byte(rec.ID))
	}
	var sid trace.SpanID
	if r := rec.First; r != nil {
		sid = trace.SpanID(r.ParentSpanID)
		if !sid.IsValid() {
			sid = trace.SpanID(r.SpanID)
		}
	}
	return trace.Link{
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true}),
		Attributes:  []attribute.KeyValue{attribute.String(boundary.AttrReplayOf, rec.ID)},
	}
}
