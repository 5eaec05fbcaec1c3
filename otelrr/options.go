package otelrr

import (
	"os"

	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/agentrr/agentrr/replayer"
)

type config struct {
	storeDir    string
	serviceName string
	res         *resource.Resource
	sampler     sdktrace.Sampler
	processors  []sdktrace.SpanProcessor
	limits      *sdktrace.SpanLimits

	replayID     string
	replayMode   replayer.Mode
	replayReport string
}

// Option configures NewTracerProvider.
type Option func(*config)

// WithStore sets the store directory. The default is $AGENTRR_STORE, else
// .agentrr in the working directory.
func WithStore(dir string) Option { return func(c *config) { c.storeDir = dir } }

// WithServiceName sets the service.name resource attribute (by default
// OTEL_SERVICE_NAME, else the executable's name).
func WithServiceName(name string) Option { return func(c *config) { c.serviceName = name } }

// WithResource merges res into the provider's resource.
func WithResource(res *resource.Resource) Option { return func(c *config) { c.res = res } }

// WithSampler sets the sampler for the agent's own spans. Boundary spans and
// run root spans are always recorded whatever it decides: a dropped boundary
// would make replay impossible. The default honours OTEL_TRACES_SAMPLER and
// is parentbased_always_on.
func WithSampler(s sdktrace.Sampler) Option { return func(c *config) { c.sampler = s } }

// WithSpanProcessor registers an additional span processor (for example a
// batch processor exporting to an OTLP backend). It sees every span; the
// durable processor runs first.
func WithSpanProcessor(p sdktrace.SpanProcessor) Option {
	return func(c *config) { c.processors = append(c.processors, p) }
}

// WithSpanLimits sets the span limits. By default they come from the
// OTEL_SPAN_* / OTEL_ATTRIBUTE_* environment variables, with no limit on
// attribute value length. A boundary payload cut by a limit is stored marked
// damaged, and the helper returns an error wrapping exporter.ErrPayloadCut.
func WithSpanLimits(l sdktrace.SpanLimits) Option { return func(c *config) { c.limits = &l } }

// WithReplay puts the provider into replay mode: the first run it starts
// replays the recorded run id (a trace id or unique prefix) from the store.
func WithReplay(id string, mode replayer.Mode) Option {
	return func(c *config) { c.replayID, c.replayMode = id, mode }
}

// WithReplayReport makes a replaying provider write the replay report, as
// JSON, to path (see replayer.WithReportFile).
func WithReplayReport(path string) Option { return func(c *config) { c.replayReport = path } }

// FromEnv reads the replay settings `agentrr replay` passes to the agent
// process: AGENTRR_REPLAY (the run to replay), AGENTRR_REPLAY_MODE and
// AGENTRR_REPLAY_REPORT. With none set it changes nothing, so an agent built
// with FromEnv records normally and replays under `agentrr replay`. Options
// after FromEnv override what it read.
func FromEnv() Option {
	return func(c *config) {
		if id := os.Getenv(EnvReplay); id != "" {
			c.replayID = id
			c.replayMode = replayer.Mode(os.Getenv(EnvReplayMode))
		}
		if p := os.Getenv(EnvReplayReport); p != "" {
			c.replayReport = p
		}
	}
}
