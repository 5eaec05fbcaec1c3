package boundary

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
)

// Canonical returns the canonical JSON form of v: the encoding/json encoding
// of v, re-encoded with object keys sorted, numbers kept exactly as written,
// no HTML escaping and no insignificant white space. Two values that encode to
// the same JSON document have the same canonical form, whatever the field
// order of their Go types.
//
// A value that is already JSON (json.RawMessage) is canonicalised as such.
func Canonical(v any) ([]byte, error) {
	// The encoding/json output is only an intermediate: it is written into
	// a pooled buffer, so a boundary allocates little beyond its result.
	st := canonicalPool.Get().(*canonicalState)
	defer st.release()
	st.buf.Reset()
	if err := st.enc.Encode(v); err != nil {
		return nil, fmt.Errorf("canonical json: %w", err)
	}
	raw := bytes.TrimSuffix(st.buf.Bytes(), []byte("\n"))
	if out, ok := st.c.run(raw); ok {
		return out, nil
	}
	return canonicalizeSlow(raw)
}

// canonicalState is the reusable working memory of Canonical.
type canonicalState struct {
	buf bytes.Buffer
	enc *json.Encoder
	c   canonicalizer
}

var canonicalPool = sync.Pool{New: func() any {
	st := &canonicalState{}
	st.enc = json.NewEncoder(&st.buf)
	st.enc.SetEscapeHTML(false)
	return st
}}

// maxPooled bounds the buffers kept for reuse: one huge payload does not pin
// its memory for the life of the process.
const maxPooled = 1 << 20

func (st *canonicalState) release() {
	if st.buf.Cap() > maxPooled || cap(st.c.scratch) > maxPooled {
		return
	}
	canonicalPool.Put(st)
}

// CanonicalizeJSON returns the canonical form of the JSON document b. It
// returns an error if b is not exactly one JSON value.
func CanonicalizeJSON(b []byte) ([]byte, error) {
	// Most documents (anything encoding/json wrote) take the single-pass
	// path; the rest, and every invalid document, take the decode and
	// re-encode path, which defines the result and the errors.
	if out, ok := fastCanonical(b); ok {
		return out, nil
	}
	return canonicalizeSlow(b)
}

// canonicalizeSlow is the reference canonicalisation: decode into a generic
// value (numbers as written) and encode it again with sorted keys.
func canonicalizeSlow(b []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("canonical json: %w", err)
	}
	// Anything but white space after the value is refused, including a
	// stray closing delimiter (which dec.Token would report as an error,
	// not as a token).
	if rest := bytes.TrimLeft(b[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		if dec.More() {
			return nil, fmt.Errorf("canonical json: more than one JSON value")
		}
		return nil, fmt.Errorf("canonical json: trailing data after the JSON value")
	}
	return marshal(doc)
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("canonical json: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Signature is what replay validates: the hex SHA-256 of the kind, the name
// and the canonical request, each length-prefixed so that no two different
// triples hash the same input.
func Signature(kind Kind, name string, canonicalRequest []byte) string {
	h := sha256.New()
	writePart(h, []byte(kind))
	writePart(h, []byte(name))
	writePart(h, canonicalRequest)
	return hex.EncodeToString(h.Sum(nil))
}

// PayloadHash is the hex SHA-256 of request, response and error text, each
// length-prefixed. It is stored with the span so that a payload changed or cut
// after capture is detected instead of replayed.
func PayloadHash(request, response []byte, errText string) string {
	h := sha256.New()
	writePart(h, request)
	writePart(h, response)
	writePart(h, []byte(errText))
	return hex.EncodeToString(h.Sum(nil))
}

type byteWriter interface{ Write([]byte) (int, error) }

func writePart(w byteWriter, b []byte) {
	var n [binary.MaxVarintLen64]byte
	w.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
	w.Write(b)
}

// ShortSignature is the first 12 hex digits of a signature, for tables.
func ShortSignature(sig string) string {
	if len(sig) > 12 {
		return sig[:12]
	}
	return sig
}
