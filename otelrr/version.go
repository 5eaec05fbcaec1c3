package otelrr

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/replayer"
)

// DefaultVersion is the version Version returns, on replay, for a
// recording made before the change it marks existed.
const DefaultVersion = replayer.DefaultVersion

// Version marks an intentional change to the agent, named changeID, that
// the agent supports from version minSupported to maxSupported, and returns
// the version this run takes: recording, maxSupported, recorded as a
// version boundary; replaying, the version the recording took — and, for a
// recording made before the marker existed, DefaultVersion, without using
// any recorded boundary, so that old recordings keep replaying faithfully
// after the change:
//
//	v, err := otelrr.Version(ctx, "terse-prompt", otelrr.DefaultVersion, 1)
//	if err != nil { … }
//	prompt := helpfulPrompt
//	if v >= 1 {
//		prompt = tersePrompt
//	}
//
// A recording whose version is older than minSupported no longer replays:
// the marker is a divergence saying the recording predates the oldest
// supported version of the change (raise minSupported once old recordings
// are retired). maxSupported must be at least 0 and minSupported at most
// maxSupported. This is Temporal's GetVersion, for agents.
func Version(ctx context.Context, changeID string, minSupported, maxSupported int) (int, error) {
	if changeID == "" || maxSupported < 0 || minSupported > maxSupported || minSupported < DefaultVersion {
		return 0, fmt.Errorf("otelrr: Version(%q, %d, %d): want a change id, 0 <= maxSupported and DefaultVersion <= minSupported <= maxSupported", changeID, minSupported, maxSupported)
	}
	return call(ctx, spec{
		kind:       boundary.KindVersion,
		name:       changeID,
		spanName:   "version " + changeID,
		spanKind:   trace.SpanKindInternal,
		attrs:      []attribute.KeyValue{attribute.Int("agentrr.version.min", minSupported), attribute.Int("agentrr.version.max", maxSupported)},
		minVersion: minSupported,
	}, map[string]string{"change": changeID}, func(context.Context) (int, error) { return maxSupported, nil })
}
