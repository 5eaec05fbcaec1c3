package exporter

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Traces converts s to OTLP (pdata), with extra attributes appended (the
// boundary's seq and any damage, which are only known at OnEnd). The
// resource is left empty: the run header holds it once for the whole run.
func Traces(s sdktrace.ReadOnlySpan, extra ...attribute.KeyValue) ptrace.Traces {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	scope := s.InstrumentationScope()
	ss.Scope().SetName(scope.Name)
	ss.Scope().SetVersion(scope.Version)
	ss.SetSchemaUrl(scope.SchemaURL)
	copySpan(ss.Spans().AppendEmpty(), s, extra)
	return td
}

func copySpan(sp ptrace.Span, s sdktrace.ReadOnlySpan, extra []attribute.KeyValue) {
	sc := s.SpanContext()
	sp.SetTraceID(pcommon.TraceID(sc.TraceID()))
	sp.SetSpanID(pcommon.SpanID(sc.SpanID()))
	sp.TraceState().FromRaw(sc.TraceState().String())
	if p := s.Parent(); p.SpanID().IsValid() {
		sp.SetParentSpanID(pcommon.SpanID(p.SpanID()))
	}
	sp.SetName(s.Name())
	sp.SetKind(spanKind(s.SpanKind()))
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(s.StartTime()))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(s.EndTime()))
	attrs := sp.Attributes()
	attrs.EnsureCapacity(len(s.Attributes()) + len(extra))
	for _, kv := range s.Attributes() {
		putAttr(attrs, kv)
	}
	for _, kv := range extra {
		putAttr(attrs, kv)
	}
	sp.SetDroppedAttributesCount(uint32(s.DroppedAttributes()))
	for _, e := range s.Events() {
		pe := sp.Events().AppendEmpty()
		pe.SetName(e.Name)
		pe.SetTimestamp(pcommon.NewTimestampFromTime(e.Time))
		for _, kv := range e.Attributes {
			putAttr(pe.Attributes(), kv)
		}
		pe.SetDroppedAttributesCount(uint32(e.DroppedAttributeCount))
	}
	sp.SetDroppedEventsCount(uint32(s.DroppedEvents()))
	for _, l := range s.Links() {
		pl := sp.Links().AppendEmpty()
		pl.SetTraceID(pcommon.TraceID(l.SpanContext.TraceID()))
		pl.SetSpanID(pcommon.SpanID(l.SpanContext.SpanID()))
		pl.TraceState().FromRaw(l.SpanContext.TraceState().String())
		for _, kv := range l.Attributes {
			putAttr(pl.Attributes(), kv)
		}
		pl.SetDroppedAttributesCount(uint32(l.DroppedAttributeCount))
	}
	sp.SetDroppedLinksCount(uint32(s.DroppedLinks()))
	switch st := s.Status(); st.Code {
	case codes.Error:
		sp.Status().SetCode(ptrace.StatusCodeError)
		sp.Status().SetMessage(st.Description)
	case codes.Ok:
		sp.Status().SetCode(ptrace.StatusCodeOk)
	}
}

// spanKinds pairs each span kind of the SDK with its OTLP counterpart:
// spanKind reads it one way (encoding a span), otelKind the other (reading
// one back).
var spanKinds = []struct {
	sdk  trace.SpanKind
	otlp ptrace.SpanKind
}{
	{trace.SpanKindUnspecified, ptrace.SpanKindUnspecified},
	{trace.SpanKindInternal, ptrace.SpanKindInternal},
	{trace.SpanKindServer, ptrace.SpanKindServer},
	{trace.SpanKindClient, ptrace.SpanKindClient},
	{trace.SpanKindProducer, ptrace.SpanKindProducer},
	{trace.SpanKindConsumer, ptrace.SpanKindConsumer},
}

// spanKind is the OTLP span kind of k; an unknown kind is unspecified.
func spanKind(k trace.SpanKind) ptrace.SpanKind {
	for _, p := range spanKinds {
		if p.sdk == k {
			return p.otlp
		}
	}
	return ptrace.SpanKindUnspecified
}

// putAttr sets kv in m. Keys repeated in the span keep their last value,
// as in OTLP exporters.
func putAttr(m pcommon.Map, kv attribute.KeyValue) {
	k := string(kv.Key)
	switch kv.Value.Type() {
	case attribute.BOOL:
		m.PutBool(k, kv.Value.AsBool())
	case attribute.INT64:
		m.PutInt(k, kv.Value.AsInt64())
	case attribute.FLOAT64:
		m.PutDouble(k, kv.Value.AsFloat64())
	case attribute.STRING:
		m.PutStr(k, kv.Value.AsString())
	case attribute.BOOLSLICE:
		putSlice(m, k, kv.Value.AsBoolSlice(), pcommon.Value.SetBool)
	case attribute.INT64SLICE:
		putSlice(m, k, kv.Value.AsInt64Slice(), pcommon.Value.SetInt)
	case attribute.FLOAT64SLICE:
		putSlice(m, k, kv.Value.AsFloat64Slice(), pcommon.Value.SetDouble)
	case attribute.STRINGSLICE:
		putSlice(m, k, kv.Value.AsStringSlice(), pcommon.Value.SetStr)
	default:
		m.PutStr(k, kv.Value.String())
	}
}

// putSlice sets k in m to a slice holding vs, each element set with set.
func putSlice[T any](m pcommon.Map, k string, vs []T, set func(pcommon.Value, T)) {
	s := m.PutEmptySlice(k)
	for _, v := range vs {
		set(s.AppendEmpty(), v)
	}
}
