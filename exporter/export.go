package exporter

import (
	"context"
	"maps"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/spanlog"
)

// recorderScope is the instrumentation scope of rebuilt spans: the scope
// otelrr records boundaries with (exporter cannot import otelrr).
const recorderScope = "github.com/agentrr/agentrr/otelrr"

// RunTraces rebuilds a stored run as OTLP traces: one resource (the run's
// resource from its header), the run root span and the boundary spans, with
// the trace id and span ids they were recorded with, so exporting a run
// twice sends the same spans twice (which Jaeger's query deduplicates, and
// replayer.LoadOTLPJSON counts once).
//
// The store keeps boundary spans, not the root span, so the root span is
// rebuilt from the run header and end record: its span id is the parent
// most boundaries share (the root when the agent calls the helpers with the
// run's context), else one derived from the trace id. It carries
// agentrr.boundaries only when the run ended, so a rebuilt truncated run
// reads back as truncated. A boundary span's kind is client for llm and
// http boundaries, internal otherwise; its status is error when the call
// failed.
func RunTraces(info spanlog.RunInfo, records []boundary.Record) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	ra := rs.Resource().Attributes()
	// Sorted, so that every export of a run is the same bytes.
	for _, k := range slices.Sorted(maps.Keys(info.Resource)) {
		ra.PutStr(k, info.Resource[k])
	}
	if _, ok := ra.Get("service.name"); !ok && info.Service != "" {
		ra.PutStr("service.name", info.Service)
	}
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName(recorderScope)
	root := ss.Spans().AppendEmpty()
	boundary.PutRunRoot(root, info.RunMeta, info.Ended, records)

	for i := range records {
		r := &records[i]
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(r.TraceID)
		sp.SetSpanID(r.SpanID)
		sp.SetParentSpanID(r.ParentSpanID)
		sp.SetName(r.SpanName)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(r.Start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(r.End))
		switch r.Kind {
		case boundary.KindLLM, boundary.KindHTTP:
			sp.SetKind(ptrace.SpanKindClient)
		default:
			sp.SetKind(ptrace.SpanKindInternal)
		}
		if err := sp.Attributes().FromRaw(r.Attributes); err != nil {
			// Attributes come from a decoded span and always convert back;
			// keep what the replayer needs if they do not.
			sp.Attributes().PutInt(boundary.AttrSeq, r.Seq)
		}
		if r.Failed {
			sp.Status().SetCode(ptrace.StatusCodeError)
			sp.Status().SetMessage(r.Error)
		}
	}
	return td
}

// ExportOptions configure Export.
type ExportOptions struct {
	// PayloadLimit cuts string attribute values longer than this many bytes
	// (marked with TruncatedSuffix); 0 means DefaultPayloadLimit, < 0 no limit.
	PayloadLimit int
	// MaxRequestBytes splits the spans over several exports so that none is
	// (by estimate) larger; 0 means DefaultMaxExportBytes.
	MaxRequestBytes int
}

// ExportResult says what Export sent.
type ExportResult struct {
	// Spans and Requests count what was sent.
	Spans, Requests int
	// Truncated counts attribute values cut to the payload limit.
	Truncated int
}

// Export sends td through exp, an OpenTelemetry SDK span exporter (the
// OTLP exporters otlptracehttp and otlptracegrpc, which speak the protocol
// and read the OTEL_EXPORTER_OTLP_* variables): the spans, as the SDK's
// read-only spans with their resource and scope, string values over the
// payload limit cut and marked, in parts whose estimated size stays under
// the request limit. It fails on the first part exp does not accept; parts
// sent before stay sent (sending them again is harmless: same ids).
func Export(ctx context.Context, exp sdktrace.SpanExporter, td ptrace.Traces, opts ExportOptions) (ExportResult, error) {
	limit := opts.PayloadLimit
	if limit == 0 {
		limit = DefaultPayloadLimit
	}
	maxReq := opts.MaxRequestBytes
	if maxReq <= 0 {
		maxReq = DefaultMaxExportBytes
	}
	var res ExportResult
	spans := ReadOnlySpans(td)
	for i, s := range spans {
		if attrs, changed := forwardAttrs(s.Attributes(), nil, limit); changed {
			for _, kv := range attrs {
				if strings.HasSuffix(string(kv.Key), TruncatedSuffix) {
					res.Truncated++
				}
			}
			spans[i] = forwardedSpan{ReadOnlySpan: s, attrs: attrs}
		}
	}
	split := &splitExporter{next: countingExporter{exp, &res}, maxBytes: maxReq}
	err := split.ExportSpans(ctx, spans)
	return res, err
}

// countingExporter counts what its exporter accepts.
type countingExporter struct {
	sdktrace.SpanExporter
	res *ExportResult
}

func (e countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if err := e.SpanExporter.ExportSpans(ctx, spans); err != nil {
		return err
	}
	e.res.Requests++
	e.res.Spans += len(spans)
	return nil
}

// ReadOnlySpans converts OTLP traces to the SDK's read-only spans (as
// tracetest snapshots), for SDK span exporters.
func ReadOnlySpans(td ptrace.Traces) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := resource.NewWithAttributes(rs.SchemaUrl(), keyValues(rs.Resource().Attributes())...)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			scope := instrumentation.Scope{Name: ss.Scope().Name(), Version: ss.Scope().Version(), SchemaURL: ss.SchemaUrl()}
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				out = append(out, stubOf(spans.At(k), res, scope).Snapshot())
			}
		}
	}
	return out
}

func stubOf(sp ptrace.Span, res *resource.Resource, scope instrumentation.Scope) tracetest.SpanStub {
	ts, _ := trace.ParseTraceState(sp.TraceState().AsRaw())
	stub := tracetest.SpanStub{
		Name: sp.Name(),
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID(sp.TraceID()), SpanID: trace.SpanID(sp.SpanID()), TraceFlags: trace.FlagsSampled, TraceState: ts,
		}),
		SpanKind:             otelKind(sp.Kind()),
		StartTime:            sp.StartTimestamp().AsTime(),
		EndTime:              sp.EndTimestamp().AsTime(),
		Attributes:           keyValues(sp.Attributes()),
		DroppedAttributes:    int(sp.DroppedAttributesCount()),
		DroppedEvents:        int(sp.DroppedEventsCount()),
		DroppedLinks:         int(sp.DroppedLinksCount()),
		Resource:             res,
		InstrumentationScope: scope,
	}
	if p := sp.ParentSpanID(); !p.IsEmpty() {
		stub.Parent = trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID(sp.TraceID()), SpanID: trace.SpanID(p), TraceFlags: trace.FlagsSampled})
	}
	switch sp.Status().Code() {
	case ptrace.StatusCodeError:
		stub.Status = sdktrace.Status{Code: codes.Error, Description: sp.Status().Message()}
	case ptrace.StatusCodeOk:
		stub.Status = sdktrace.Status{Code: codes.Ok}
	}
	for _, e := range sp.Events().All() {
		stub.Events = append(stub.Events, sdktrace.Event{Name: e.Name(), Time: e.Timestamp().AsTime(), Attributes: keyValues(e.Attributes()), DroppedAttributeCount: int(e.DroppedAttributesCount())})
	}
	for _, l := range sp.Links().All() {
		lts, _ := trace.ParseTraceState(l.TraceState().AsRaw())
		stub.Links = append(stub.Links, sdktrace.Link{
			SpanContext:           trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID(l.TraceID()), SpanID: trace.SpanID(l.SpanID()), TraceState: lts}),
			Attributes:            keyValues(l.Attributes()),
			DroppedAttributeCount: int(l.DroppedAttributesCount()),
		})
	}
	return stub
}

// keyValues converts a pdata attribute map to OpenTelemetry attributes.
// Maps and byte values, which OpenTelemetry attributes do not have, become
// their JSON text.
func keyValues(m pcommon.Map) []attribute.KeyValue {
	out := make([]attribute.KeyValue, 0, m.Len())
	for k, v := range m.All() {
		out = append(out, keyValue(k, v))
	}
	return out
}

func keyValue(k string, v pcommon.Value) attribute.KeyValue {
	switch v.Type() {
	case pcommon.ValueTypeBool:
		return attribute.Bool(k, v.Bool())
	case pcommon.ValueTypeInt:
		return attribute.Int64(k, v.Int())
	case pcommon.ValueTypeDouble:
		return attribute.Float64(k, v.Double())
	case pcommon.ValueTypeStr:
		return attribute.String(k, v.Str())
	case pcommon.ValueTypeSlice:
		sl := v.Slice()
		if sl.Len() > 0 {
			switch sl.At(0).Type() {
			case pcommon.ValueTypeBool:
				out := make([]bool, 0, sl.Len())
				for _, x := range sl.All() {
					out = append(out, x.Bool())
				}
				return attribute.BoolSlice(k, out)
			case pcommon.ValueTypeInt:
				out := make([]int64, 0, sl.Len())
				for _, x := range sl.All() {
					out = append(out, x.Int())
				}
				return attribute.Int64Slice(k, out)
			case pcommon.ValueTypeDouble:
				out := make([]float64, 0, sl.Len())
				for _, x := range sl.All() {
					out = append(out, x.Double())
				}
				return attribute.Float64Slice(k, out)
			}
		}
		out := make([]string, 0, sl.Len())
		for _, x := range sl.All() {
			out = append(out, x.AsString())
		}
		return attribute.StringSlice(k, out)
	}
	return attribute.String(k, v.AsString())
}

// otelKind is the SDK span kind of the OTLP kind k; an unknown kind is
// internal.
func otelKind(k ptrace.SpanKind) trace.SpanKind {
	for _, p := range spanKinds {
		if p.otlp == k {
			return p.sdk
		}
	}
	return trace.SpanKindInternal
}
