package spanlog

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentrr/agentrr/boundary"
)

// Bundles.
//
// A bundle is one run in one file, to attach to a bug report or commit to a
// repository: OTLP JSON, one TracesData object on one line (the OpenTelemetry
// file exporter's "JSON lines" format, which the Collector's otlpjsonfile
// receiver and replay --from-file read), optionally gzip-compressed. It
// holds one resource (the run's, from its header), the run's root span
// (rebuilt from the header and end record: boundary.PutRootSpan) and every
// boundary span exactly as it is stored, in seq order. Nothing is added and
// nothing is dropped, so a run exported, imported and exported again is the
// same bytes.

// recorderScope is the instrumentation scope of a bundle's root span: the
// scope otelrr records with.
const recorderScope = "github.com/agentrr/agentrr/otelrr"

// A bundle protects itself as a sealed file does, so that a byte changed
// anywhere is found (OTLP JSON has no checksum of its own, and a flipped
// byte in an attribute's name silently changes what a span says): the
// run's resource carries AttrBundleFormat, and a second resource, with no
// spans, carries AttrBundleDigest, the SHA-256 of the run's resource spans
// alone as OTLP JSON. A reader that does not know them sees a resource
// attribute and an empty resource, both harmless.
const (
	AttrBundleFormat = "agentrr.bundle.format"
	AttrBundleDigest = "agentrr.bundle.sha256"
	bundleFormat     = 1
)

// MaxBundleSize bounds what ReadBundle reads (after decompression).
const MaxBundleSize = 1 << 30

// RunTraces returns the run traceID as OTLP traces, as a bundle holds it,
// and the run as ReadRun reads it: a damaged run gives the whole prefix
// before the damage; a run that did not end has a root span without
// agentrr.boundaries.
func (s *Store) RunTraces(traceID string) (ptrace.Traces, *Run, error) {
	run := &Run{}
	var raws [][]byte
	err := s.scan(traceID, true, func(info RunInfo, rec *boundary.Record, raw []byte) {
		if rec != nil {
			run.Records = append(run.Records, *rec)
			raws = append(raws, slices.Clone(raw))
		}
		run.Info = info
	})
	if err != nil {
		return ptrace.Traces{}, nil, err
	}
	td, err := bundleTraces(run.Info, run.Records, raws)
	return td, run, err
}

// bundleTraces builds the OTLP traces of a run from its info and its
// boundaries as stored (raws[i] holds records[i]).
func bundleTraces(info RunInfo, records []boundary.Record, raws [][]byte) (ptrace.Traces, error) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	res := maps.Clone(info.Resource)
	if res == nil {
		res = map[string]string{}
	}
	if _, ok := res["service.name"]; !ok && info.Service != "" {
		res["service.name"] = info.Service
	}
	ra := rs.Resource().Attributes()
	for _, k := range slices.Sorted(maps.Keys(res)) { // every bundle of a run is the same bytes
		ra.PutStr(k, res[k])
	}
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName(recorderScope)
	root := ss.Spans().AppendEmpty()
	boundary.PutRunRoot(root, info.RunMeta, info.Ended, records)
	var cur ptrace.ScopeSpans
	var curScope string
	for i, raw := range raws {
		stored, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(raw)
		if err != nil {
			return td, fmt.Errorf("boundary seq %d: %w", records[i].Seq, err)
		}
		srss := stored.ResourceSpans()
		for j := 0; j < srss.Len(); j++ {
			sss := srss.At(j).ScopeSpans()
			for k := 0; k < sss.Len(); k++ {
				src := sss.At(k)
				key := src.Scope().Name() + "\x00" + src.Scope().Version() + "\x00" + src.SchemaUrl()
				if cur == (ptrace.ScopeSpans{}) || key != curScope {
					cur = rs.ScopeSpans().AppendEmpty()
					src.Scope().CopyTo(cur.Scope())
					cur.SetSchemaUrl(src.SchemaUrl())
					curScope = key
				}
				src.Spans().MoveAndAppendTo(cur.Spans())
			}
		}
	}
	return td, nil
}

// BundleOptions configure WriteBundle.
type BundleOptions struct {
	// Gzip compresses the bundle.
	Gzip bool
}

// WriteBundle writes run traceID to w as a bundle and returns the run as
// it was read (a damaged run's bundle holds the whole prefix before the
// damage; the caller says so).
func (s *Store) WriteBundle(w io.Writer, traceID string, opts BundleOptions) (*Run, error) {
	td, run, err := s.RunTraces(traceID)
	if err != nil {
		return nil, err
	}
	b, err := encodeBundle(td)
	if err != nil {
		return run, fmt.Errorf("encode run %s: %w", traceID, err)
	}
	if opts.Gzip {
		// No name and no time in the header: the same run, the same bytes.
		zw, _ := gzip.NewWriterLevel(w, gzip.BestCompression)
		if _, err := zw.Write(b); err != nil {
			return run, err
		}
		return run, zw.Close()
	}
	_, err = w.Write(b)
	return run, err
}

// encodeBundle marks the run's traces td as a bundle, adds its digest and
// encodes it as one line of OTLP JSON.
func encodeBundle(td ptrace.Traces) ([]byte, error) {
	td.ResourceSpans().At(0).Resource().Attributes().PutInt(AttrBundleFormat, bundleFormat)
	sum, err := bundleDigest(td, -1)
	if err != nil {
		return nil, err
	}
	td.ResourceSpans().AppendEmpty().Resource().Attributes().PutStr(AttrBundleDigest, sum)
	b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// bundleDigest is the hex SHA-256 of the OTLP JSON of td's resource spans
// but the one at index skip.
func bundleDigest(td ptrace.Traces, skip int) (string, error) {
	only := ptrace.NewTraces()
	for i, rs := range td.ResourceSpans().All() {
		if i != skip {
			rs.CopyTo(only.ResourceSpans().AppendEmpty())
		}
	}
	b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(only)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// checkDigests checks the digests of tds, and that a run marked as a
// bundle has its digest; it returns what is wrong ("" when nothing is).
func checkDigests(tds []ptrace.Traces) string {
	marked, digests := false, 0
	for n, td := range tds {
		for i, rs := range td.ResourceSpans().All() {
			attrs := rs.Resource().Attributes()
			if _, ok := attrs.Get(AttrBundleFormat); ok {
				marked = true
			}
			v, ok := attrs.Get(AttrBundleDigest)
			if !ok {
				continue
			}
			digests++
			want, err := bundleDigest(td, i)
			if err != nil || rs.ScopeSpans().Len() > 0 || v.AsString() != want {
				return fmt.Sprintf("the bundle is damaged: its OTLP JSON object %d does not match its digest (%s): it was changed after it was written", n+1, AttrBundleDigest)
			}
		}
	}
	if marked && digests == 0 {
		return fmt.Sprintf("the bundle is damaged: its digest (%s) is missing (cut short, or changed after it was written)", AttrBundleDigest)
	}
	return ""
}

// Bundle is a run read from a bundle: its verdict and boundaries as a
// store read gives them (Run), and what Import stores.
type Bundle struct {
	Run
	// Gzip says the bundle was gzip-compressed.
	Gzip bool
	kv   *memSource // the run's keys, as a sealed file holds them
}

// ErrBundle matches, with errors.Is, an error saying that a file is not a
// bundle at all (not OTLP JSON, no agentrr run in it, several runs).
// A bundle that is cut short or garbled is damaged instead (ErrDamaged).
var ErrBundle = errors.New("not an agentrr bundle")

type bundleError struct{ msg string }

func (e *bundleError) Error() string        { return e.msg }
func (e *bundleError) Is(target error) bool { return target == ErrBundle }

// IsBundleName reports whether a file named name is read as a bundle
// where a folder of bundles is read (agentrr test DIR,
// rrtest.ReplayFolder): *.json or *.json.gz, as agentrr export --fixture
// names them.
func IsBundleName(name string) bool {
	return strings.HasSuffix(name, ".json") || strings.HasSuffix(name, ".json.gz")
}

// ReadBundle reads a bundle from r and checks it as a store read checks a
// run: it returns the bundle with its verdict in Run.Info (complete,
// truncated — a run that did not end —, or damaged with the reason: a
// boundary missing, not whole or carried twice, a bundle cut short or not
// decoding past some point, where the boundaries before the damage are
// read). It returns an error wrapping ErrBundle for input that holds no
// run (or several), and ErrDamaged for input that cannot be read at all
// (a gzip stream or JSON cut before the run's spans).
func ReadBundle(r io.Reader) (*Bundle, error) {
	br := bufio.NewReader(r)
	b := &Bundle{}
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, storeDamaged("the bundle is damaged: its gzip header does not read: %v", err)
		}
		b.Gzip = true
		r = zr
	} else {
		r = br
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxBundleSize+1))
	cut := ""
	if err != nil {
		// What came before a damaged gzip stream is still read; the bundle
		// is damaged.
		cut = fmt.Sprintf("the bundle is damaged: its gzip stream does not read whole (%v)", oneLine(err))
	}
	if len(data) > MaxBundleSize {
		return nil, &bundleError{fmt.Sprintf("the bundle is larger than %d bytes", MaxBundleSize)}
	}
	var tds []ptrace.Traces
	dec := json.NewDecoder(bytes.NewReader(data))
	for n := 1; ; n++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			if cut == "" {
				var syn *json.SyntaxError
				switch {
				case errors.Is(err, io.ErrUnexpectedEOF):
					cut = fmt.Sprintf("the bundle is damaged: it ends at byte %d in the middle of its JSON (cut short)", len(data))
				case errors.As(err, &syn):
					cut = fmt.Sprintf("the bundle is damaged: its JSON does not read at byte %d (%v)", syn.Offset, err)
				default:
					cut = fmt.Sprintf("the bundle is damaged: %v", err)
				}
			}
			break
		}
		td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(raw)
		if err != nil {
			if cut == "" {
				cut = fmt.Sprintf("the bundle is damaged: its OTLP JSON object %d does not decode (%v)", n, oneLine(err))
			}
			break
		}
		tds = append(tds, td)
	}
	if cut == "" {
		cut = checkDigests(tds)
	}
	if err := b.fromTraces(tds, cut); err != nil {
		return nil, err
	}
	return b, nil
}

// fromTraces sorts the agentrr spans of tds into the bundle's run.
func (b *Bundle) fromTraces(tds []ptrace.Traces, cut string) error {
	type span struct {
		sp    ptrace.Span
		ss    ptrace.ScopeSpans
		rs    ptrace.ResourceSpans
		isRun bool
	}
	byRun := map[string][]span{}
	var order []string
	for _, td := range tds {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					attrs := sp.Attributes()
					_, isBoundary := attrs.Get(boundary.AttrKind)
					_, isRun := attrs.Get(boundary.AttrRun)
					if !isBoundary && !isRun {
						continue
					}
					tid := sp.TraceID()
					id := traceHex(tid)
					if v, ok := attrs.Get(boundary.AttrRunID); ok && v.AsString() != "" {
						id = strings.ToLower(v.AsString())
					}
					if _, ok := byRun[id]; !ok {
						order = append(order, id)
					}
					byRun[id] = append(byRun[id], span{sp, ss, rs, isRun && !isBoundary})
				}
			}
		}
	}
	switch len(order) {
	case 0:
		if cut != "" {
			return storeDamaged("%s, before any of its spans", cut)
		}
		return &bundleError{fmt.Sprintf("no agentrr run in it (no span with %s or %s)", boundary.AttrKind, boundary.AttrRun)}
	case 1:
	default:
		return &bundleError{fmt.Sprintf("it holds %d runs (%s): a bundle holds one", len(order), strings.Join(order, ", "))}
	}
	id := order[0]
	trace, err := ParseTraceID(id)
	if err != nil {
		return &bundleError{fmt.Sprintf("run id %q: %v", id, err)}
	}
	kv := &memSource{m: map[string][]byte{}}
	kv.m[string(versionKey())] = []byte{dbFormatVersion}
	var problems []string
	var rootFound bool
	var rsrc pcommon.Resource
	haveRes := false
	spanOf := map[int64]pcommon.SpanID{}
	for _, s := range byRun[id] {
		if s.isRun {
			if rootFound {
				continue // a copy of the root span
			}
			rootFound = true
			meta, end, err := boundary.ParseRootSpan(s.sp, s.rs.Resource())
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			meta.TraceID = id
			delete(meta.Resource, AttrBundleFormat)
			if len(meta.Resource) == 0 {
				meta.Resource = nil
			}
			hdr, _ := json.Marshal(meta)
			kv.m[string(headerKey(trace))] = hdr
			if end != nil {
				v, _ := json.Marshal(end)
				kv.m[string(endKey(trace))] = v
			}
			continue
		}
		if !haveRes {
			rsrc, haveRes = s.rs.Resource(), true
		}
		v, ok := s.sp.Attributes().Get(boundary.AttrSeq)
		if !ok || v.Type() != pcommon.ValueTypeInt || v.Int() < 0 || v.Int() > 1<<40 {
			problems = append(problems, fmt.Sprintf("boundary span %s %q has no usable %s", s.sp.SpanID(), s.sp.Name(), boundary.AttrSeq))
			continue
		}
		seq := v.Int()
		if prev, ok := spanOf[seq]; ok {
			if prev != s.sp.SpanID() {
				problems = append(problems, fmt.Sprintf("seq %d is carried by two spans (%s and %s)", seq, prev, s.sp.SpanID()))
			}
			continue
		}
		spanOf[seq] = s.sp.SpanID()
		data, err := encodeOne(s.ss.Scope(), s.ss.SchemaUrl(), s.sp)
		if err != nil {
			problems = append(problems, fmt.Sprintf("seq %d: %v", seq, err))
			continue
		}
		kv.m[string(boundaryKey(trace, "", seq))] = data
	}
	if !rootFound && haveRes {
		// No root span: the run did not end (or its root was not exported).
		meta, _, _ := boundary.ParseRootSpan(ptrace.NewSpan(), rsrc)
		meta.TraceID, meta.Name, meta.RootSpan = id, "", ""
		delete(meta.Resource, AttrBundleFormat)
		hdr, _ := json.Marshal(meta)
		kv.m[string(headerKey(trace))] = hdr
	}
	kv.sort()
	b.kv = kv
	b.Info = RunInfo{}
	var s Store
	err = s.scanSource(id, trace, kv, true, "", false, func(info RunInfo, rec *boundary.Record, _ []byte) {
		if rec != nil {
			b.Records = append(b.Records, *rec)
		}
		b.Info = info
	})
	if err != nil {
		return err
	}
	problems = append(problems, cut)
	for _, p := range problems {
		if p != "" && b.Info.Status != StatusDamaged {
			b.Info.Status, b.Info.Reason = StatusDamaged, p
		}
	}
	if cut != "" && b.Info.Status == StatusDamaged && b.Info.Reason != cut {
		b.Info.Reason += "; " + cut
	}
	return nil
}

// memSource is a run's keys in memory (a bundle read back), sorted.
type memSource struct {
	m    map[string][]byte
	keys []string
}

func (m *memSource) sort() {
	m.keys = slices.Sorted(maps.Keys(m.m))
}

func (m *memSource) get(key []byte) ([]byte, bool, error) {
	v, ok := m.m[string(key)]
	return v, ok, nil
}

func (m *memSource) each(lower, upper []byte, fn func(key []byte, value func() ([]byte, error)) bool) error {
	i := sort.SearchStrings(m.keys, string(lower))
	for ; i < len(m.keys) && (upper == nil || m.keys[i] < string(upper)); i++ {
		k := m.keys[i]
		if !fn([]byte(k), func() ([]byte, error) { return m.m[k], nil }) {
			break
		}
	}
	return nil
}

// ImportResult says what Import did.
type ImportResult struct {
	// TraceID is the run's id; Status its verdict.
	TraceID string
	Status  Status
	// Boundaries is the number of boundaries stored.
	Boundaries int64
	// Existed says the store already held the run, identical: nothing was
	// written.
	Existed bool
}

// Import stores the run of bundle b as a sealed run. A damaged bundle is
// refused (an error matching ErrDamaged: nothing is stored); a truncated
// one is stored as truncated. A run the store already has is left alone:
// when it is the same run (its bundle the same bytes) Import succeeds with
// Existed set, otherwise it fails with ErrRunExists.
func (s *Store) Import(b *Bundle) (ImportResult, error) {
	id := b.Info.TraceID
	res := ImportResult{TraceID: id, Status: b.Info.Status, Boundaries: b.Info.Boundaries}
	if b.Info.Status == StatusDamaged {
		return res, storeDamaged("run %s is damaged in the bundle (%s): nothing was imported", id, b.Info.Reason)
	}
	if _, err := s.Resolve(id); err == nil {
		same, err := s.sameRun(id, b)
		if err != nil {
			return res, err
		}
		if !same {
			return res, fmt.Errorf("%w: run %s is in store %s with other contents; remove it first (agentrr rm %s) to import this one", ErrRunExists, id, s.root, id)
		}
		res.Existed = true
		return res, nil
	}
	if err := s.upgradeFormat(); err != nil {
		return res, err
	}
	path := s.sealedPath(id)
	tmp := path + ".tmp-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	w, err := createSealed(tmp)
	if err != nil {
		return res, fmt.Errorf("import run %s: %w", id, err)
	}
	for _, k := range b.kv.keys {
		if err := w.Set([]byte(k), b.kv.m[k]); err != nil {
			w.Close()
			os.Remove(tmp)
			return res, fmt.Errorf("import run %s: %w", id, err)
		}
	}
	if err := w.Close(); err != nil {
		os.Remove(tmp)
		return res, fmt.Errorf("import run %s: %w", id, err)
	}
	// A link, not a rename: it fails if the run appeared meanwhile.
	err = os.Link(tmp, path)
	os.Remove(tmp)
	if err != nil {
		if fileExists(path) {
			return res, fmt.Errorf("%w: run %s appeared in store %s while it was imported", ErrRunExists, id, s.root)
		}
		return res, fmt.Errorf("import run %s: %w", id, err)
	}
	if err := syncDir(s.runsDir()); err != nil {
		return res, err
	}
	if fileExists(s.markerPath(id)) || fileExists(s.runDir(id)) {
		// Recorded here at the same moment: the store's own run wins.
		os.Remove(path)
		return res, fmt.Errorf("%w: run %s is being recorded in store %s", ErrRunExists, id, s.root)
	}
	s.indexPut(id, b.Info)
	return res, nil
}

// sameRun reports whether the store's run id is the bundle's run.
func (s *Store) sameRun(id string, b *Bundle) (bool, error) {
	var mine, theirs bytes.Buffer
	if _, err := s.WriteBundle(&mine, id, BundleOptions{}); err != nil {
		return false, err
	}
	td, err := bundleTracesOf(b)
	if err != nil {
		return false, err
	}
	enc, err := encodeBundle(td)
	if err != nil {
		return false, err
	}
	theirs.Write(enc)
	return bytes.Equal(mine.Bytes(), theirs.Bytes()), nil
}

// bundleTracesOf is the bundle's run as a store would export it.
func bundleTracesOf(b *Bundle) (ptrace.Traces, error) {
	trace, _ := ParseTraceID(b.Info.TraceID)
	var raws [][]byte
	prefix := boundaryPrefix(trace, "")
	b.kv.each(prefix, prefixUpperBound(prefix), func(_ []byte, value func() ([]byte, error)) bool {
		v, _ := value()
		raws = append(raws, v)
		return true
	})
	return bundleTraces(b.Info, b.Records, raws[:len(b.Records)])
}
