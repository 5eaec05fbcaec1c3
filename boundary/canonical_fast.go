package boundary

import (
	"bytes"
	"slices"
	"unicode/utf8"

	"github.com/agentrr/agentrr/internal/jsonscan"
)

// fastCanonical canonicalises src in one pass over its bytes, without
// building a generic value: white space is dropped, object members are
// sorted by key (the last of duplicate keys kept), everything else is copied
// as written. It gives up (ok false) on anything whose canonical form is not
// a plain copy — a string escape or byte encoding/json would write
// differently, a key with an escape, a document that is not exactly one
// valid JSON value, deep nesting — and the caller then takes the reference
// path. For every document it accepts, its result equals canonicalizeSlow's
// (see FuzzFastCanonical).
func fastCanonical(src []byte) (out []byte, ok bool) {
	var c canonicalizer
	return c.run(src)
}

// run is fastCanonical with c's working memory (members, scratch), which it
// keeps for the next call; the result is newly allocated and the caller's.
func (c *canonicalizer) run(src []byte) (out []byte, ok bool) {
	c.src, c.pos, c.dst = src, 0, make([]byte, 0, len(src))
	c.members = c.members[:0]
	defer func() { c.src, c.dst = nil, nil }()
	c.skipSpace()
	if !c.value(0) {
		return nil, false
	}
	c.skipSpace()
	if c.pos != len(src) {
		return nil, false
	}
	return c.dst, true
}

// maxFastDepth bounds the nesting the fast path handles (encoding/json's own
// limit is 10000); deeper documents take the reference path.
const maxFastDepth = 256

type canonicalizer struct {
	src []byte
	pos int
	dst []byte
	// members is a stack shared by the objects being copied; scratch holds
	// an object's members while they are put in key order.
	members []member
	scratch []byte
}

// member is one "key":value of an object, copied to dst[start:end].
type member struct {
	// src[kstart:kend] is the key as written, without quotes (it has no
	// escape). Offsets, not slices: a pointer-free stack costs the garbage
	// collector nothing.
	kstart, kend int
	start, end   int
}

func (c *canonicalizer) key(m member) []byte { return c.src[m.kstart:m.kend] }

func (c *canonicalizer) skipSpace() { c.pos = jsonscan.SkipSpace(c.src, c.pos) }

func (c *canonicalizer) value(depth int) bool {
	if c.pos >= len(c.src) || depth > maxFastDepth {
		return false
	}
	switch b := c.src[c.pos]; {
	case b == '{':
		return c.object(depth)
	case b == '[':
		return c.array(depth)
	case b == '"':
		ok, _ := c.str()
		return ok
	case b == 't':
		return c.literal("true")
	case b == 'f':
		return c.literal("false")
	case b == 'n':
		return c.literal("null")
	case b == '-' || ('0' <= b && b <= '9'):
		return c.number()
	}
	return false
}

func (c *canonicalizer) literal(lit string) bool {
	if !bytes.HasPrefix(c.src[c.pos:], []byte(lit)) {
		return false
	}
	c.dst = append(c.dst, lit...)
	c.pos += len(lit)
	return true
}

// number copies a number that follows the JSON grammar exactly; the
// reference path keeps numbers as written too.
func (c *canonicalizer) number() bool {
	s, i := c.src, c.pos
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		i = skipDigits(s, i)
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		d := i + 1
		if i = skipDigits(s, d); i == d {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		if i = skipDigits(s, d); i == d {
			return false
		}
	}
	c.dst = append(c.dst, s[c.pos:i]...)
	c.pos = i
	return true
}

// skipDigits returns the index of the first byte from s[i] on that is not
// a decimal digit.
func skipDigits(s []byte, i int) int {
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i
}

const lowerHex = "0123456789abcdef"

// plainByte marks the bytes a string copies as they are with no further
// check: printable ASCII other than '"' and '\\'.
var plainByte = func() (t [256]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// str copies a string that encoding/json (escapeHTML off) would write
// byte for byte the same: valid UTF-8 other than U+2028/U+2029, and only the
// escapes it writes itself. escaped reports whether the string holds any
// escape at all.
func (c *canonicalizer) str() (ok, escaped bool) {
	s := c.src
	for i := c.pos + 1; i < len(s); {
		if plainByte[s[i]] {
			i++
			continue
		}
		b := s[i]
		switch {
		case b == '"':
			i++
			c.dst = append(c.dst, s[c.pos:i]...)
			c.pos = i
			return true, escaped
		case b < 0x20:
			return false, escaped
		case b == '\\':
			escaped = true
			if i+1 >= len(s) {
				return false, escaped
			}
			switch s[i+1] {
			case '"', '\\', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(s) || !canonicalUnicodeEscape(s[i+2:i+6]) {
					return false, escaped
				}
				i += 6
			default:
				return false, escaped
			}
		case b < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			if (r == utf8.RuneError && size == 1) || r == '\u2028' || r == '\u2029' {
				return false, escaped
			}
			i += size
		}
	}
	return false, escaped
}

// canonicalUnicodeEscape reports whether \uXXXX (h is XXXX) is how
// encoding/json writes the character: a control character without a short
// escape, or U+2028/U+2029, in lower-case hex.
func canonicalUnicodeEscape(h []byte) bool {
	if h[0] == '2' && h[1] == '0' && h[2] == '2' && (h[3] == '8' || h[3] == '9') {
		return true
	}
	if h[0] != '0' || h[1] != '0' || (h[2] != '0' && h[2] != '1') {
		return false
	}
	lo := bytes.IndexByte([]byte(lowerHex), h[3])
	if lo < 0 {
		return false
	}
	v := (h[2]-'0')<<4 | byte(lo)
	switch v {
	case '\b', '\f', '\n', '\r', '\t':
		return false
	}
	return true
}

// open copies the '[' or '{' at pos and reports whether the container is
// empty, in which case it copies the closer too.
func (c *canonicalizer) open(closer byte) (empty bool) {
	c.dst = append(c.dst, c.src[c.pos])
	c.pos++
	c.skipSpace()
	if c.pos < len(c.src) && c.src[c.pos] == closer {
		c.pos++
		c.dst = append(c.dst, closer)
		return true
	}
	return false
}

// separator reads what follows an element of an array or a member of an
// object: a comma, which it copies (more to come), or closer, which it
// consumes without copying (the end, reported as end); ok is false on
// anything else.
func (c *canonicalizer) separator(closer byte) (end, ok bool) {
	c.skipSpace()
	if c.pos >= len(c.src) {
		return false, false
	}
	switch c.src[c.pos] {
	case ',':
		c.pos++
		c.dst = append(c.dst, ',')
		c.skipSpace()
		return false, true
	case closer:
		c.pos++
		return true, true
	}
	return false, false
}

func (c *canonicalizer) array(depth int) bool {
	if c.open(']') {
		return true
	}
	for {
		if !c.value(depth + 1) {
			return false
		}
		end, ok := c.separator(']')
		if !ok {
			return false
		}
		if end {
			c.dst = append(c.dst, ']')
			return true
		}
	}
}

func (c *canonicalizer) object(depth int) bool {
	if c.open('}') {
		return true
	}
	base := len(c.members)
	defer func() { c.members = c.members[:base] }()
	first := len(c.dst)
	inOrder := true
	for {
		if c.pos >= len(c.src) || c.src[c.pos] != '"' {
			return false
		}
		start, kstart := len(c.dst), c.pos+1
		// A key with an escape would have to be unescaped to be ordered.
		if ok, escaped := c.str(); !ok || escaped {
			return false
		}
		m := member{kstart: kstart, kend: c.pos - 1, start: start}
		c.skipSpace()
		if c.pos >= len(c.src) || c.src[c.pos] != ':' {
			return false
		}
		c.pos++
		c.dst = append(c.dst, ':')
		c.skipSpace()
		if !c.value(depth + 1) {
			return false
		}
		m.end = len(c.dst)
		if n := len(c.members); n > base && bytes.Compare(c.key(c.members[n-1]), c.key(m)) >= 0 {
			inOrder = false
		}
		c.members = append(c.members, m)
		end, ok := c.separator('}')
		if !ok {
			return false
		}
		if end {
			break
		}
	}
	if !inOrder {
		c.sortMembers(base, first)
	}
	c.dst = append(c.dst, '}')
	return true
}

// sortMembers rewrites the members of the object being copied (members
// from base on, written to dst from first on) in key order, keeping only
// the last member of each key, as decoding into a map and encoding it does.
func (c *canonicalizer) sortMembers(base, first int) {
	ms := c.members[base:]
	c.scratch = append(c.scratch[:0], c.dst[first:]...)
	slices.SortStableFunc(ms, func(a, b member) int { return bytes.Compare(c.key(a), c.key(b)) })
	c.dst = c.dst[:first]
	for i, m := range ms {
		if i+1 < len(ms) && bytes.Equal(c.key(m), c.key(ms[i+1])) {
			continue // a later duplicate wins
		}
		if len(c.dst) > first {
			c.dst = append(c.dst, ',')
		}
		c.dst = append(c.dst, c.scratch[m.start-first:m.end-first]...)
	}
}
