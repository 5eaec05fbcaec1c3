package otelrr

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentrr/agentrr/exporter"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// ScopeName is the instrumentation scope of the spans otelrr makes.
const ScopeName = "github.com/agentrr/agentrr/otelrr"

// TracerProvider is an OpenTelemetry SDK tracer provider wired with
// agentrr's durable processor. It can be used anywhere a
// trace.TracerProvider is expected; runs are started with StartRun.
type TracerProvider struct {
	*sdktrace.TracerProvider

	store   *spanlog.Store
	proc    *exporter.Processor
	tracer  trace.Tracer
	res     *resource.Resource
	session *replayer.Session // replay from options/env; nil when recording
	redact  *redactor         // WithRedaction, AGENTRR_REDACT_KEYS; nil: none
}

// NewTracerProvider returns a provider recording into the store (see
// WithStore) and, with WithReplay or FromEnv under `agentrr replay`,
// replaying. Call Shutdown when done.
func NewTracerProvider(ctx context.Context, opts ...Option) (*TracerProvider, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.envErr != nil {
		return nil, fmt.Errorf("otelrr: %w", cfg.envErr)
	}
	store, err := spanlog.Open(spanlog.Dir(cfg.storeDir))
	if err != nil {
		return nil, fmt.Errorf("otelrr: %w", err)
	}

	res, err := buildResource(ctx, cfg)
	if err != nil {
		return nil, err
	}
	sampler := cfg.sampler
	if sampler == nil {
		if sampler, err = samplerFromEnv(); err != nil {
			return nil, fmt.Errorf("otelrr: %w", err)
		}
	}
	limits := sdktrace.NewSpanLimits()
	if cfg.limits != nil {
		limits = *cfg.limits
	}

	tp := &TracerProvider{store: store, proc: exporter.NewProcessor(exporter.WithAttributeValueLengthLimit(limits.AttributeValueLengthLimit)), res: res}
	if tp.redact, err = newRedactor(cfg.redaction); err != nil {
		return nil, err
	}
	if cfg.replayID != "" {
		mode, err := replayer.ParseMode(string(cfg.replayMode))
		if err != nil {
			return nil, fmt.Errorf("otelrr: %w", err)
		}
		rec, err := loadReplay(store, cfg)
		if err != nil {
			return nil, fmt.Errorf("otelrr: replay %s: %w", cfg.replayID, err)
		}
		tp.session = replayer.NewSession(rec, cfg.sessionOptions(mode)...)
	}
	if cfg.forward != nil {
		fwd, err := newForwarder(ctx, cfg.forward)
		if err != nil {
			return nil, err
		}
		tp.proc.SetForwarder(fwd)
	}

	popts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(boundarySampler{inner: sampler}),
		sdktrace.WithRawSpanLimits(limits),
		sdktrace.WithSpanProcessor(tp.proc),
	}
	for _, p := range cfg.processors {
		popts = append(popts, sdktrace.WithSpanProcessor(p))
	}
	tp.TracerProvider = sdktrace.NewTracerProvider(popts...)
	tp.tracer = tp.Tracer(ScopeName)
	return tp, nil
}

func buildResource(ctx context.Context, cfg config) (*resource.Resource, error) {
	attrs := buildAttributes()
	if cfg.serviceName != "" {
		attrs = append(attrs, semconv.ServiceName(cfg.serviceName))
	} else if os.Getenv("OTEL_SERVICE_NAME") == "" {
		if exe, err := os.Executable(); err == nil {
			attrs = append(attrs, semconv.ServiceName(filepath.Base(exe)))
		}
	}
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		// Not WithProcess: command-line arguments can carry secrets.
		resource.WithProcessPID(),
		resource.WithProcessExecutableName(),
		resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(),
		resource.WithHost(),
		resource.WithFromEnv(),
		resource.WithAttributes(attrs...),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("otelrr: resource: %w", err)
	}
	if cfg.serviceName != "" {
		// An explicit option wins over OTEL_SERVICE_NAME.
		res, err = resource.Merge(res, resource.NewSchemaless(semconv.ServiceName(cfg.serviceName)))
		if err != nil {
			return nil, fmt.Errorf("otelrr: resource: %w", err)
		}
	}
	if cfg.res != nil {
		if res, err = resource.Merge(res, cfg.res); err != nil {
			return nil, fmt.Errorf("otelrr: resource: %w", err)
		}
	}
	return res, nil
}

// Store returns the store the provider records into.
func (tp *TracerProvider) Store() *spanlog.Store { return tp.store }

// Replaying reports whether the provider was put into replay mode by
// WithReplay or FromEnv.
func (tp *TracerProvider) Replaying() bool { return tp.session != nil }

func resourceStrings(res *resource.Resource) map[string]string {
	out := make(map[string]string, res.Len())
	for _, kv := range res.Attributes() {
		out[string(kv.Key)] = kv.Value.String()
	}
	return out
}

func serviceName(res *resource.Resource) string {
	v, _ := res.Set().Value(attribute.Key("service.name"))
	return v.AsString()
}
