package replayer

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/spanlog"
)

// truncatedSuffix marks a string attribute cut in a forwarded copy (the
// value of exporter.TruncatedSuffix; replayer does not import exporter).
const truncatedSuffix = ".truncated"

// LoadOTLPJSON reads OTLP JSON traces from r and returns the recording of
// the run traceID: a full trace id or a unique prefix of one of the traces
// in r, or "" when r holds exactly one run.
//
// r may hold one OTLP JSON TracesData object ({"resourceSpans": …}), a
// Jaeger query API v3 response ({"result": {"resourceSpans": …}}), or
// several such objects one after the other, as the OpenTelemetry
// Collector's file exporter writes them (one per line). Spans of the run may
// be spread over any number of objects and resourceSpans.
//
// Spans are deduplicated by span id: a span exported twice (a run
// re-exported with `agentrr export`, a retried export) counts once. Two
// different boundary spans with one span id, or two spans with one seq, are
// refused as damage.
//
// The run root span (the span with agentrr.run) says how many boundaries the
// run made. A run whose boundary spans are not all there and whole — a seq
// missing (dropped by sampling, by a collector, or not yet exported), a
// boundary span without agentrr.seq, a payload cut when forwarded, a payload
// that does not match its hash — is refused with an *IncompleteError naming
// the boundaries, never replayed as if whole. A run without its root span
// (it did not end, or its root span was not exported) loads as Truncated:
// the replay serves what is there and reports the end of the recording as a
// divergence.
func LoadOTLPJSON(r io.Reader, traceID string) (*Recording, error) {
	tds, err := decodeOTLPJSON(r)
	if err != nil {
		return nil, err
	}
	return recordingFromTraces(tds, traceID, "the OTLP JSON input")
}

// FetchJaeger fetches trace traceID (all 32 hex digits: Jaeger does not
// resolve prefixes) from the Jaeger query service at baseURL (for example
// http://127.0.0.1:16686) through its API v3 (GET /api/v3/traces/<id>, OTLP
// JSON) and returns it as a recording, checked as LoadOTLPJSON checks it.
// A trace Jaeger does not have yields an error wrapping spanlog.ErrNotFound.
func FetchJaeger(ctx context.Context, baseURL, traceID string) (*Recording, error) {
	id := strings.ToLower(strings.TrimSpace(traceID))
	if _, err := spanlog.ParseTraceID(id); err != nil {
		return nil, fmt.Errorf("%w (Jaeger needs the whole trace id)", err)
	}
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("jaeger URL %q: want the query service's base URL, such as http://127.0.0.1:16686", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v3/traces/" + id
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := jaegerClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch trace %s from Jaeger: %w", id, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("%w: trace %s is not in Jaeger at %s (spans reach Jaeger a few seconds after they end; check the id, and that the agent forwarded to this Jaeger)", spanlog.ErrNotFound, id, baseURL)
	case resp.StatusCode != http.StatusOK:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("fetch trace %s from Jaeger at %s: %s: %s", id, baseURL, resp.Status, bytes.TrimSpace(body))
	}
	tds, err := decodeOTLPJSON(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("trace %s from Jaeger at %s: %w", id, baseURL, err)
	}
	return recordingFromTraces(tds, id, "Jaeger at "+baseURL)
}

// jaegerClient bounds a fetch that a stuck Jaeger would otherwise make
// hang forever; ctx can end it sooner.
var jaegerClient = &http.Client{Timeout: 2 * time.Minute}

// decodeOTLPJSON decodes every JSON object in r as OTLP traces, unwrapping
// Jaeger's {"result": …}.
func decodeOTLPJSON(r io.Reader) ([]ptrace.Traces, error) {
	dec := json.NewDecoder(r)
	var out []ptrace.Traces
	for n := 1; ; n++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("OTLP JSON object %d: %w", n, err)
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(raw, &top); err != nil {
			return nil, fmt.Errorf("OTLP JSON object %d: not a JSON object: %w", n, err)
		}
		if e, ok := top["error"]; ok && len(top) == 1 {
			return nil, fmt.Errorf("OTLP JSON object %d is an error response: %s", n, e)
		}
		if res, ok := top["result"]; ok {
			raw = res
		}
		td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(raw)
		if err != nil {
			return nil, fmt.Errorf("OTLP JSON object %d: %w", n, err)
		}
		out = append(out, td)
	}
	if len(out) == 0 {
		return nil, errors.New("no OTLP JSON traces in the input")
	}
	return out, nil
}

// IncompleteError is returned for a trace whose boundary spans are not all
// present and whole. It matches ErrDamaged with errors.Is.
type IncompleteError struct {
	TraceID string
	// Source says where the trace came from (a file, a Jaeger URL).
	Source string
	// Expected is the boundary count the run root span gives (-1 without it).
	Expected int64
	// Missing lists the seqs no span carries.
	Missing []int64
	// NoSeq describes boundary spans that carry no usable agentrr.seq.
	NoSeq []string
	// Damaged describes boundaries that are there but not whole (cut when
	// forwarded, payload not matching its hash, conflicting copies).
	Damaged []string
}

func (e *IncompleteError) Error() string {
	var parts []string
	if len(e.Missing) > 0 {
		p := "boundaries missing: seq " + seqRanges(e.Missing)
		if e.Expected >= 0 {
			p += fmt.Sprintf(" (the run root span counts %d)", e.Expected)
		}
		parts = append(parts, p+" — dropped by sampling or a collector, or not exported yet")
	}
	if len(e.NoSeq) > 0 {
		parts = append(parts, fmt.Sprintf("%d boundary span(s) without a usable %s: %s", len(e.NoSeq), boundary.AttrSeq, strings.Join(e.NoSeq, "; ")))
	}
	parts = append(parts, e.Damaged...)
	return fmt.Sprintf("trace %s from %s is incomplete and cannot be replayed: %s", e.TraceID, e.Source, strings.Join(parts, "; "))
}

// Is makes IncompleteError match ErrDamaged.
func (e *IncompleteError) Is(target error) bool { return target == ErrDamaged }

// seqRanges formats sorted seqs as "3, 5-7".
func seqRanges(seqs []int64) string {
	var b strings.Builder
	for i := 0; i < len(seqs); {
		j := i
		for j+1 < len(seqs) && seqs[j+1] == seqs[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		if i == j {
			b.WriteString(strconv.FormatInt(seqs[i], 10))
		} else {
			fmt.Fprintf(&b, "%d-%d", seqs[i], seqs[j])
		}
		i = j + 1
	}
	return b.String()
}

type otlpSpan struct {
	span ptrace.Span
	res  pcommon.Resource
}

// recordingFromTraces picks run traceID out of tds and checks it whole.
func recordingFromTraces(tds []ptrace.Traces, traceID, source string) (*Recording, error) {
	byTrace := map[string][]otlpSpan{} // by run id
	var order []string
	for _, td := range tds {
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			rs := rss.At(i)
			sss := rs.ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				spans := sss.At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					sp := spans.At(k)
					if !isAgentrrSpan(sp) {
						continue
					}
					id := runIDOf(sp)
					if _, ok := byTrace[id]; !ok {
						order = append(order, id)
					}
					byTrace[id] = append(byTrace[id], otlpSpan{sp, rs.Resource()})
				}
			}
		}
	}
	id, err := pickTrace(order, traceID, source)
	if err != nil {
		return nil, err
	}
	return buildRecording(byTrace[id], id, source)
}

// runIDOf is the run an agentrr span belongs to: the one it names
// (agentrr.run.id, when its trace holds several runs), else its trace's.
func runIDOf(sp ptrace.Span) string {
	if v, ok := sp.Attributes().Get(boundary.AttrRunID); ok && v.AsString() != "" {
		return strings.ToLower(v.AsString())
	}
	tid := sp.TraceID()
	return hex.EncodeToString(tid[:])
}

func isAgentrrSpan(sp ptrace.Span) bool {
	attrs := sp.Attributes()
	if _, ok := attrs.Get(boundary.AttrKind); ok {
		return true
	}
	_, ok := attrs.Get(boundary.AttrRun)
	return ok
}

func pickTrace(names []string, want, source string) (string, error) {
	if len(names) == 0 {
		return "", fmt.Errorf("%w: %s holds no agentrr spans (spans with %s or %s)", spanlog.ErrNotFound, source, boundary.AttrKind, boundary.AttrRun)
	}
	p := strings.ToLower(strings.TrimSpace(want))
	if p == "" {
		if len(names) == 1 {
			return names[0], nil
		}
		return "", &spanlog.AmbiguousError{Prefix: "", Candidates: names}
	}
	for _, n := range names {
		if n == p {
			return n, nil
		}
	}
	var matches []int
	for i, n := range names {
		if strings.HasPrefix(n, p) {
			matches = append(matches, i)
		}
	}
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("%w %q in %s (it holds %s)", spanlog.ErrNotFound, want, source, strings.Join(names, ", "))
	case 1:
		return names[matches[0]], nil
	}
	cands := make([]string, len(matches))
	for i, m := range matches {
		cands[i] = names[m]
	}
	return "", &spanlog.AmbiguousError{Prefix: want, Candidates: cands}
}

// buildRecording turns the agentrr spans of one trace into a recording.
func buildRecording(spans []otlpSpan, traceID, source string) (*Recording, error) {
	inc := &IncompleteError{TraceID: traceID, Source: source, Expected: -1}
	var (
		root    *otlpSpan
		res     pcommon.Resource
		haveRes bool
		seen    = map[pcommon.SpanID]*boundary.Record{}
		bySeq   = map[int64]*boundary.Record{}
		records []*boundary.Record
	)
	for i := range spans {
		s := &spans[i]
		attrs := s.span.Attributes()
		if _, ok := attrs.Get(boundary.AttrKind); !ok {
			// The run root span; a copy of it is ignored.
			if root == nil {
				root = s
			}
			continue
		}
		if !haveRes {
			res, haveRes = s.res, true
		}
		rec, err := boundary.FromSpan(s.span)
		if err != nil {
			inc.NoSeq = append(inc.NoSeq, fmt.Sprintf("span %s %q: %v", s.span.SpanID(), s.span.Name(), err))
			continue
		}
		if prev, ok := seen[rec.SpanID]; ok {
			if prev.Seq != rec.Seq || prev.PayloadHash != rec.PayloadHash {
				inc.Damaged = append(inc.Damaged, fmt.Sprintf("span %s appears twice with different contents (seq %d and %d)", rec.SpanID, prev.Seq, rec.Seq))
			}
			continue
		}
		r := &rec
		seen[rec.SpanID] = r
		if prev, ok := bySeq[rec.Seq]; ok {
			inc.Damaged = append(inc.Damaged, fmt.Sprintf("seq %d is carried by two spans (%s and %s)", rec.Seq, prev.SpanID, rec.SpanID))
			continue
		}
		bySeq[rec.Seq] = r
		records = append(records, r)
	}
	if root != nil {
		res, haveRes = root.res, true
	}
	sort.Slice(records, func(i, j int) bool { return records[i].Seq < records[j].Seq })

	var ended bool
	if root != nil {
		if v, ok := root.span.Attributes().Get(boundary.AttrBoundaries); ok && v.Type() == pcommon.ValueTypeInt {
			inc.Expected, ended = v.Int(), true
		}
	}
	n := int64(0)
	if len(records) > 0 {
		n = records[len(records)-1].Seq + 1
	}
	if inc.Expected > n {
		n = inc.Expected
	}
	if ended && inc.Expected < n {
		inc.Damaged = append(inc.Damaged, fmt.Sprintf("the run root span counts %d boundaries but the trace holds seq %d", inc.Expected, n-1))
	}
	const maxListed = 1 << 16
	for seq := int64(0); seq < n && len(inc.Missing) < maxListed; seq++ {
		if _, ok := bySeq[seq]; !ok {
			inc.Missing = append(inc.Missing, seq)
		}
	}
	for _, r := range records {
		if cut, marks := cutPayloads(r); cut != "" {
			inc.Damaged = append(inc.Damaged, fmt.Sprintf("seq %d: %s cut when forwarded (%s); raise the forwarding payload limit (AGENTRR_FORWARD_PAYLOAD_LIMIT) or replay from the agentrr store", r.Seq, cut, marks))
			continue
		}
		if err := r.Check(); err != nil {
			inc.Damaged = append(inc.Damaged, err.Error())
		}
	}
	if len(inc.Missing) == 0 && len(inc.NoSeq) == 0 && len(inc.Damaged) == 0 {
		// Whole in seq order: each branch must be whole in index order too.
		recs := make([]boundary.Record, len(records))
		for i, r := range records {
			recs[i] = *r
		}
		if _, err := boundary.BranchIndex(recs); err != nil {
			inc.Damaged = append(inc.Damaged, err.Error())
		}
	}
	if len(inc.Missing) > 0 || len(inc.NoSeq) > 0 || len(inc.Damaged) > 0 {
		return nil, inc
	}
	if len(records) == 0 && root == nil {
		return nil, fmt.Errorf("%w: trace %s in %s has no agentrr spans", spanlog.ErrNotFound, traceID, source)
	}

	rec := &Recording{TraceID: traceID, Records: make([]boundary.Record, len(records))}
	for i, r := range records {
		rec.Records[i] = *r
	}
	info := spanlog.RunInfo{
		RunMeta:    spanlog.RunMeta{TraceID: traceID},
		Boundaries: int64(len(records)),
		Status:     spanlog.StatusComplete,
	}
	if !haveRes {
		res = pcommon.NewResource()
	}
	rootSpan := ptrace.NewSpan()
	if root != nil {
		rootSpan = root.span
	}
	meta, end, err := boundary.ParseRootSpan(rootSpan, res)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if root == nil {
		meta.Name, meta.RootSpan, meta.Start = "", "", time.Time{}
		if len(records) > 0 {
			meta.Start = records[0].Start
		}
	}
	meta.TraceID = traceID
	if len(records) > 0 {
		if t := records[0].TraceIDString(); t != traceID {
			meta.Trace = t
		}
	}
	info.RunMeta = meta
	if ended {
		end.Boundaries = inc.Expected
		info.Ended = end
	}
	if !ended {
		rec.Truncated = true
		info.Status = spanlog.StatusTruncated
		info.Reason = fmt.Sprintf("the trace has no ended run root span (%s with %s): the run did not end, or its root span was not exported; %d boundaries present", boundary.AttrRun, boundary.AttrBoundaries, len(records))
	}
	rec.Info = info
	return rec, nil
}

// cutPayloads names the payloads of r marked as cut when forwarded, and
// the marking attributes; "" when none is.
func cutPayloads(r *boundary.Record) (cut, marks string) {
	var names, keys []string
	for _, k := range []string{boundary.AttrRequest, boundary.AttrResponse, boundary.AttrError} {
		if v, ok := r.Attributes[k+truncatedSuffix].(bool); ok && v {
			names = append(names, strings.TrimPrefix(k, "agentrr."))
			keys = append(keys, k+truncatedSuffix)
		}
	}
	return strings.Join(names, " and "), strings.Join(keys, ", ")
}
