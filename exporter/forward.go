package exporter

import (
	"context"
	"errors"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Forwarding defaults. They fit Jaeger's OTLP receivers as shipped: the
// OTLP/HTTP receiver accepts request bodies up to 20 MiB and the OTLP/gRPC
// receiver messages up to 4 MiB. The size of an export is estimated from the
// spans' contents with a margin, so these stay below those limits.
const (
	// DefaultPayloadLimit is the largest string attribute value (such as a
	// boundary's request or response) forwarded whole over OTLP/HTTP.
	DefaultPayloadLimit = 4 << 20
	// DefaultMaxExportBytes is the estimated size above which a batch is
	// split into several OTLP/HTTP requests.
	DefaultMaxExportBytes = 16 << 20
	// GRPCPayloadLimit and GRPCMaxExportBytes are the defaults for OTLP/gRPC.
	GRPCPayloadLimit   = 1 << 20
	GRPCMaxExportBytes = 3 << 20

	// DefaultExportTimeout bounds one export, retries included.
	DefaultExportTimeout = 10 * time.Second
	// DefaultFlushTimeout bounds how long Shutdown waits for queued spans to
	// be forwarded.
	DefaultFlushTimeout = 5 * time.Second
)

// TruncatedSuffix is appended to the key of a string attribute cut in a
// forwarded copy: agentrr.request cut to the payload limit is forwarded with
// agentrr.request.truncated = true. The boundary's length and hash
// attributes are forwarded unchanged, so whoever reads the copy (a replay
// from Jaeger) detects the cut instead of serving a partial payload.
const TruncatedSuffix = ".truncated"

// Forwarder is a span processor that forwards every span it sees to an OTLP
// backend (any sdktrace.SpanExporter) through the OpenTelemetry SDK's batch
// span processor: its queue, its batching, its export goroutine. Register
// it after the durable Processor, and every boundary span is forwarded
// after it is stored, carrying the place it was stored at (agentrr.seq,
// agentrr.branch.index).
//
// What the Forwarder adds to the SDK's processor is the forwarded copy's
// size: string attribute values longer than the payload limit are cut, and
// marked (TruncatedSuffix), as a span enters the queue, so the queue holds
// at most its size (2048 spans by default) times the limit; and a batch is
// split into several exports so that each stays under MaxExportBytes, which
// is what OTLP receivers limit. The store always keeps payloads whole.
//
// Forwarding never blocks the agent: a span that finds the queue full is
// dropped from the forwarded stream (the SDK's batch processor does not
// block unless asked to); a backend that is slow, down or refuses an export
// costs the spans of that export, reported through otel.Handle (the
// OpenTelemetry error handler, stderr by default). Shutdown forwards what
// is queued, waiting at most the flush timeout.
type Forwarder struct {
	bsp          sdktrace.SpanProcessor
	payloadLimit int
	flushTimeout time.Duration
}

var _ sdktrace.SpanProcessor = (*Forwarder)(nil)

type forwarderConfig struct {
	payloadLimit   int
	maxExportBytes int
	exportTimeout  time.Duration
	flushTimeout   time.Duration
	batch          []sdktrace.BatchSpanProcessorOption
}

// ForwarderOption configures a Forwarder.
type ForwarderOption func(*forwarderConfig)

// WithPayloadLimit sets the largest string attribute value forwarded whole,
// in bytes (DefaultPayloadLimit by default); n <= 0 forwards every value
// whole, which the backend may refuse.
func WithPayloadLimit(n int) ForwarderOption { return func(c *forwarderConfig) { c.payloadLimit = n } }

// WithMaxExportBytes sets the estimated size above which a batch is split
// into several exports (DefaultMaxExportBytes by default).
func WithMaxExportBytes(n int) ForwarderOption {
	return func(c *forwarderConfig) { c.maxExportBytes = n }
}

// WithExportTimeout bounds one export (DefaultExportTimeout by default).
func WithExportTimeout(d time.Duration) ForwarderOption {
	return func(c *forwarderConfig) { c.exportTimeout = d }
}

// WithFlushTimeout bounds how long Shutdown and ForceFlush wait for queued
// spans to be forwarded (DefaultFlushTimeout by default).
func WithFlushTimeout(d time.Duration) ForwarderOption {
	return func(c *forwarderConfig) { c.flushTimeout = d }
}

// WithBatchOptions passes options to the SDK's batch span processor (queue
// size, batch size, batch timeout). sdktrace.WithBlocking would make a full
// queue block the agent: do not pass it.
func WithBatchOptions(opts ...sdktrace.BatchSpanProcessorOption) ForwarderOption {
	return func(c *forwarderConfig) { c.batch = append(c.batch, opts...) }
}

// NewForwarder returns a Forwarder sending to exp.
func NewForwarder(exp sdktrace.SpanExporter, opts ...ForwarderOption) *Forwarder {
	cfg := forwarderConfig{
		payloadLimit:   DefaultPayloadLimit,
		maxExportBytes: DefaultMaxExportBytes,
		exportTimeout:  DefaultExportTimeout,
		flushTimeout:   DefaultFlushTimeout,
	}
	for _, o := range opts {
		o(&cfg)
	}
	batch := append([]sdktrace.BatchSpanProcessorOption{sdktrace.WithExportTimeout(cfg.exportTimeout)}, cfg.batch...)
	return &Forwarder{
		bsp:          sdktrace.NewBatchSpanProcessor(&splitExporter{next: exp, maxBytes: cfg.maxExportBytes}, batch...),
		payloadLimit: cfg.payloadLimit,
		flushTimeout: cfg.flushTimeout,
	}
}

// OnStart passes s to the batch processor.
func (f *Forwarder) OnStart(ctx context.Context, s sdktrace.ReadWriteSpan) { f.bsp.OnStart(ctx, s) }

// OnEnd queues the forwarded copy of s: s with its long values cut.
func (f *Forwarder) OnEnd(s sdktrace.ReadOnlySpan) {
	if attrs, changed := forwardAttrs(s.Attributes(), nil, f.payloadLimit); changed {
		s = forwardedSpan{ReadOnlySpan: s, attrs: attrs}
	}
	f.bsp.OnEnd(s)
}

// Shutdown forwards what is queued, waiting at most the flush timeout (or
// until ctx is done), then stops.
func (f *Forwarder) Shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, f.flushTimeout)
	defer cancel()
	return f.bsp.Shutdown(ctx)
}

// ForceFlush forwards what is queued, waiting at most the flush timeout.
func (f *Forwarder) ForceFlush(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, f.flushTimeout)
	defer cancel()
	return f.bsp.ForceFlush(ctx)
}

// splitExporter exports a batch in parts whose estimated size stays under
// maxBytes.
type splitExporter struct {
	next     sdktrace.SpanExporter
	maxBytes int
}

func (e *splitExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	var errs []error
	for start := 0; start < len(spans); {
		end, size := start, 0
		for end < len(spans) {
			n := spanSize(spans[end])
			if end > start && e.maxBytes > 0 && size+n > e.maxBytes {
				break
			}
			size += n
			end++
		}
		if err := e.next.ExportSpans(ctx, spans[start:end]); err != nil {
			errs = append(errs, err)
		}
		start = end
	}
	return errors.Join(errs...)
}

func (e *splitExporter) Shutdown(ctx context.Context) error { return e.next.Shutdown(ctx) }

// forwardedSpan is a span with its attributes replaced for forwarding.
type forwardedSpan struct {
	sdktrace.ReadOnlySpan
	attrs []attribute.KeyValue
}

func (s forwardedSpan) Attributes() []attribute.KeyValue { return s.attrs }

// forwardAttrs returns attrs plus extra, with string values longer than
// limit cut (limit > 0) and marked. changed is false, and attrs returned as
// is, when there is nothing to add or cut.
func forwardAttrs(attrs, extra []attribute.KeyValue, limit int) (out []attribute.KeyValue, changed bool) {
	cut := func(kv attribute.KeyValue) bool {
		if limit <= 0 {
			return false
		}
		switch kv.Value.Type() {
		case attribute.STRING:
			return len(kv.Value.AsString()) > limit
		case attribute.STRINGSLICE:
			for _, v := range kv.Value.AsStringSlice() {
				if len(v) > limit {
					return true
				}
			}
		}
		return false
	}
	needs := len(extra) > 0
	for _, kv := range attrs {
		if cut(kv) {
			needs = true
			break
		}
	}
	if !needs {
		return attrs, false
	}
	out = make([]attribute.KeyValue, 0, len(attrs)+len(extra)+2)
	for _, kv := range append(attrs[:len(attrs):len(attrs)], extra...) {
		if !cut(kv) {
			out = append(out, kv)
			continue
		}
		switch kv.Value.Type() {
		case attribute.STRING:
			out = append(out, attribute.String(string(kv.Key), truncateUTF8(kv.Value.AsString(), limit)))
		case attribute.STRINGSLICE:
			vs := append([]string(nil), kv.Value.AsStringSlice()...)
			for i, v := range vs {
				vs[i] = truncateUTF8(v, limit)
			}
			out = append(out, attribute.StringSlice(string(kv.Key), vs))
		}
		out = append(out, attribute.Bool(string(kv.Key)+TruncatedSuffix, true))
	}
	return out, true
}

// truncateUTF8 cuts s to at most n bytes without splitting a UTF-8 sequence
// (OTLP strings must be valid UTF-8).
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// spanSize estimates the OTLP protobuf size of s, erring high.
func spanSize(s sdktrace.ReadOnlySpan) int {
	n := 128 + len(s.Name()) + len(s.Status().Description) + len(s.InstrumentationScope().Name)
	n += attrsSize(s.Attributes())
	for _, e := range s.Events() {
		n += 32 + len(e.Name) + attrsSize(e.Attributes)
	}
	for _, l := range s.Links() {
		n += 64 + attrsSize(l.Attributes)
	}
	return n
}

func attrsSize(kvs []attribute.KeyValue) int {
	n := 0
	for _, kv := range kvs {
		n += 16 + len(kv.Key)
		switch kv.Value.Type() {
		case attribute.STRING:
			n += len(kv.Value.AsString())
		case attribute.STRINGSLICE:
			for _, v := range kv.Value.AsStringSlice() {
				n += 8 + len(v)
			}
		case attribute.BOOLSLICE:
			n += 4 * len(kv.Value.AsBoolSlice())
		case attribute.INT64SLICE:
			n += 12 * len(kv.Value.AsInt64Slice())
		case attribute.FLOAT64SLICE:
			n += 12 * len(kv.Value.AsFloat64Slice())
		default:
			n += 12
		}
	}
	return n
}
