package otelrr

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/agentrr/agentrr/internal/handshake"
	"github.com/agentrr/agentrr/replayer"
)

type config struct {
	storeDir    string
	serviceName string
	res         *resource.Resource
	sampler     sdktrace.Sampler
	processors  []sdktrace.SpanProcessor
	limits      *sdktrace.SpanLimits

	// replay and replayOpts are WithReplay's.
	replay     *replayer.Recording
	replayOpts []replayer.Option
	// The replay settings FromEnv read (see handshake): the run to replay
	// (a run id, and an OTLP JSON file holding it when it is not in the
	// store), the mode, the report file, --until-seq, the step socket and
	// the chaos seed.
	replayID     string
	replayMode   replayer.Mode
	replayReport string
	replayUntil  *int64
	replayStep   string
	replayChaos  *uint64
	replayFile   string
	// replayFork holds the fork options FromEnv read.
	replayFork []replayer.Option
	// forward, when set, forwards every span over OTLP (WithForwarding).
	forward *forwardConfig
	// redaction holds the WithRedaction rules (see redact.go).
	redaction []RedactRule
	// envErr is a malformed replay setting read by FromEnv; NewTracerProvider
	// returns it.
	envErr error
	// errors holds the WithError sentinels.
	errors *errorNames
	// providerOnly names the options given that only NewTracerProvider
	// takes (NewRecorder refuses them).
	providerOnly []string
}

// provider marks an option as one that configures the tracer provider.
func (c *config) provider(name string) { c.providerOnly = append(c.providerOnly, name) }

// Option configures NewTracerProvider.
type Option func(*config)

// WithStore sets the store directory. The default is $AGENTRR_STORE, else
// .agentrr in the working directory.
func WithStore(dir string) Option { return func(c *config) { c.storeDir = dir } }

// WithServiceName sets the service.name resource attribute (by default
// OTEL_SERVICE_NAME, else the executable's name).
func WithServiceName(name string) Option {
	return func(c *config) { c.serviceName = name; c.provider("WithServiceName") }
}

// WithResource merges res into the provider's resource.
func WithResource(res *resource.Resource) Option {
	return func(c *config) { c.res = res; c.provider("WithResource") }
}

// WithSampler sets the sampler for the agent's own spans. Boundary spans and
// run root spans are always recorded whatever it decides: a dropped boundary
// would make replay impossible. The default honours OTEL_TRACES_SAMPLER and
// is parentbased_always_on.
func WithSampler(s sdktrace.Sampler) Option {
	return func(c *config) { c.sampler = s; c.provider("WithSampler") }
}

// WithSpanProcessor registers an additional span processor (for example a
// batch processor exporting to an OTLP backend). It sees every span; the
// durable processor runs first.
func WithSpanProcessor(p sdktrace.SpanProcessor) Option {
	return func(c *config) { c.processors = append(c.processors, p); c.provider("WithSpanProcessor") }
}

// WithSpanLimits sets the span limits. By default they come from the
// OTEL_SPAN_* / OTEL_ATTRIBUTE_* environment variables, with no limit on
// attribute value length. A boundary payload cut by a limit is stored marked
// damaged, and the helper returns an error wrapping exporter.ErrPayloadCut.
func WithSpanLimits(l sdktrace.SpanLimits) Option {
	return func(c *config) { c.limits = &l; c.provider("WithSpanLimits") }
}

// WithReplay puts the recorder (or provider) into replay mode: the first
// run it starts replays rec (loaded with replayer.Load from a store, or
// replayer.LoadOTLPJSON from a file) with opts, instead of recording a
// fresh run. replayer.Replay does the same for one function's run, from
// its context; FromEnv does it from the settings `agentrr replay` passes.
func WithReplay(rec *replayer.Recording, opts ...replayer.Option) Option {
	return func(c *config) { c.replay, c.replayOpts = rec, opts }
}

// FromEnv reads the replay settings `agentrr replay` and `agentrr step` pass
// to the agent process: AGENTRR_REPLAY (the run to replay),
// AGENTRR_REPLAY_MODE, AGENTRR_REPLAY_REPORT, AGENTRR_REPLAY_UNTIL,
// AGENTRR_REPLAY_CHAOS,
// AGENTRR_REPLAY_STEP and AGENTRR_REPLAY_FILE. With none set it changes
// nothing, so an agent built with FromEnv records normally and replays under
// `agentrr replay`. Options after FromEnv override what it read; a malformed
// value makes NewTracerProvider fail.
//
// With NewTracerProvider, FromEnv also turns forwarding on (WithForwarding with its defaults) when
// the standard OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT variable is set, unless
// OTEL_TRACES_EXPORTER=none; OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf or
// grpc) and OTEL_EXPORTER_OTLP_HEADERS apply, and
// AGENTRR_FORWARD_PAYLOAD_LIMIT sets the payload limit.
func FromEnv() Option {
	return func(c *config) {
		if id := os.Getenv(handshake.EnvReplay); id != "" {
			c.replayID = id
			c.replayMode = replayer.Mode(os.Getenv(handshake.EnvReplayMode))
		}
		if p := os.Getenv(handshake.EnvReplayReport); p != "" {
			c.replayReport = p
		}
		if n, err := envSeq(handshake.EnvReplayUntil); err != nil {
			c.envErr = err
		} else if n != nil {
			c.replayUntil = n
		}
		if p := os.Getenv(handshake.EnvReplayStep); p != "" {
			c.replayStep = p
		}
		if v := os.Getenv(handshake.EnvReplayChaos); v != "" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				c.envErr = fmt.Errorf("%s=%q: want a chaos seed (an unsigned integer)", handshake.EnvReplayChaos, v)
			} else {
				c.replayChaos = &n
			}
		}
		if opts, err := forkFromEnv(); err != nil {
			c.envErr = err
		} else {
			c.replayFork = opts
		}
		if p := os.Getenv(handshake.EnvReplayFile); p != "" {
			c.replayFile = p
		}
		if c.forward == nil {
			c.forward = forwardFromEnv()
		}
	}
}

// sessionOptions are the replayer options the replay settings ask for.
func (c *config) sessionOptions(mode replayer.Mode) []replayer.Option {
	opts := []replayer.Option{replayer.WithMode(mode)}
	if c.replayReport != "" {
		opts = append(opts, replayer.WithReportFile(c.replayReport))
	}
	if c.replayUntil != nil {
		opts = append(opts, replayer.WithUntilSeq(*c.replayUntil))
	}
	if c.replayStep != "" {
		opts = append(opts, replayer.WithStepper(socketStepper(c.replayStep)))
	}
	if c.replayChaos != nil {
		opts = append(opts, replayer.WithChaos(*c.replayChaos))
	}
	opts = append(opts, c.replayFork...)
	return opts
}

// envSeq reads the boundary seq set in the environment variable name; nil
// when it is not set.
func envSeq(name string) (*int64, error) {
	v := os.Getenv(name)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: want a boundary seq (an integer)", name, v)
	}
	return &n, nil
}

// forkFromEnv reads the fork settings `agentrr fork` and `agentrr replay
// --continue-live` pass (see handshake).
func forkFromEnv() ([]replayer.Option, error) {
	var opts []replayer.Option
	at, err := envSeq(handshake.EnvReplayForkAt)
	if err != nil {
		return nil, err
	}
	if at != nil {
		opts = append(opts, replayer.ForkAt(*at))
	}
	if os.Getenv(handshake.EnvReplayContinueLive) == "1" {
		opts = append(opts, replayer.ContinueLive())
	}
	if p := os.Getenv(handshake.EnvReplayOverrides); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", handshake.EnvReplayOverrides, err)
		}
		var overrides map[int64]replayer.Override
		if err := json.Unmarshal(b, &overrides); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", handshake.EnvReplayOverrides, p, err)
		}
		for seq, o := range overrides {
			opts = append(opts, replayer.WithOverride(seq, o))
		}
	}
	switch v := os.Getenv(handshake.EnvReplayLiveTools); v {
	case "":
	case "*":
		opts = append(opts, replayer.AllLiveTools())
	default:
		opts = append(opts, replayer.LiveTools(strings.Split(v, ",")...))
	}
	return opts, nil
}
