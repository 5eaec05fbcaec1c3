package analyze

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/agentrr/agentrr/boundary"
)

// DefaultMinLength is the shortest run of characters Why reports as found
// inside a longer text, unless ProvenanceOptions.MinLength says otherwise.
// Shorter runs are too likely to be shared by chance ("order A", a date).
const DefaultMinLength = 12

// ProvenanceOptions select what Why traces.
type ProvenanceOptions struct {
	// Path selects the text to trace inside the boundary's request, written
	// as DiffJSON writes paths (messages[3].content, body.messages[3],
	// with an optional leading "$."): the string there, or every string
	// under it. Empty: every string of the request. A path that is not in
	// the request but is under its "body" (a request made through the HTTP
	// transport) is looked up there.
	Path string
	// MinLength is the shortest run of characters reported as found inside
	// a longer text; 0 means DefaultMinLength. A string shorter than it is
	// found only where a whole value equals it.
	MinLength int
}

// Provenance is what Why found: for each string of a boundary's request,
// which earlier boundaries put its text there.
type Provenance struct {
	// Seq, Branch, Index, Kind and Name are the boundary whose request was
	// traced.
	Seq    int64         `json:"seq"`
	Branch string        `json:"branch,omitempty"`
	Index  int64         `json:"index"`
	Kind   boundary.Kind `json:"kind"`
	Name   string        `json:"name"`
	// Path is the path traced ("" for the whole request), as resolved: it
	// starts with "body." when ProvenanceOptions.Path was found there.
	Path      string `json:"path"`
	MinLength int    `json:"min_length"`
	// Strings are the strings traced, in document order.
	Strings []StringProvenance `json:"strings"`
	// Found counts the strings with at least one fragment found, NotFound
	// the others.
	Found    int `json:"found"`
	NotFound int `json:"not_found"`
	// Searched is the number of earlier boundaries whose responses (or
	// errors) were searched: those that had ended when this boundary
	// started.
	Searched int `json:"searched"`
	// Partial says why the search stopped before the end (text too
	// repetitive to search exhaustively); what was found is still exact.
	Partial string `json:"partial,omitempty"`
}

// StringProvenance is the provenance of one string of the request.
type StringProvenance struct {
	Path string `json:"path"`
	// Length is the string's length in characters (Unicode code points).
	Length int `json:"length"`
	// Value is the string, cut to MaxChangeValueBytes.
	Value string `json:"value"`
	// Found is how many of its characters are covered by Fragments.
	Found int `json:"found"`
	// Fragments are the runs of the string that earlier boundaries'
	// responses brought in, by position (longest first where several
	// start at one position).
	Fragments []Fragment `json:"fragments,omitempty"`
	// MoreFragments counts fragments left out of Fragments (at most
	// maxFragments are listed).
	MoreFragments int `json:"more_fragments,omitempty"`
	// SentBefore is the first earlier request that already held the whole
	// string: for a string not found, where the agent sent it first.
	SentBefore *Place `json:"sent_before,omitempty"`
}

// Fragment is a run of characters of a request string that an earlier
// boundary's response holds and that the agent had not sent before that
// response arrived.
type Fragment struct {
	// Start and End are character offsets in the string (End exclusive);
	// Length is End-Start.
	Start  int `json:"start"`
	End    int `json:"end"`
	Length int `json:"length"`
	// Whole is set when the fragment is the whole string.
	Whole bool `json:"whole,omitempty"`
	// Text is the fragment, cut to MaxChangeValueBytes.
	Text string `json:"text"`
	// Sources are the responses the text came from, earliest first (at
	// most maxSources; MoreSources counts the rest). Several when more
	// than one response brought the same text.
	Sources     []Place `json:"sources"`
	MoreSources int     `json:"more_sources,omitempty"`
	// Via is the first request after the (first) source that carried the
	// text before this one, and ViaCount the number of such requests: the
	// chain is source → Via → … → this request.
	Via      *Place `json:"via,omitempty"`
	ViaCount int    `json:"via_count,omitempty"`
	// Inner are the runs inside this fragment that its (first) source had
	// been sent in its request, from earlier boundaries: the chain further
	// back (the tool result quoted inside the model's reply).
	Inner []Fragment `json:"inner,omitempty"`
}

// Place is where a text was found: a part of one boundary.
type Place struct {
	Seq    int64         `json:"seq"`
	Branch string        `json:"branch,omitempty"`
	Index  int64         `json:"index"`
	Kind   boundary.Kind `json:"kind"`
	Name   string        `json:"name"`
	// Part is "request", "response", "error" (the error text of a failed
	// call) or the span attribute that holds the text
	// (gen_ai.output.messages: the model's messages as the HTTP transport
	// read them from the response, a stream's included).
	Part string `json:"part"`
	// Path is the path of the value inside Part ("" for the whole of it).
	Path string `json:"path"`
	// Decoded is set when the value at Path is a string holding a JSON
	// document (a tool call's arguments): the path inside that document.
	Decoded string `json:"decoded,omitempty"`
	// Whole is set when the text is the whole value there.
	Whole bool `json:"whole,omitempty"`
}

// The parts of a Place.
const (
	PartRequest  = "request"
	PartResponse = "response"
	PartError    = "error"
)

// Caps on what one string's provenance lists; the counts say what was left.
const (
	maxFragments = 20
	maxSources   = 5
)

// maxSearchWork and workPerByte bound the work of one Why call beyond its
// linear scan (candidate windows compared, plus bytes compared while
// extending matches) to maxSearchWork plus workPerByte for each byte
// scanned. Text shared between requests costs about one unit a byte; only
// text repeated many times over (long runs of one character, one block
// over and over in both texts) comes near the bound.
const (
	maxSearchWork = 32 << 20
	workPerByte   = 16
)

// Why traces the text of the request of the boundary with seq seq among
// records (one run's boundaries in seq order) back to the earlier
// boundaries it came from: exact substring provenance, no guessing.
//
// For each string of the request (or of the part opts.Path selects), it
// finds the runs of at least opts.MinLength characters (the whole string
// when shorter: then only a whole value that equals it counts) that the
// response of an earlier boundary holds — its response JSON's strings and
// numbers, strings inside string values that hold JSON (tool call
// arguments), its error text when the call failed, and the model's
// messages in gen_ai.output.messages — where "earlier" means the
// boundary had ended before this one started. Text the agent had already
// sent in a request before a response arrived is not credited to that
// response (see the rules on StringProvenance and Fragment): text the
// agent wrote itself and a model or tool merely echoed stays the agent's.
// Text found nowhere is reported as not found, with the first request that
// already held it, if any.
//
// Matches are exact, byte for byte, and maximal: a run cannot be extended
// on either side in both texts. Why returns an error when no boundary has
// seq seq or opts.Path names nothing in its request.
func Why(records []boundary.Record, seq int64, opts ProvenanceOptions) (*Provenance, error) {
	ti := slices.IndexFunc(records, func(r boundary.Record) bool { return r.Seq == seq })
	if ti < 0 {
		return nil, fmt.Errorf("no boundary with seq %d among %d boundaries", seq, len(records))
	}
	target := &records[ti]
	k := opts.MinLength
	if k <= 0 {
		k = DefaultMinLength
	}
	sel, err := parsePath(strings.TrimSpace(opts.Path))
	if err != nil {
		return nil, err
	}
	targets, sel, err := collectTargets(target, sel)
	if err != nil {
		return nil, err
	}
	p := &Provenance{
		Seq: target.Seq, Branch: target.Branch, Index: target.Index, Kind: target.Kind, Name: target.Name,
		Path: formatPath(sel), MinLength: k, Strings: make([]StringProvenance, len(targets)),
	}
	s := newSearcher(records, targets, k)
	tStart := s.sentAt(ti)
	for i := range records {
		if i == ti {
			continue
		}
		if s.sentAt(i) < tStart {
			s.scanRequest(int32(i))
		}
		if s.answeredAt(i) <= tStart {
			s.scanResponse(int32(i))
			p.Searched++
		}
		if s.work > s.budget {
			p.Partial = fmt.Sprintf("the search stopped at seq %d: the text is too repetitive to compare exhaustively; what is listed was found", records[i].Seq)
			break
		}
	}
	for t := range targets {
		p.Strings[t] = s.assemble(int32(t))
		if p.Strings[t].Found > 0 {
			p.Found++
		} else {
			p.NotFound++
		}
	}
	return p, nil
}

// targetString is one string of the traced request.
type targetString struct {
	path  string
	text  string
	runes int
}

// collectTargets returns the strings of target's request under sel, and
// sel as resolved (with "body" in front when that is where it was found).
func collectTargets(target *boundary.Record, sel []segment) ([]targetString, []segment, error) {
	collect := func(sel []segment) (out []targetString, exists bool) {
		err := walkLeaves(target.Request, func(path []segment, val []byte, kind leafKind) {
			if !hasPrefix(path, sel) {
				return
			}
			exists = true
			if kind == leafString || kind == leafNumber && len(path) == len(sel) {
				out = append(out, targetString{path: formatPath(path), text: string(val), runes: utf8.RuneCount(val)})
			}
		})
		if err != nil && len(sel) == 0 {
			// Not JSON: the request is one text.
			return []targetString{{text: string(target.Request), runes: utf8.RuneCount(target.Request)}}, true
		}
		return out, exists
	}
	out, exists := collect(sel)
	if !exists && len(sel) > 0 && (sel[0] != segment{key: "body", isKey: true}) {
		body := append([]segment{{key: "body", isKey: true}}, sel...)
		if out2, ok := collect(body); ok {
			out, exists, sel = out2, true, body
		}
	}
	where := fmt.Sprintf("seq %d's request", target.Seq)
	switch {
	case !exists:
		return nil, nil, fmt.Errorf("%s has nothing at %s (%s)", where, formatPath(sel), describeMiss(target.Request, sel))
	case len(out) == 0:
		return nil, nil, fmt.Errorf("%s holds no text at %s", where, formatPath(sel))
	}
	return out, sel, nil
}

// describeMiss says how far path goes into the JSON document doc and what
// is there: "body.messages has 6 elements (0-5)".
func describeMiss(doc []byte, path []segment) string {
	v, err := decodeJSON(doc)
	if err != nil {
		return "the request is not JSON"
	}
	best, bestV, bestN := path, v, -1
	for _, p := range [][]segment{path, append([]segment{{key: "body", isKey: true}}, path...)} {
		cur, n := v, 0
		for _, seg := range p {
			var next any
			ok := false
			switch x := cur.(type) {
			case map[string]any:
				next, ok = x[seg.key]
				ok = ok && seg.isKey
			case []any:
				ok = !seg.isKey && seg.index < len(x)
				if ok {
					next = x[seg.index]
				}
			}
			if !ok {
				break
			}
			cur, n = next, n+1
		}
		if n > bestN {
			best, bestV, bestN = p, cur, n
		}
	}
	at := formatPath(best[:bestN])
	if at == "" {
		at = "the request"
	}
	switch x := bestV.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if len(keys) > 12 {
			keys = append(keys[:12], "…")
		}
		return fmt.Sprintf("%s has the keys %s", at, strings.Join(keys, ", "))
	case []any:
		if len(x) == 0 {
			return at + " is an empty array"
		}
		return fmt.Sprintf("%s has %d elements (0-%d)", at, len(x), len(x)-1)
	}
	return at + " holds a single value"
}

// hashBase is the multiplier of the rolling hash (mod 2^64).
const hashBase = 0x100000001b3

// filterBits sizes the bit filter in front of the window map: most windows
// of a source miss, and a bit test is far cheaper than a map lookup.
const filterBits = 1 << 20

// tpos is a window of a target string: the string and the byte offset.
type tpos struct{ str, off int32 }

// span is a byte range [s, e) of a target string.
type span struct{ s, e int32 }

// The parts of a boundary a text is read from (srcMatch.part).
const (
	fromResponse uint8 = iota
	fromError
	fromOutputMessages    // the leaves of gen_ai.output.messages
	fromOutputMessagesRaw // its text as a whole
)

// srcMatch is a maximal run shared by a target string and a response: its
// place is kept as the ordinal of the leaf it was found in and formatted
// only if it is listed.
type srcMatch struct {
	span
	rec   int32
	leaf  int32
	part  uint8
	whole bool // the run is the whole value in the response
}

// reqMatch is a maximal run shared by a target string and an earlier
// request.
type reqMatch struct {
	span
	rec   int32
	leaf  int32
	whole bool
}

type searcher struct {
	records []boundary.Record
	targets []targetString
	k       int
	powK    uint64 // hashBase^(k-1)
	filter  []uint64
	windows windowTable
	// short maps the strings shorter than k characters to their targets:
	// they are found only as whole values.
	short map[string][]int32
	// byTime orders by timestamps; false when a record lacks one, and
	// then by seq.
	byTime bool

	src  [][]srcMatch // by target
	req  [][]reqMatch // by target
	seen map[matchKey]int32
	// work is spent, up to budget (see maxSearchWork).
	work, budget int
}

type matchKey struct {
	t, s, e, rec int32
}

func newSearcher(records []boundary.Record, targets []targetString, k int) *searcher {
	s := &searcher{
		records: records, targets: targets, k: k,
		filter: make([]uint64, filterBits/64),
		short:  map[string][]int32{},
		src:    make([][]srcMatch, len(targets)),
		req:    make([][]reqMatch, len(targets)),
		seen:   map[matchKey]int32{},
		byTime: true,
		budget: maxSearchWork,
	}
	for i := range records {
		if records[i].Start.IsZero() || records[i].End.IsZero() {
			s.byTime = false
			break
		}
	}
	s.powK = 1
	for range k - 1 {
		s.powK *= hashBase
	}
	var hs []hashedPos
	for i, t := range targets {
		if t.runes < k {
			if t.text != "" {
				s.short[t.text] = append(s.short[t.text], int32(i))
			}
			continue
		}
		s.eachWindow([]byte(t.text), func(off int, h uint64) {
			s.filter[(h>>44)/64] |= 1 << ((h >> 44) % 64)
			hs = append(hs, hashedPos{h, tpos{int32(i), int32(off)}})
		})
	}
	s.windows = newWindowTable(hs)
	return s
}

// hashedPos is a target window and its hash.
type hashedPos struct {
	h uint64
	p tpos
}

// windowTable maps window hashes to the target windows that have them:
// open addressing over the distinct hashes, the windows of each hash
// stored together in one slice (a Go map of slices costs twice the time
// per lookup, and a scan looks up every window the filter lets through).
type windowTable struct {
	shift uint
	mask  uint64
	keys  []uint64
	first []int32 // of each slot's windows in pos; -1: empty slot
	count []int32
	pos   []tpos
}

func newWindowTable(hs []hashedPos) windowTable {
	slices.SortStableFunc(hs, func(a, b hashedPos) int {
		switch {
		case a.h < b.h:
			return -1
		case a.h > b.h:
			return 1
		}
		return 0
	})
	distinct := 0
	for i := range hs {
		if i == 0 || hs[i].h != hs[i-1].h {
			distinct++
		}
	}
	bits := uint(4)
	for 1<<bits < 2*distinct {
		bits++
	}
	t := windowTable{shift: 64 - bits, mask: 1<<bits - 1, keys: make([]uint64, 1<<bits), first: make([]int32, 1<<bits), count: make([]int32, 1<<bits), pos: make([]tpos, len(hs))}
	for i := range t.first {
		t.first[i] = -1
	}
	for i, x := range hs {
		t.pos[i] = x.p
		if i > 0 && x.h == hs[i-1].h {
			continue
		}
		slot := (x.h * 0x9e3779b97f4a7c15) >> t.shift
		for t.first[slot] >= 0 {
			slot = (slot + 1) & t.mask
		}
		t.keys[slot], t.first[slot] = x.h, int32(i)
		n := int32(1)
		for i+int(n) < len(hs) && hs[i+int(n)].h == x.h {
			n++
		}
		t.count[slot] = n
	}
	return t
}

// get returns the windows whose hash is h.
func (t *windowTable) get(h uint64) []tpos {
	if len(t.keys) == 0 {
		return nil
	}
	slot := (h * 0x9e3779b97f4a7c15) >> t.shift
	for t.first[slot] >= 0 {
		if t.keys[slot] == h {
			return t.pos[t.first[slot] : t.first[slot]+t.count[slot]]
		}
		slot = (slot + 1) & t.mask
	}
	return nil
}

// sentAt and answeredAt order requests and responses in time: record i's
// request went out at sentAt(i), its response (or error) came back at
// answeredAt(i). Without timestamps, a boundary's request comes after
// every earlier seq's response and before its own.
func (s *searcher) sentAt(i int) int64 {
	if s.byTime {
		return s.records[i].Start.UnixNano()
	}
	return 2 * s.records[i].Seq
}

func (s *searcher) answeredAt(i int) int64 {
	if s.byTime {
		return s.records[i].End.UnixNano()
	}
	return 2*s.records[i].Seq + 1
}

// eachWindow calls fn with the offset and rolling hash of every k-byte
// window of b.
func (s *searcher) eachWindow(b []byte, fn func(off int, h uint64)) {
	k := s.k
	if len(b) < k {
		return
	}
	var h uint64
	for i := range k {
		h = h*hashBase + uint64(b[i])
	}
	fn(0, h)
	for i := k; i < len(b); i++ {
		h = (h-uint64(b[i-k])*s.powK)*hashBase + uint64(b[i])
		fn(i-k+1, h)
	}
}

// scan finds the maximal runs of at least k bytes that b shares with the
// target strings and calls fn for each with the target, the offsets in the
// target and in b, and the length.
func (s *searcher) scan(b []byte, fn func(t int32, tOff, bOff, n int)) {
	k := s.k
	s.budget += workPerByte * len(b)
	if len(b) < k || s.work > s.budget {
		return
	}
	var h uint64
	for i := range k - 1 {
		h = h*hashBase + uint64(b[i])
	}
	for j := 0; j+k <= len(b); j++ {
		// The window b[j:j+k]: add its last byte, drop the one before it.
		if j > 0 {
			h -= uint64(b[j-1]) * s.powK
		}
		h = h*hashBase + uint64(b[j+k-1])
		if s.filter[(h>>44)/64]&(1<<((h>>44)%64)) == 0 {
			continue
		}
		for _, p := range s.windows.get(h) {
			if s.work++; s.work > s.budget {
				return
			}
			t := s.targets[p.str].text
			off := int(p.off)
			// Only the start of a maximal run is reported: a window whose
			// left neighbours agree too is the middle of one.
			if off > 0 && j > 0 && t[off-1] == b[j-1] {
				continue
			}
			if t[off:off+k] != string(b[j:j+k]) {
				continue
			}
			n := k
			for off+n < len(t) && j+n < len(b) && t[off+n] == b[j+n] {
				n++
			}
			s.work += n
			fn(p.str, off, j, n)
		}
	}
}

// walkText calls fn for each searchable text of the JSON document doc, with
// its ordinal: its strings and numbers, and the leaves of strings that hold
// a JSON object or array (right after the string itself). A document that
// is not JSON is one text, at the root. path and decoded are only valid
// during the call.
func walkText(doc []byte, fn func(leaf int32, path, decoded []segment, isDoc bool, val []byte) bool) {
	var n int32
	stop := false
	err := walkLeaves(doc, func(path []segment, val []byte, kind leafKind) {
		if kind == leafOther || stop {
			return
		}
		if !fn(n, path, nil, false, val) {
			stop = true
			return
		}
		n++
		if kind == leafString && len(val) > 1 && (val[0] == '{' || val[0] == '[') {
			outer := slices.Clone(path)
			inner := slices.Clone(val)
			walkLeaves(inner, func(ipath []segment, ival []byte, ikind leafKind) {
				if ikind == leafOther || stop {
					return
				}
				if !fn(n, outer, ipath, true, ival) {
					stop = true
				}
				n++
			})
		}
	})
	if err != nil && n == 0 && !stop {
		fn(0, nil, nil, false, doc)
	}
}

func (s *searcher) scanRequest(rec int32) {
	walkText(s.records[rec].Request, func(leaf int32, path, _ []segment, isDoc bool, val []byte) bool {
		if isDoc {
			return true // the outer string holds the same text
		}
		if len(s.short) > 0 && len(val) < 4*s.k {
			for _, t := range s.short[string(val)] {
				s.req[t] = append(s.req[t], reqMatch{span: span{0, int32(len(val))}, rec: rec, leaf: leaf, whole: true})
			}
		}
		s.scan(val, func(t int32, tOff, bOff int, n int) {
			s.req[t] = append(s.req[t], reqMatch{span: span{int32(tOff), int32(tOff + n)}, rec: rec, leaf: leaf, whole: bOff == 0 && n == len(val)})
		})
		return true
	})
}

func (s *searcher) scanResponse(rec int32) {
	r := &s.records[rec]
	if r.Failed {
		s.sourceText(rec, fromError, 0, []byte(r.Error))
	} else {
		walkText(r.Response, func(leaf int32, _, _ []segment, _ bool, val []byte) bool {
			s.sourceText(rec, fromResponse, leaf, val)
			return true
		})
	}
	if msgs, ok := r.Attributes[boundary.GenAIOutputMessages].(string); ok {
		// The leaves first, for their paths; then the raw text, for runs
		// that span them (a tool call's arguments, re-encoded as JSON).
		walkText([]byte(msgs), func(leaf int32, _, _ []segment, _ bool, val []byte) bool {
			s.sourceText(rec, fromOutputMessages, leaf, val)
			return true
		})
		s.sourceText(rec, fromOutputMessagesRaw, 0, []byte(msgs))
	}
}

// sourceText searches one text of a response.
func (s *searcher) sourceText(rec int32, part uint8, leaf int32, val []byte) {
	if len(s.short) > 0 && len(val) < 4*s.k {
		for _, t := range s.short[string(val)] {
			s.addSource(t, srcMatch{span: span{0, int32(len(val))}, rec: rec, leaf: leaf, part: part, whole: true})
		}
	}
	s.scan(val, func(t int32, tOff, bOff, n int) {
		off, end := trimRunes(s.targets[t].text, int32(tOff), int32(tOff+n))
		bOff += int(off) - tOff
		if utf8.RuneCountInString(s.targets[t].text[off:end]) < s.k {
			return
		}
		s.addSource(t, srcMatch{span: span{off, end}, rec: rec, leaf: leaf, part: part, whole: bOff == 0 && int(end-off) == len(val)})
	})
}

// addSource records m, once per run and boundary: the same run found in
// the response and in the model's messages read from it is kept where it
// is a whole value, if it is one somewhere.
func (s *searcher) addSource(t int32, m srcMatch) {
	key := matchKey{t, m.s, m.e, m.rec}
	if i, ok := s.seen[key]; ok {
		if old := &s.src[t][i]; m.whole && !old.whole {
			*old = m
		}
		return
	}
	s.seen[key] = int32(len(s.src[t]))
	s.src[t] = append(s.src[t], m)
}

// trimRunes narrows the byte range [a, b) of t to whole characters.
func trimRunes(t string, a, b int32) (int32, int32) {
	for a < b && !utf8.RuneStart(t[a]) {
		a++
	}
	for b > a && int(b) < len(t) && !utf8.RuneStart(t[b]) {
		b--
	}
	return a, b
}

// leafPath finds the path of leaf number leaf of doc, as walkText numbers
// them.
func leafPath(doc []byte, leaf int32) (path, decoded string, isDoc bool) {
	walkText(doc, func(n int32, p, d []segment, doc bool, _ []byte) bool {
		if n != leaf {
			return true
		}
		path, decoded, isDoc = formatPath(p), formatPath(d), doc
		return false
	})
	return path, decoded, isDoc
}

func (s *searcher) recordPlace(rec int32) Place {
	r := &s.records[rec]
	return Place{Seq: r.Seq, Branch: r.Branch, Index: r.Index, Kind: r.Kind, Name: r.Name}
}

func (s *searcher) sourcePlace(m srcMatch) Place {
	p := s.recordPlace(m.rec)
	p.Whole = m.whole
	r := &s.records[m.rec]
	var doc []byte
	switch m.part {
	case fromError:
		p.Part = PartError
		return p
	case fromOutputMessagesRaw:
		p.Part = boundary.GenAIOutputMessages
		return p
	case fromOutputMessages:
		p.Part = boundary.GenAIOutputMessages
		msgs, _ := r.Attributes[boundary.GenAIOutputMessages].(string)
		doc = []byte(msgs)
	default:
		p.Part = PartResponse
		doc = r.Response
	}
	var isDoc bool
	p.Path, p.Decoded, isDoc = leafPath(doc, m.leaf)
	if isDoc && p.Decoded == "" {
		p.Decoded = "(the whole document)"
	}
	return p
}

func (s *searcher) requestPlace(r reqMatch) Place {
	p := s.recordPlace(r.rec)
	p.Part, p.Whole = PartRequest, r.whole
	p.Path, _, _ = leafPath(s.records[r.rec].Request, r.leaf)
	return p
}

// coverage is a set of byte ranges, kept merged and sorted.
type coverage []span

func (c *coverage) add(x span) {
	cs := *c
	i, _ := slices.BinarySearchFunc(cs, x.s, func(a span, s int32) int { return int(a.e - s) })
	// cs[i] is the first range ending at or after x.s.
	j := i
	for j < len(cs) && cs[j].s <= x.e {
		x.s, x.e = min(x.s, cs[j].s), max(x.e, cs[j].e)
		j++
	}
	*c = slices.Replace(cs, i, j, x)
}

// missing returns the parts of x that c does not cover, in order.
func (c coverage) missing(x span) []span {
	i, _ := slices.BinarySearchFunc(c, x.s, func(a span, s int32) int { return int(a.e - s) })
	var out []span
	at := x.s
	for ; i < len(c) && c[i].s < x.e; i++ {
		if c[i].s > at {
			out = append(out, span{at, c[i].s})
		}
		at = max(at, c[i].e)
	}
	if at < x.e {
		out = append(out, span{at, x.e})
	}
	return out
}

// reach answers, for ranges added one by one, whether one of them alone
// covers a range: a Fenwick tree of the furthest end among the ranges
// starting at or before each offset.
type reach []int32

func newReach(n int) reach { return make(reach, n+1) }

func (r reach) add(x span) {
	for i := int(x.s) + 1; i < len(r); i += i & -i {
		r[i] = max(r[i], x.e)
	}
}

// covers reports whether one added range holds all of x.
func (r reach) covers(x span) bool {
	var far int32
	for i := min(int(x.s)+1, len(r)-1); i > 0; i -= i & -i {
		far = max(far, r[i])
	}
	return far >= x.e
}

// frag is a fragment being assembled.
type frag struct {
	span
	sources []srcMatch
	more    int
	first   int32 // the record of its earliest source
}

// assemble turns the matches of target t into its provenance.
//
// A run shared with a response b is b's unless the agent had sent it
// whole, in one request, before b answered (b echoed it). When the run is
// a whole value, in the request or in b, it is b's whole: a tool result or
// a reply put back into a prompt is that boundary's, even where it repeats
// words the agent had sent. Otherwise the parts the agent had sent before
// b answered are the agent's, and only what is left, if at least k
// characters long, is b's: a run that merely extends the agent's own text
// by a few characters b happens to share is not b's.
//
// A fragment inside a longer one is listed as the longer one's Inner when
// its source is earlier and it reached the longer one's source in that
// source's request: the chain further back (the tool result inside the
// model's reply). Others inside a longer one add nothing and are left out.
func (s *searcher) assemble(t int32) StringProvenance {
	ts := s.targets[t]
	sp := StringProvenance{Path: ts.path, Length: ts.runes, Value: cutBytes(ts.text, MaxChangeValueBytes)}
	reqs, srcs := s.req[t], s.src[t]
	for _, r := range reqs {
		if r.s == 0 && int(r.e) == len(ts.text) && (sp.SentBefore == nil || s.records[r.rec].Seq < sp.SentBefore.Seq) {
			pl := s.requestPlace(r)
			sp.SentBefore = &pl
		}
	}
	// Sweep the responses in the order they arrived, adding the requests
	// sent before each.
	slices.SortStableFunc(reqs, func(a, b reqMatch) int { return cmpInt64(s.sentAt(int(a.rec)), s.sentAt(int(b.rec))) })
	slices.SortStableFunc(srcs, func(a, b srcMatch) int { return cmpInt64(s.answeredAt(int(a.rec)), s.answeredAt(int(b.rec))) })
	var own coverage
	one := newReach(len(ts.text))
	frags := map[span]*frag{}
	ri := 0
	for _, m := range srcs {
		for ; ri < len(reqs) && s.sentAt(int(reqs[ri].rec)) < s.answeredAt(int(m.rec)); ri++ {
			own.add(reqs[ri].span)
			one.add(reqs[ri].span)
		}
		if one.covers(m.span) {
			continue // echoed
		}
		pieces := []span{m.span}
		if !m.whole && !(m.s == 0 && int(m.e) == len(ts.text)) {
			pieces = own.missing(m.span)
		}
		for _, piece := range pieces {
			src := m
			if piece != m.span {
				piece.s, piece.e = trimRunes(ts.text, piece.s, piece.e)
				if utf8.RuneCountInString(ts.text[piece.s:piece.e]) < s.k {
					continue
				}
				src.whole = false
			}
			f := frags[piece]
			if f == nil {
				f = &frag{span: piece, first: m.rec}
				frags[piece] = f
			}
			if len(f.sources) < maxSources {
				f.sources = append(f.sources, src)
			} else {
				f.more++
			}
		}
	}
	order := make([]*frag, 0, len(frags))
	for _, f := range frags {
		order = append(order, f)
	}
	slices.SortFunc(order, func(a, b *frag) int {
		if a.s != b.s {
			return int(a.s - b.s)
		}
		return int(b.e - a.e)
	})
	// The top-level fragments cover the union of all of them.
	type listed struct {
		*frag
		inner []*frag
	}
	var top []*listed
	var covered, end int32
	var byRec map[int32][]span
	for _, f := range order {
		if f.e > end {
			covered += int32(utf8.RuneCountInString(ts.text[max(f.s, end):f.e]))
			end = f.e
			top = append(top, &listed{frag: f})
			continue
		}
		for _, o := range top {
			if o.s <= f.s && o.e >= f.e {
				if s.records[f.first].Seq < s.records[o.first].Seq && len(o.inner) < maxFragments && carried(&byRec, reqs, o.first, f.span) {
					o.inner = append(o.inner, f)
				}
				break
			}
		}
	}
	sp.Found = int(covered)
	for i, l := range top {
		if i == maxFragments {
			sp.MoreFragments = len(top) - maxFragments
			break
		}
		f := s.fragment(ts.text, l.frag, reqs)
		for _, in := range l.inner {
			f.Inner = append(f.Inner, s.fragment(ts.text, in, reqs))
		}
		sp.Fragments = append(sp.Fragments, f)
	}
	return sp
}

// fragment is the listed form of f: its text, its sources' places, and
// the first request after its first source that carried it on.
func (s *searcher) fragment(text string, f *frag, reqs []reqMatch) Fragment {
	out := Fragment{
		Start:       utf8.RuneCountInString(text[:f.s]),
		Whole:       f.s == 0 && int(f.e) == len(text),
		Text:        cutBytes(text[f.s:f.e], MaxChangeValueBytes),
		MoreSources: f.more,
	}
	out.End = out.Start + utf8.RuneCountInString(text[f.s:f.e])
	out.Length = out.End - out.Start
	slices.SortStableFunc(f.sources, func(a, b srcMatch) int { return int(a.rec - b.rec) })
	for _, m := range f.sources {
		out.Sources = append(out.Sources, s.sourcePlace(m))
	}
	answered := s.answeredAt(int(f.first))
	var via *reqMatch
	for i := range reqs {
		if r := &reqs[i]; r.s <= f.s && r.e >= f.e && s.sentAt(int(r.rec)) >= answered {
			out.ViaCount++
			if via == nil || r.rec < via.rec {
				via = r
			}
		}
	}
	if via != nil {
		pl := s.requestPlace(*via)
		out.Via = &pl
	}
	return out
}

// carried reports whether the request of record rec held the run x,
// among the request matches byRec (built from reqs on first use).
func carried(byRec *map[int32][]span, reqs []reqMatch, rec int32, x span) bool {
	if *byRec == nil {
		*byRec = map[int32][]span{}
		for _, r := range reqs {
			(*byRec)[r.rec] = append((*byRec)[r.rec], r.span)
		}
	}
	for _, r := range (*byRec)[rec] {
		if r.s <= x.s && r.e >= x.e {
			return true
		}
	}
	return false
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
