package otelrr

import (
	"runtime/debug"

	"go.opentelemetry.io/otel/attribute"
)

// Resource attributes naming the agent's build, so a replay can tell whether
// the code changed since the recording.
const (
	AttrBuildModule   = "agentrr.build.module"
	AttrBuildVersion  = "agentrr.build.version"
	AttrBuildRevision = "agentrr.build.vcs.revision"
	AttrBuildModified = "agentrr.build.vcs.modified"
	AttrBuildGo       = "agentrr.build.go"
)

func buildAttributes() []attribute.KeyValue {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	attrs := []attribute.KeyValue{
		attribute.String(AttrBuildModule, bi.Main.Path),
		attribute.String(AttrBuildVersion, bi.Main.Version),
		attribute.String(AttrBuildGo, bi.GoVersion),
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			attrs = append(attrs, attribute.String(AttrBuildRevision, s.Value))
		case "vcs.modified":
			attrs = append(attrs, attribute.Bool(AttrBuildModified, s.Value == "true"))
		}
	}
	return attrs
}
