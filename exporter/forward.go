package exporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
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

	// DefaultMaxQueueSpans and DefaultMaxQueueBytes bound what waits to be
	// forwarded; spans that do not fit are dropped (from the forwarded copy
	// only) with a warning.
	DefaultMaxQueueSpans = 4096
	DefaultMaxQueueBytes = 64 << 20
	// DefaultMaxBatchSpans is the largest number of spans in one export.
	DefaultMaxBatchSpans = 512
	// DefaultBatchTimeout is how long a span waits for others to share its export.
	DefaultBatchTimeout = time.Second
	// DefaultExportTimeout bounds one export, retries included.
	DefaultExportTimeout = 10 * time.Second
	// DefaultFlushTimeout bounds how long Shutdown waits for queued spans to
	// be forwarded.
	DefaultFlushTimeout = 5 * time.Second
	// DefaultWarningInterval is the least time between two warnings.
	DefaultWarningInterval = 30 * time.Second
)

// TruncatedSuffix is appended to the key of a string attribute cut in a
// forwarded copy: agentrr.request cut to the payload limit is forwarded with
// agentrr.request.truncated = true. The boundary's length and hash
// attributes are forwarded unchanged, so whoever reads the copy (a replay
// from Jaeger) detects the cut instead of serving a partial payload.
const TruncatedSuffix = ".truncated"

// Forwarder forwards copies of spans to an OTLP backend (any
// sdktrace.SpanExporter) from a background goroutine.
//
// Forwarding never blocks the agent and never touches the durable record:
// Forward only queues the span. When the queue is full, or the backend is
// slow, down or refuses an export, the span is dropped from the forwarded
// stream and a warning is written (at most one per warning interval,
// summarising what was lost since the last one). Shutdown forwards what is
// queued, waiting at most the flush timeout.
//
// String attribute values longer than the payload limit are cut in the
// forwarded copy (see TruncatedSuffix); the store always keeps them whole.
// A Forwarder is safe for concurrent use.
type Forwarder struct {
	exp sdktrace.SpanExporter
	cfg forwarderConfig

	queue       chan queuedSpan
	queuedBytes atomic.Int64
	flushReq    chan chan struct{}
	stop        chan struct{}
	done        chan struct{}
	ctx         context.Context // exports run under it; cancelled when the flush wait runs out
	cancel      context.CancelFunc
	stopped     atomic.Bool
	stopOnce    sync.Once

	forwarded, dropped, failed atomic.Int64
	warn                       warner
}

type queuedSpan struct {
	span sdktrace.ReadOnlySpan
	size int
}

type forwarderConfig struct {
	payloadLimit    int
	maxExportBytes  int
	maxQueueSpans   int
	maxQueueBytes   int
	maxBatchSpans   int
	batchTimeout    time.Duration
	exportTimeout   time.Duration
	flushTimeout    time.Duration
	warnings        io.Writer
	warningInterval time.Duration
}

// ForwarderOption configures a Forwarder.
type ForwarderOption func(*forwarderConfig)

// WithPayloadLimit sets the largest string attribute value forwarded whole,
// in bytes (DefaultPayloadLimit). n <= 0 means no limit.
func WithPayloadLimit(n int) ForwarderOption {
	return func(c *forwarderConfig) { c.payloadLimit = n }
}

// WithMaxExportBytes sets the estimated size above which a batch is split
// into several exports (DefaultMaxExportBytes). Keep it below the backend's
// request limit.
func WithMaxExportBytes(n int) ForwarderOption {
	return func(c *forwarderConfig) { c.maxExportBytes = n }
}

// WithMaxQueue bounds the spans waiting to be forwarded, by count and by
// estimated bytes (DefaultMaxQueueSpans, DefaultMaxQueueBytes).
func WithMaxQueue(spans, bytes int) ForwarderOption {
	return func(c *forwarderConfig) { c.maxQueueSpans, c.maxQueueBytes = spans, bytes }
}

// WithMaxBatch sets the largest number of spans in one export
// (DefaultMaxBatchSpans).
func WithMaxBatch(spans int) ForwarderOption {
	return func(c *forwarderConfig) { c.maxBatchSpans = spans }
}

// WithBatchTimeout sets how long a span waits for others to share its
// export (DefaultBatchTimeout).
func WithBatchTimeout(d time.Duration) ForwarderOption {
	return func(c *forwarderConfig) { c.batchTimeout = d }
}

// WithExportTimeout bounds one export, the exporter's retries included
// (DefaultExportTimeout).
func WithExportTimeout(d time.Duration) ForwarderOption {
	return func(c *forwarderConfig) { c.exportTimeout = d }
}

// WithFlushTimeout bounds how long Shutdown waits for the queue to be
// forwarded (DefaultFlushTimeout).
func WithFlushTimeout(d time.Duration) ForwarderOption {
	return func(c *forwarderConfig) { c.flushTimeout = d }
}

// WithWarnings sends warnings to w (os.Stderr by default; nil discards them)
// at most once per interval (DefaultWarningInterval; <= 0 keeps the default).
func WithWarnings(w io.Writer, interval time.Duration) ForwarderOption {
	return func(c *forwarderConfig) {
		c.warnings = w
		if interval > 0 {
			c.warningInterval = interval
		}
	}
}

// NewForwarder starts a Forwarder exporting with exp. Call Shutdown when
// done; it also shuts exp down.
func NewForwarder(exp sdktrace.SpanExporter, opts ...ForwarderOption) *Forwarder {
	cfg := forwarderConfig{
		payloadLimit:    DefaultPayloadLimit,
		maxExportBytes:  DefaultMaxExportBytes,
		maxQueueSpans:   DefaultMaxQueueSpans,
		maxQueueBytes:   DefaultMaxQueueBytes,
		maxBatchSpans:   DefaultMaxBatchSpans,
		batchTimeout:    DefaultBatchTimeout,
		exportTimeout:   DefaultExportTimeout,
		flushTimeout:    DefaultFlushTimeout,
		warnings:        os.Stderr,
		warningInterval: DefaultWarningInterval,
	}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.maxQueueSpans = max(cfg.maxQueueSpans, 1)
	cfg.maxBatchSpans = max(cfg.maxBatchSpans, 1)
	if cfg.batchTimeout <= 0 {
		cfg.batchTimeout = DefaultBatchTimeout
	}
	if cfg.exportTimeout <= 0 {
		cfg.exportTimeout = DefaultExportTimeout
	}
	f := &Forwarder{
		exp:      exp,
		cfg:      cfg,
		queue:    make(chan queuedSpan, cfg.maxQueueSpans),
		flushReq: make(chan chan struct{}),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		warn:     warner{w: cfg.warnings, every: cfg.warningInterval},
	}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	go f.run()
	return f
}

// Forward queues a copy of s, with extra attributes appended (a boundary's
// agentrr.seq, known only once it is stored), and returns at once. A nil
// Forwarder does nothing.
func (f *Forwarder) Forward(s sdktrace.ReadOnlySpan, extra ...attribute.KeyValue) {
	if f == nil || f.stopped.Load() {
		return
	}
	attrs, changed := forwardAttrs(s.Attributes(), extra, f.cfg.payloadLimit)
	if changed {
		s = forwardedSpan{ReadOnlySpan: s, attrs: attrs}
	}
	q := queuedSpan{span: s, size: spanSize(s)}
	if f.cfg.maxQueueBytes > 0 && f.queuedBytes.Add(int64(q.size)) > int64(f.cfg.maxQueueBytes) {
		f.queuedBytes.Add(-int64(q.size))
		f.lose(1, 0, nil)
		return
	}
	select {
	case f.queue <- q:
	default:
		f.queuedBytes.Add(-int64(q.size))
		f.lose(1, 0, nil)
	}
}

// ForwardStats counts spans since the Forwarder started.
type ForwardStats struct {
	// Forwarded spans were accepted by the exporter.
	Forwarded int64
	// Dropped spans never reached the exporter: the queue was full, or the
	// flush wait ran out at shutdown.
	Dropped int64
	// Failed spans were in an export that failed.
	Failed int64
}

// Stats returns the counts so far.
func (f *Forwarder) Stats() ForwardStats {
	return ForwardStats{Forwarded: f.forwarded.Load(), Dropped: f.dropped.Load(), Failed: f.failed.Load()}
}

// ForceFlush exports what is queued and waits for it, for at most the flush
// timeout or until ctx is done.
func (f *Forwarder) ForceFlush(ctx context.Context) error {
	if f == nil || f.stopped.Load() {
		return nil
	}
	ctx, cancel := f.bound(ctx)
	defer cancel()
	ack := make(chan struct{})
	select {
	case f.flushReq <- ack:
	case <-f.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("agentrr: forwarding flush: %w", ctx.Err())
	}
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("agentrr: forwarding flush: %w", ctx.Err())
	}
}

// Shutdown forwards what is queued, waiting at most the flush timeout (or
// until ctx is done), then shuts the exporter down. Spans still queued when
// the wait runs out are dropped and counted in the final warning. Only the
// first call does anything.
func (f *Forwarder) Shutdown(ctx context.Context) error {
	if f == nil {
		return nil
	}
	f.stopOnce.Do(func() {
		f.stopped.Store(true)
		close(f.stop)
		bctx, cancel := f.bound(ctx)
		defer cancel()
		select {
		case <-f.done:
		case <-bctx.Done():
			// Abort the export in flight; what is left is dropped. An
			// exporter that honours its context returns at once.
			f.cancel()
			select {
			case <-f.done:
			case <-time.After(time.Second):
			}
		}
		f.cancel()
		ectx, ecancel := context.WithTimeout(context.Background(), time.Second)
		defer ecancel()
		if err := f.exp.Shutdown(ectx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			f.warn.note(0, 0, err)
		}
		f.warn.flush()
	})
	return nil
}

// bound limits ctx to the flush timeout.
func (f *Forwarder) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	if f.cfg.flushTimeout > 0 {
		return context.WithTimeout(ctx, f.cfg.flushTimeout)
	}
	return context.WithCancel(ctx)
}

func (f *Forwarder) run() {
	defer close(f.done)
	ticker := time.NewTicker(f.cfg.batchTimeout)
	defer ticker.Stop()
	var (
		batch []sdktrace.ReadOnlySpan
		bytes int
	)
	flush := func() {
		if len(batch) > 0 {
			f.export(batch)
			batch, bytes = nil, 0
		}
	}
	add := func(q queuedSpan) {
		f.queuedBytes.Add(-int64(q.size))
		if f.ctx.Err() != nil {
			f.lose(1, 0, nil)
			return
		}
		if len(batch) > 0 && f.cfg.maxExportBytes > 0 && bytes+q.size > f.cfg.maxExportBytes {
			flush()
		}
		batch = append(batch, q.span)
		bytes += q.size
		if len(batch) >= f.cfg.maxBatchSpans || (f.cfg.maxExportBytes > 0 && bytes >= f.cfg.maxExportBytes) {
			flush()
		}
	}
	drain := func() {
		for {
			select {
			case q := <-f.queue:
				add(q)
			default:
				flush()
				return
			}
		}
	}
	for {
		select {
		case q := <-f.queue:
			add(q)
		case <-ticker.C:
			flush()
		case ack := <-f.flushReq:
			drain()
			close(ack)
		case <-f.stop:
			drain()
			return
		}
	}
}

func (f *Forwarder) export(batch []sdktrace.ReadOnlySpan) {
	if f.ctx.Err() != nil {
		f.lose(len(batch), 0, nil)
		return
	}
	ctx, cancel := context.WithTimeout(f.ctx, f.cfg.exportTimeout)
	err := f.exp.ExportSpans(ctx, batch)
	cancel()
	if err != nil {
		f.lose(0, len(batch), err)
		return
	}
	f.forwarded.Add(int64(len(batch)))
}

// lose counts spans that will not reach the backend and warns.
func (f *Forwarder) lose(dropped, failed int, err error) {
	f.dropped.Add(int64(dropped))
	f.failed.Add(int64(failed))
	f.warn.note(dropped, failed, err)
}

// forwardedSpan is a span with its attributes replaced for forwarding.
type forwardedSpan struct {
	sdktrace.ReadOnlySpan
	attrs []attribute.KeyValue
}

func (s forwardedSpan) Attributes() []attribute.KeyValue { return s.attrs }

// WithAttributes returns s with extra attributes appended, for exporters
// that must see attributes known only after the span ended (a boundary's
// seq).
func WithAttributes(s sdktrace.ReadOnlySpan, extra ...attribute.KeyValue) sdktrace.ReadOnlySpan {
	if len(extra) == 0 {
		return s
	}
	attrs, _ := forwardAttrs(s.Attributes(), extra, 0)
	return forwardedSpan{ReadOnlySpan: s, attrs: attrs}
}

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

// warner writes rate-limited warnings about spans that were not forwarded.
type warner struct {
	w     io.Writer
	every time.Duration

	mu                    sync.Mutex
	last                  time.Time
	dropped, failed, errs int
	lastErr               string
}

func (w *warner) note(dropped, failed int, err error) {
	if w.w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dropped += dropped
	w.failed += failed
	if err != nil {
		w.errs++
		w.lastErr = err.Error()
	}
	if now := time.Now(); w.last.IsZero() || now.Sub(w.last) >= w.every {
		w.last = now
		w.emitLocked(true)
	}
}

// flush writes what was noted since the last warning, if anything.
func (w *warner) flush() {
	if w.w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.emitLocked(false)
}

func (w *warner) emitLocked(more bool) {
	if w.dropped == 0 && w.failed == 0 && w.errs == 0 {
		return
	}
	msg := fmt.Sprintf("agentrr: warning: forwarding: %d span(s) not forwarded", w.dropped+w.failed)
	if w.dropped > 0 {
		msg += fmt.Sprintf(", %d dropped (queue full or shutting down)", w.dropped)
	}
	if w.errs > 0 {
		msg += fmt.Sprintf(", %d export error(s), last: %s", w.errs, w.lastErr)
	}
	msg += "; the local record is not affected"
	if more && w.every > 0 {
		msg += fmt.Sprintf(" (further losses are summarised every %s)", w.every)
	}
	fmt.Fprintln(w.w, msg)
	w.dropped, w.failed, w.errs, w.lastErr = 0, 0, 0, ""
}
