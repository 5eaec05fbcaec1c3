package exporter

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

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
	var tid pcommon.TraceID
	if t, err := spanlog.ParseTraceID(info.TraceID); err == nil {
		tid = t
	}

	root := ss.Spans().AppendEmpty()
	root.SetTraceID(tid)
	root.SetSpanID(rootSpanID(tid, records))
	root.SetName(info.Name)
	root.SetKind(ptrace.SpanKindInternal)
	start := info.Start
	end := start
	if len(records) > 0 {
		if start.IsZero() {
			start = records[0].Start
		}
		end = records[len(records)-1].End
	}
	attrs := root.Attributes()
	attrs.PutStr(boundary.AttrRun, info.Name)
	if info.ReplayOf != "" {
		attrs.PutStr(boundary.AttrReplayOf, info.ReplayOf)
		attrs.PutStr(boundary.AttrReplayMode, info.ReplayMode)
	}
	if e := info.Ended; e != nil {
		end = e.End
		attrs.PutInt(boundary.AttrBoundaries, e.Boundaries)
		if e.Verdict != "" {
			attrs.PutStr(boundary.AttrReplayVerdict, e.Verdict)
			attrs.PutInt("agentrr.replay.divergences", int64(e.Divergences))
		}
		switch {
		case e.Error != "":
			root.Status().SetCode(ptrace.StatusCodeError)
			root.Status().SetMessage(e.Error)
		case e.Verdict != "" && e.Verdict != "faithful":
			root.Status().SetCode(ptrace.StatusCodeError)
			root.Status().SetMessage("replay diverged")
		}
	}
	root.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	root.SetEndTimestamp(pcommon.NewTimestampFromTime(end))

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

// rootSpanID returns the span id of the run root span: the parent shared by
// most boundaries (ties to the earliest), else an id derived from the trace
// id so that every export of the run agrees.
func rootSpanID(tid pcommon.TraceID, records []boundary.Record) pcommon.SpanID {
	own := make(map[pcommon.SpanID]bool, len(records))
	for _, r := range records {
		own[r.SpanID] = true
	}
	count := map[pcommon.SpanID]int{}
	var best pcommon.SpanID
	for _, r := range records {
		p := r.ParentSpanID
		if p.IsEmpty() || own[p] {
			continue
		}
		count[p]++
		if count[p] > count[best] {
			best = p
		}
	}
	if !best.IsEmpty() {
		return best
	}
	h := sha256.Sum256(append([]byte("agentrr.run:"), tid[:]...))
	var id pcommon.SpanID
	copy(id[:], h[:8])
	if id.IsEmpty() {
		id[7] = 1
	}
	return id
}

// ExportOptions configure ExportTraces.
type ExportOptions struct {
	// Headers are sent with every request (e.g. authorization); never logged.
	Headers map[string]string
	// PayloadLimit cuts string attribute values longer than this many bytes
	// (marked with TruncatedSuffix); 0 means DefaultPayloadLimit, < 0 no limit.
	PayloadLimit int
	// MaxRequestBytes splits the spans over several requests so that none is
	// (by estimate) larger; 0 means DefaultMaxExportBytes.
	MaxRequestBytes int
	// Client sends the requests; nil means a client with a 30 s timeout.
	Client *http.Client
}

// ExportResult says what ExportTraces sent.
type ExportResult struct {
	// URL is where the spans went.
	URL string
	// Spans and Requests count what was sent.
	Spans, Requests int
	// Truncated counts attribute values cut to the payload limit.
	Truncated int
}

// ExportTraces sends td to the OTLP/HTTP endpoint (a base URL such as
// http://127.0.0.1:4318, to which /v1/traces is added when it has no path)
// as protobuf POST requests, cutting oversized payloads and splitting the
// spans so each request fits the receiver. It fails on the first request
// the receiver does not accept, or that it accepts only partly; spans sent
// before stay sent (sending them again is harmless: same ids).
func ExportTraces(ctx context.Context, endpoint string, td ptrace.Traces, opts ExportOptions) (ExportResult, error) {
	u, err := url.Parse(strings.TrimSpace(endpoint))
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return ExportResult{}, fmt.Errorf("OTLP endpoint %q: want a URL such as http://127.0.0.1:4318", endpoint)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	res := ExportResult{URL: u.Redacted()}
	limit := opts.PayloadLimit
	if limit == 0 {
		limit = DefaultPayloadLimit
	}
	maxReq := opts.MaxRequestBytes
	if maxReq <= 0 {
		maxReq = DefaultMaxExportBytes
	}
	client := opts.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}

	td2 := ptrace.NewTraces()
	td.CopyTo(td2)
	if limit > 0 {
		res.Truncated = cutTraces(td2, limit)
	}
	for _, chunk := range splitTraces(td2, maxReq) {
		body, err := ptraceotlp.NewExportRequestFromTraces(chunk).MarshalProto()
		if err != nil {
			return res, fmt.Errorf("encode OTLP request: %w", err)
		}
		if err := postOTLP(ctx, client, res.URL, u.String(), body, opts.Headers); err != nil {
			return res, err
		}
		res.Requests++
		res.Spans += chunk.SpanCount()
	}
	return res, nil
}

func postOTLP(ctx context.Context, client *http.Client, shown, target string, body []byte, headers map[string]string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("send OTLP to %s: %w", shown, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("send OTLP to %s: %s: %s", shown, resp.Status, otlpErrorText(rb))
	}
	er := ptraceotlp.NewExportResponse()
	if len(rb) > 0 && strings.Contains(resp.Header.Get("Content-Type"), "protobuf") {
		if err := er.UnmarshalProto(rb); err == nil && er.PartialSuccess().RejectedSpans() > 0 {
			return fmt.Errorf("send OTLP to %s: %d span(s) rejected: %s", shown, er.PartialSuccess().RejectedSpans(), er.PartialSuccess().ErrorMessage())
		}
	}
	return nil
}

// otlpErrorText returns the message of an OTLP error body (a google.rpc.Status
// as protobuf or JSON), or the body itself, shortened.
func otlpErrorText(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\n' {
			return -1
		}
		return r
	}, s)
}

// cutTraces cuts string attribute values of td's spans longer than limit,
// marking each, and returns how many it cut.
func cutTraces(td ptrace.Traces, limit int) int {
	n := 0
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				attrs := spans.At(k).Attributes()
				var cut []string
				for key, v := range attrs.All() {
					if v.Type() == pcommon.ValueTypeStr && len(v.Str()) > limit {
						cut = append(cut, key)
					}
				}
				for _, key := range cut {
					v, _ := attrs.Get(key)
					v.SetStr(truncateUTF8(v.Str(), limit))
					attrs.PutBool(key+TruncatedSuffix, true)
					n++
				}
			}
		}
	}
	return n
}

// splitTraces splits td into pieces whose estimated encoded size stays under
// maxBytes (a span larger than that travels alone). Each piece keeps the
// resource and scope of its spans.
func splitTraces(td ptrace.Traces, maxBytes int) []ptrace.Traces {
	var (
		out  []ptrace.Traces
		cur  ptrace.Traces
		size int
	)
	sizer := &ptrace.ProtoMarshaler{}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			var dst ptrace.SpanSlice
			fresh := func() {
				cur = ptrace.NewTraces()
				out = append(out, cur)
				nrs := cur.ResourceSpans().AppendEmpty()
				rs.Resource().CopyTo(nrs.Resource())
				nrs.SetSchemaUrl(rs.SchemaUrl())
				nss := nrs.ScopeSpans().AppendEmpty()
				ss.Scope().CopyTo(nss.Scope())
				nss.SetSchemaUrl(ss.SchemaUrl())
				dst = nss.Spans()
				size = sizer.TracesSize(cur)
			}
			fresh()
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				sp := spans.At(k)
				n := spanProtoSize(sp) + 16
				if dst.Len() > 0 && size+n > maxBytes {
					fresh()
				}
				sp.CopyTo(dst.AppendEmpty())
				size += n
			}
		}
	}
	// Drop empty pieces (a scope with no spans).
	kept := out[:0]
	for _, t := range out {
		if t.SpanCount() > 0 {
			kept = append(kept, t)
		}
	}
	return kept
}

// spanProtoSize is the encoded size of one span.
func spanProtoSize(sp ptrace.Span) int {
	td := ptrace.NewTraces()
	sp.CopyTo(td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty())
	return (&ptrace.ProtoMarshaler{}).TracesSize(td)
}
