package otelrr

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/agentrr/agentrr/exporter"
	"github.com/agentrr/agentrr/internal/handshake"
)

// OTLP protocols for ForwardProtocol and OTEL_EXPORTER_OTLP_PROTOCOL.
const (
	ProtocolHTTP = "http/protobuf"
	ProtocolGRPC = "grpc"
)

// Standard OpenTelemetry exporter variables FromEnv reads to turn
// forwarding on. The OTLP exporters also read the rest of the
// OTEL_EXPORTER_OTLP_* family (headers, timeout, compression, TLS).
const (
	envOTLPEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envOTLPTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envOTLPProtocol       = "OTEL_EXPORTER_OTLP_PROTOCOL"
	envOTLPTracesProtocol = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	envTracesExporter     = "OTEL_TRACES_EXPORTER"
)

type forwardConfig struct {
	endpoint     string
	protocol     string
	headers      map[string]string
	exporter     sdktrace.SpanExporter
	payloadLimit *int
	opts         []exporter.ForwarderOption
}

// ForwardOption configures WithForwarding.
type ForwardOption func(*forwardConfig)

// WithForwarding forwards every span the provider records — the boundary
// spans, carrying the agentrr.seq they were stored with, the run root spans
// and the agent's own spans — to an OTLP endpoint such as a Jaeger or an
// OpenTelemetry Collector. By default it sends OTLP/HTTP (protobuf) to the
// endpoint named by the standard OTEL_EXPORTER_OTLP_TRACES_ENDPOINT /
// OTEL_EXPORTER_OTLP_ENDPOINT variables, else http://localhost:4318, with
// the headers of OTEL_EXPORTER_OTLP_HEADERS.
//
// Forwarding never blocks the agent and never affects the durable record
// (see exporter.Forwarder, which is the SDK's batch span processor with
// payloads cut to size): a slow or unreachable endpoint costs the spans it
// could not take, reported through otel.Handle (stderr by default), nothing
// else. Shutdown forwards what is queued, waiting at most 5 s. String
// attribute values over the payload limit (4 MiB over HTTP, 1 MiB over gRPC,
// which fit Jaeger's default receiver limits) are cut in the forwarded copy
// only and marked with a ".truncated" attribute; the store keeps them whole.
//
// Headers are sent, never stored or logged.
func WithForwarding(opts ...ForwardOption) Option {
	return func(c *config) {
		fc := &forwardConfig{}
		for _, o := range opts {
			o(fc)
		}
		c.forward = fc
		c.provider("WithForwarding")
	}
}

// ForwardEndpoint sets the OTLP endpoint URL, e.g. http://127.0.0.1:4318.
// For OTLP/HTTP a URL with no path gets /v1/traces, as with
// OTEL_EXPORTER_OTLP_ENDPOINT; a URL with a path is used as is. An http://
// URL sends without TLS.
func ForwardEndpoint(rawURL string) ForwardOption {
	return func(c *forwardConfig) { c.endpoint = rawURL }
}

// ForwardProtocol selects ProtocolHTTP (the default) or ProtocolGRPC.
func ForwardProtocol(p string) ForwardOption { return func(c *forwardConfig) { c.protocol = p } }

// ForwardHeaders sets headers sent with every export (for example an
// authorization header), replacing OTEL_EXPORTER_OTLP_HEADERS. They are
// never stored or logged.
func ForwardHeaders(h map[string]string) ForwardOption {
	return func(c *forwardConfig) { c.headers = h }
}

// ForwardExporter forwards through exp instead of an OTLP exporter built
// from the endpoint options (useful in tests, or for a custom transport).
func ForwardExporter(exp sdktrace.SpanExporter) ForwardOption {
	return func(c *forwardConfig) { c.exporter = exp }
}

// ForwardPayloadLimit sets the largest string attribute value forwarded
// whole, in bytes; longer values are cut in the forwarded copy and marked
// (see exporter.TruncatedSuffix). n <= 0 forwards everything whole, which
// the backend may refuse.
func ForwardPayloadLimit(n int) ForwardOption {
	return func(c *forwardConfig) { c.payloadLimit = &n }
}

// ForwardTuning passes options to the exporter.Forwarder (payload limit,
// export size, timeouts, and the SDK batch processor's queue and batch
// sizes).
func ForwardTuning(opts ...exporter.ForwarderOption) ForwardOption {
	return func(c *forwardConfig) { c.opts = append(c.opts, opts...) }
}

// forwardFromEnv returns the forwarding FromEnv turns on: when
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set
// and OTEL_TRACES_EXPORTER is not "none". AGENTRR_FORWARD_PAYLOAD_LIMIT sets
// the payload limit.
func forwardFromEnv() *forwardConfig {
	if os.Getenv(envOTLPEndpoint) == "" && os.Getenv(envOTLPTracesEndpoint) == "" {
		return nil
	}
	if strings.TrimSpace(strings.ToLower(os.Getenv(envTracesExporter))) == "none" {
		return nil
	}
	fc := &forwardConfig{}
	if v := strings.TrimSpace(os.Getenv(handshake.EnvForwardPayloadLimit)); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			fc.payloadLimit = &n
		} else {
			fmt.Fprintf(os.Stderr, "agentrr: warning: %s=%q is not a number of bytes; using the default payload limit\n", handshake.EnvForwardPayloadLimit, v)
		}
	}
	return fc
}

// newForwarder builds the forwarding span processor fc describes: the
// SDK's batch span processor (in exporter.Forwarder) in front of an OTLP
// exporter. The exporters read the rest of the OTEL_EXPORTER_OTLP_*
// variables themselves.
func newForwarder(ctx context.Context, fc *forwardConfig) (*exporter.Forwarder, error) {
	protocol := fc.protocol
	if protocol == "" {
		protocol = os.Getenv(envOTLPTracesProtocol)
	}
	if protocol == "" {
		protocol = os.Getenv(envOTLPProtocol)
	}
	protocol = strings.TrimSpace(strings.ToLower(protocol))
	var fopts []exporter.ForwarderOption
	exp := fc.exporter
	switch protocol {
	case "", ProtocolHTTP, "http/json", "http":
		if protocol == "http/json" {
			// The Go OTLP exporter speaks protobuf only; every OTLP/HTTP
			// receiver accepts it.
			fmt.Fprintf(os.Stderr, "agentrr: warning: OTLP protocol http/json is not supported by the Go exporter; forwarding with %s to the same endpoint\n", ProtocolHTTP)
		}
		if exp == nil {
			opts := []otlptracehttp.Option{
				otlptracehttp.WithTimeout(exporter.DefaultExportTimeout),
				otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: true, InitialInterval: 500 * time.Millisecond, MaxInterval: 2 * time.Second, MaxElapsedTime: exporter.DefaultExportTimeout}),
			}
			if fc.endpoint != "" {
				u, err := endpointURL(fc.endpoint, "/v1/traces")
				if err != nil {
					return nil, err
				}
				opts = append(opts, otlptracehttp.WithEndpointURL(u))
			}
			if fc.headers != nil {
				opts = append(opts, otlptracehttp.WithHeaders(fc.headers))
			}
			var err error
			if exp, err = otlptracehttp.New(ctx, opts...); err != nil {
				return nil, fmt.Errorf("otelrr: forwarding: %w", err)
			}
		}
	case ProtocolGRPC:
		fopts = append(fopts, exporter.WithPayloadLimit(exporter.GRPCPayloadLimit), exporter.WithMaxExportBytes(exporter.GRPCMaxExportBytes))
		if exp == nil {
			opts := []otlptracegrpc.Option{
				otlptracegrpc.WithTimeout(exporter.DefaultExportTimeout),
				otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: true, InitialInterval: 500 * time.Millisecond, MaxInterval: 2 * time.Second, MaxElapsedTime: exporter.DefaultExportTimeout}),
			}
			if fc.endpoint != "" {
				u, err := endpointURL(fc.endpoint, "")
				if err != nil {
					return nil, err
				}
				opts = append(opts, otlptracegrpc.WithEndpointURL(u))
			}
			if fc.headers != nil {
				opts = append(opts, otlptracegrpc.WithHeaders(fc.headers))
			}
			var err error
			if exp, err = otlptracegrpc.New(ctx, opts...); err != nil {
				return nil, fmt.Errorf("otelrr: forwarding: %w", err)
			}
		}
	default:
		return nil, fmt.Errorf("otelrr: forwarding: unknown OTLP protocol %q (want %s or %s)", protocol, ProtocolHTTP, ProtocolGRPC)
	}
	if fc.payloadLimit != nil {
		fopts = append(fopts, exporter.WithPayloadLimit(*fc.payloadLimit))
	}
	fopts = append(fopts, fc.opts...)
	return exporter.NewForwarder(exp, fopts...), nil
}

// endpointURL checks rawURL and gives it defaultPath when it has none.
func endpointURL(rawURL, defaultPath string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("otelrr: forwarding endpoint %q: want a URL such as http://127.0.0.1:4318", rawURL)
	}
	if defaultPath != "" && (u.Path == "" || u.Path == "/") {
		u.Path = defaultPath
	}
	return u.String(), nil
}
