package analyze

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/agentrr/agentrr/internal/jsonscan"
)

// leafKind is the kind of a JSON leaf met by walkLeaves.
type leafKind uint8

const (
	leafString leafKind = iota
	leafNumber
	leafOther // true, false, null, or an empty object or array
)

// errBadJSON is returned by walkLeaves for input that is not one JSON value.
var errBadJSON = errors.New("not a JSON value")

// maxWalkDepth bounds the nesting walkLeaves follows, as DiffJSON bounds
// its own: deeper documents are not walked (errBadJSON).
const maxWalkDepth = 128

// walkLeaves calls fn for every leaf of the JSON document doc, in document
// order, with the path to it: strings (unescaped), numbers (as written) and
// the others (true, false, null, {} and [], with a nil value). It reads
// the bytes directly, without decoding the document into Go values, because
// provenance walks every payload of a run. path and val are only valid
// during the call: fn must copy what it keeps.
func walkLeaves(doc []byte, fn func(path []segment, val []byte, kind leafKind)) error {
	w := leafWalker{doc: doc, fn: fn}
	w.skipSpace()
	if err := w.value(0); err != nil {
		return err
	}
	w.skipSpace()
	if w.pos != len(w.doc) {
		return errBadJSON
	}
	return nil
}

type leafWalker struct {
	doc  []byte
	pos  int
	path []segment
	fn   func(path []segment, val []byte, kind leafKind)
	buf  []byte // unescaped strings
}

func (w *leafWalker) skipSpace() { w.pos = jsonscan.SkipSpace(w.doc, w.pos) }

func (w *leafWalker) value(depth int) error {
	if w.pos >= len(w.doc) || depth > maxWalkDepth {
		return errBadJSON
	}
	switch c := w.doc[w.pos]; {
	case c == '{':
		return w.object(depth)
	case c == '[':
		return w.array(depth)
	case c == '"':
		s, err := w.str()
		if err != nil {
			return err
		}
		w.fn(w.path, s, leafString)
		return nil
	case c == '-' || '0' <= c && c <= '9':
		start := w.pos
		for w.pos < len(w.doc) && strings.IndexByte("+-.eE0123456789", w.doc[w.pos]) >= 0 {
			w.pos++
		}
		w.fn(w.path, w.doc[start:w.pos], leafNumber)
		return nil
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if strings.HasPrefix(string(w.doc[w.pos:min(len(w.doc), w.pos+5)]), lit) {
				w.pos += len(lit)
				w.fn(w.path, nil, leafOther)
				return nil
			}
		}
		return errBadJSON
	}
}

func (w *leafWalker) object(depth int) error {
	w.pos++ // {
	w.skipSpace()
	if w.pos < len(w.doc) && w.doc[w.pos] == '}' {
		w.pos++
		w.fn(w.path, nil, leafOther)
		return nil
	}
	for {
		w.skipSpace()
		if w.pos >= len(w.doc) || w.doc[w.pos] != '"' {
			return errBadJSON
		}
		key, err := w.str()
		if err != nil {
			return err
		}
		w.skipSpace()
		if w.pos >= len(w.doc) || w.doc[w.pos] != ':' {
			return errBadJSON
		}
		w.pos++
		w.skipSpace()
		w.path = append(w.path, segment{key: string(key), isKey: true})
		if err := w.value(depth + 1); err != nil {
			return err
		}
		w.path = w.path[:len(w.path)-1]
		if end, err := w.separator('}'); end || err != nil {
			return err
		}
	}
}

// separator reads what follows a member of an object or array: a comma
// (more to come) or closer (the end, reported as end).
func (w *leafWalker) separator(closer byte) (end bool, err error) {
	w.skipSpace()
	if w.pos >= len(w.doc) {
		return false, errBadJSON
	}
	switch w.doc[w.pos] {
	case ',':
		w.pos++
		return false, nil
	case closer:
		w.pos++
		return true, nil
	}
	return false, errBadJSON
}

func (w *leafWalker) array(depth int) error {
	w.pos++ // [
	w.skipSpace()
	if w.pos < len(w.doc) && w.doc[w.pos] == ']' {
		w.pos++
		w.fn(w.path, nil, leafOther)
		return nil
	}
	for i := 0; ; i++ {
		w.skipSpace()
		w.path = append(w.path, segment{index: i})
		if err := w.value(depth + 1); err != nil {
			return err
		}
		w.path = w.path[:len(w.path)-1]
		if end, err := w.separator(']'); end || err != nil {
			return err
		}
	}
}

// str reads the string at pos and returns its unescaped bytes, which stay
// valid until the next call.
func (w *leafWalker) str() ([]byte, error) {
	start := w.pos
	w.pos++ // "
	escaped := false
	for w.pos < len(w.doc) {
		switch w.doc[w.pos] {
		case '\\':
			escaped = true
			w.pos += 2
			continue
		case '"':
			w.pos++
			raw := w.doc[start:w.pos]
			if !escaped {
				return raw[1 : len(raw)-1], nil
			}
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, errBadJSON
			}
			w.buf = append(w.buf[:0], s...)
			return w.buf, nil
		}
		w.pos++
	}
	return nil, errBadJSON
}

// parsePath reads a path written as DiffJSON writes them (messages[0].content,
// ["key with space"], [3]), with an optional leading "$" or "$." as in
// JSONPath. Bare keys may hold any character but "." and "[".
func parsePath(s string) ([]segment, error) {
	orig := s
	s = strings.TrimPrefix(s, "$")
	var path []segment
	for first := true; s != ""; first = false {
		switch {
		case s[0] == '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return nil, errors.New("path " + strconv.Quote(orig) + ": unclosed [")
			}
			inner := s[1:end]
			if inner != "" && (inner[0] == '"' || inner[0] == '\'') {
				// A quoted key may hold "]": find the closing quote first.
				q := inner[0]
				close := strings.IndexByte(s[2:], q)
				if close < 0 {
					return nil, errors.New("path " + strconv.Quote(orig) + ": unclosed quoted key")
				}
				close += 2
				if close+1 >= len(s) || s[close+1] != ']' {
					return nil, errors.New("path " + strconv.Quote(orig) + ": a quoted key must be followed by ]")
				}
				var key string
				if q == '"' {
					if err := json.Unmarshal([]byte(s[1:close+1]), &key); err != nil {
						return nil, errors.New("path " + strconv.Quote(orig) + ": bad quoted key " + s[1:close+1])
					}
				} else {
					key = s[2:close]
				}
				path = append(path, segment{key: key, isKey: true})
				s = s[close+2:]
				continue
			}
			n, err := strconv.Atoi(inner)
			if err != nil || n < 0 {
				return nil, errors.New("path " + strconv.Quote(orig) + ": [" + inner + "] is not an array index")
			}
			path = append(path, segment{index: n})
			s = s[end+1:]
		case s[0] == '.' || first:
			if s[0] == '.' {
				s = s[1:]
			}
			end := strings.IndexAny(s, ".[")
			if end < 0 {
				end = len(s)
			}
			if end == 0 {
				return nil, errors.New("path " + strconv.Quote(orig) + ": empty key")
			}
			path = append(path, segment{key: s[:end], isKey: true})
			s = s[end:]
		default:
			return nil, errors.New("path " + strconv.Quote(orig) + ": expected . or [ at " + strconv.Quote(s))
		}
	}
	return path, nil
}

// hasPrefix reports whether path starts with prefix.
func hasPrefix(path, prefix []segment) bool {
	if len(prefix) > len(path) {
		return false
	}
	for i, p := range prefix {
		if path[i] != p {
			return false
		}
	}
	return true
}
