package otelrr

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/agentrr/agentrr/spanlog"
)

// ScopeName is the instrumentation scope of the spans otelrr makes.
const ScopeName = "github.com/agentrr/agentrr/otelrr"

// TracerProvider is an OpenTelemetry SDK tracer provider wired with a
// Recorder (first among its span processors), the Sampler that keeps every
// boundary, and optional forwarding to an OTLP backend: the convenience for
// a program with no OpenTelemetry setup of its own. It can be used anywhere
// a trace.TracerProvider is expected; runs are started with StartRun.
type TracerProvider struct {
	*sdktrace.TracerProvider

	rec *Recorder
	res *resource.Resource
}

// NewTracerProvider returns a provider recording into the store (see
// WithStore) and, with WithReplay or FromEnv under `agentrr replay`,
// replaying. Call Shutdown when done.
func NewTracerProvider(ctx context.Context, opts ...Option) (*TracerProvider, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	limits := sdktrace.NewSpanLimits()
	if cfg.limits != nil {
		limits = *cfg.limits
	}
	rec, err := newRecorder(cfg, &limits)
	if err != nil {
		return nil, err
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
	popts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(Sampler(sampler)),
		sdktrace.WithRawSpanLimits(limits),
		sdktrace.WithSpanProcessor(rec),
	}
	if cfg.forward != nil {
		fwd, err := newForwarder(ctx, cfg.forward)
		if err != nil {
			return nil, err
		}
		popts = append(popts, sdktrace.WithSpanProcessor(fwd))
	}
	for _, p := range cfg.processors {
		popts = append(popts, sdktrace.WithSpanProcessor(p))
	}
	return &TracerProvider{TracerProvider: sdktrace.NewTracerProvider(popts...), rec: rec, res: res}, nil
}

// Recorder returns the provider's Recorder.
func (tp *TracerProvider) Recorder() *Recorder { return tp.rec }

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
func (tp *TracerProvider) Store() *spanlog.Store { return tp.rec.Store() }

// Replaying reports whether the provider was put into replay mode by
// WithReplay or FromEnv.
func (tp *TracerProvider) Replaying() bool { return tp.rec.Replaying() }

// Forking reports whether the provider replays a fork (see
// Recorder.Forking).
func (tp *TracerProvider) Forking() bool { return tp.rec.Forking() }
