package analyze

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// The values of Change.Op.
const (
	// OpChanged: the value at the path is in both documents and differs.
	OpChanged = "changed"
	// OpAdded: the value at the path is only in the observed document.
	OpAdded = "added"
	// OpRemoved: the value at the path is only in the expected document.
	OpRemoved = "removed"
)

// MaxChangeValueBytes is the longest Change.Expected or Change.Observed text
// DiffJSON returns, in bytes, the trailing "…" of a cut value included.
const MaxChangeValueBytes = 200

// ellipsis marks text that was cut.
const ellipsis = "…"

// DiffJSON returns the path-level differences between the JSON documents
// expected and observed, or nil when they hold the same JSON value.
//
// Both documents are decoded with numbers kept as written, so 1 and 1.0
// differ (they are different canonical JSON) while object key order and
// insignificant white space do not matter. Objects are compared key by key
// and arrays index by index: an element appended to an array is reported as
// added at its index, and an element inserted in the middle shows as changes
// to every later index plus one addition; no alignment is attempted. A value
// whose type differs (an object in one document, a string in the other) is
// one change at its path; DiffJSON does not descend into it.
//
// Paths read like messages[0].content: object keys are joined with "." and
// array indices written [i]; a key holding a character other than
// [A-Za-z0-9_] (or the empty key) is written as a quoted JSON string in
// brackets, as in ["key with space"]. The root is the path "".
//
// Change.Expected and Change.Observed hold the compact JSON text of the value
// (object keys sorted, numbers as written, no HTML escaping), empty when the
// value is absent from that side, and cut on a UTF-8 boundary to at most
// [MaxChangeValueBytes] bytes ending in "…" when longer.
//
// Changes are sorted by path in the document order of the canonical form:
// object keys in byte order, array indices in numeric order.
//
// An empty input (nil, or only white space) is an absent document: when
// expected is empty and observed is not, the result is a single "added"
// change at the root, and the reverse gives a single "removed". When either
// input is not exactly one valid JSON value, the two inputs are compared as
// byte strings and the result is a single "changed" change at the root if
// they differ, each side holding the compact JSON of a valid input or the
// raw text of an invalid one. Documents nesting arrays and objects more than
// 64 levels deep are compared whole too (one "changed" change at the root).
func DiffJSON(expected, observed []byte) []Change {
	ex, ob := bytes.TrimSpace(expected), bytes.TrimSpace(observed)
	switch {
	case len(ex) == 0 && len(ob) == 0:
		return nil
	case len(ex) == 0:
		return []Change{{Path: "", Op: OpAdded, Observed: rootText(ob)}}
	case len(ob) == 0:
		return []Change{{Path: "", Op: OpRemoved, Expected: rootText(ex)}}
	}

	x, errX := decodeJSON(ex)
	y, errY := decodeJSON(ob)
	if errX != nil || errY != nil {
		if bytes.Equal(ex, ob) {
			return nil
		}
		return []Change{{Path: "", Op: OpChanged, Expected: rootText(ex), Observed: rootText(ob)}}
	}
	if tooDeep(x, maxDiffDepth) || tooDeep(y, maxDiffDepth) {
		// go-cmp's cost grows with the square of the nesting (10 KB of
		// nested arrays took seconds): such documents are compared whole.
		if reflect.DeepEqual(x, y) {
			return nil
		}
		return []Change{{Path: "", Op: OpChanged, Expected: valueText(x), Observed: valueText(y)}}
	}

	// Compare through pointers so that a JSON null at the root is a present
	// nil interface value rather than no value at all.
	var r diffReporter
	cmp.Equal(&x, &y, cmp.Reporter(&r), indexArrays)
	slices.SortStableFunc(r.changes, func(a, b pathChange) int { return comparePaths(a.path, b.path) })
	changes := make([]Change, len(r.changes))
	for i, c := range r.changes {
		changes[i] = c.Change
	}
	if len(changes) == 0 {
		return nil
	}
	return changes
}

// indexArrays makes go-cmp compare JSON arrays element by element by index:
// left to itself, cmp aligns slices with an edit script, which would report
// an insertion in the middle of an array as one added element rather than
// as what changed at each index.
var indexArrays = cmp.Transformer("analyze.indexArrays", func(xs []any) map[int]any {
	m := make(map[int]any, len(xs))
	for i, x := range xs {
		m[i] = x
	}
	return m
})

// maxDiffDepth is the deepest nesting of arrays and objects DiffJSON
// compares path by path; deeper documents are compared whole.
const maxDiffDepth = 64

// tooDeep reports whether the decoded JSON value v nests arrays and objects
// more than limit levels deep.
func tooDeep(v any, limit int) bool {
	if limit < 0 {
		return true
	}
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			if tooDeep(e, limit-1) {
				return true
			}
		}
	case map[string]any:
		for _, e := range v {
			if tooDeep(e, limit-1) {
				return true
			}
		}
	}
	return false
}

// decodeJSON decodes exactly one JSON value, numbers as json.Number.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errTrailingData
	}
	return v, nil
}

var errTrailingData = errors.New("trailing data after the JSON value")

// rootText is the text shown for a whole input: its compact JSON when it is
// valid JSON, else its raw text; cut to MaxChangeValueBytes.
func rootText(b []byte) string {
	if v, err := decodeJSON(b); err == nil {
		return valueText(v)
	}
	return cutBytes(string(b), MaxChangeValueBytes)
}

// valueText is the compact JSON of a decoded value, cut to
// MaxChangeValueBytes.
func valueText(v any) string {
	return cutBytes(compactJSON(v), MaxChangeValueBytes)
}

// compactJSON encodes a decoded JSON value without HTML escaping.
func compactJSON(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Values come from json.Decoder and always encode; be safe anyway.
		return "<unencodable>"
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// cutBytes cuts s to at most max bytes on a UTF-8 boundary, ending it with
// "…" when it was cut.
func cutBytes(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := max - len(ellipsis)
	if n < 0 {
		n = 0
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + ellipsis
}

// segment is one step of a path: an object key or an array index.
type segment struct {
	key   string
	index int
	isKey bool
}

type pathChange struct {
	Change
	path []segment
}

// diffReporter is a cmp.Reporter that records the unequal leaves of the
// comparison as Changes.
type diffReporter struct {
	steps   cmp.Path
	changes []pathChange
}

func (r *diffReporter) PushStep(ps cmp.PathStep) { r.steps = append(r.steps, ps) }

func (r *diffReporter) PopStep() { r.steps = r.steps[:len(r.steps)-1] }

func (r *diffReporter) Report(rs cmp.Result) {
	if rs.Equal() {
		return
	}
	var path []segment
	for _, step := range r.steps {
		mi, ok := step.(cmp.MapIndex)
		if !ok {
			continue // the root, pointer, type assertion and indexArrays steps
		}
		switch k := mi.Key(); k.Kind() {
		case reflect.String:
			path = append(path, segment{key: k.String(), isKey: true})
		case reflect.Int:
			path = append(path, segment{index: int(k.Int())})
		}
	}
	vx, vy := r.steps.Last().Values()
	x, okX := jsonValue(vx)
	y, okY := jsonValue(vy)
	c := Change{Path: formatPath(path)}
	switch {
	case okX && okY:
		c.Op, c.Expected, c.Observed = OpChanged, valueText(x), valueText(y)
	case okY:
		c.Op, c.Observed = OpAdded, valueText(y)
	case okX:
		c.Op, c.Expected = OpRemoved, valueText(x)
	default:
		return
	}
	r.changes = append(r.changes, pathChange{Change: c, path: path})
}

// jsonValue turns a value met by cmp back into a decoded JSON value; ok is
// false when the value is absent (a missing key or index).
func jsonValue(v reflect.Value) (_ any, ok bool) {
	if !v.IsValid() {
		return nil, false
	}
	if v.Kind() == reflect.Interface && v.IsNil() {
		return nil, true // JSON null
	}
	x := v.Interface()
	if m, isIndexed := x.(map[int]any); isIndexed { // an array, as indexArrays made it
		xs := make([]any, len(m))
		for i := range xs {
			xs[i] = m[i]
		}
		return xs, true
	}
	return x, true
}

// formatPath writes a path as messages[0].content.
func formatPath(path []segment) string {
	var b strings.Builder
	for _, s := range path {
		switch {
		case !s.isKey:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
		case isPlainKey(s.key):
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.key)
		default:
			b.WriteByte('[')
			b.WriteString(compactJSON(s.key))
			b.WriteByte(']')
		}
	}
	return b.String()
}

// isPlainKey reports whether key can be written bare in a path: it is not
// empty and holds only [A-Za-z0-9_].
func isPlainKey(key string) bool {
	if key == "" {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// comparePaths orders paths in canonical document order: a parent before
// its children, object keys by byte order, array indices numerically.
func comparePaths(a, b []segment) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		sa, sb := a[i], b[i]
		switch {
		case sa.isKey && sb.isKey:
			if c := strings.Compare(sa.key, sb.key); c != 0 {
				return c
			}
		case !sa.isKey && !sb.isKey:
			if sa.index != sb.index {
				return sa.index - sb.index
			}
		case sa.isKey: // cannot happen for two paths of one diff; keep it total
			return 1
		default:
			return -1
		}
	}
	return len(a) - len(b)
}

// Preview returns payload on one line for display: its compact JSON when it
// is valid JSON, else its text with each run of white space made one space.
// When that is longer than max runes it is cut to max runes, the last of
// which is "…". A max of zero or less means no limit. An empty payload gives
// "".
func Preview(payload []byte, max int) string {
	var s string
	var buf bytes.Buffer
	if err := json.Compact(&buf, payload); err == nil {
		s = buf.String()
	} else {
		s = strings.Join(strings.Fields(string(payload)), " ")
	}
	return cutRunes(s, max)
}

// cutRunes cuts s to at most max runes, the last of which is "…" when s
// was cut. max <= 0 means no limit.
func cutRunes(s string, max int) string {
	if max <= 0 || utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return s[:i] + ellipsis
		}
		n++
	}
	return s
}
