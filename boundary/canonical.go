package boundary

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Canonical returns the canonical JSON form of v: the encoding/json encoding
// of v, re-encoded with object keys sorted, numbers kept exactly as written,
// no HTML escaping and no insignificant white space. Two values that encode to
// the same JSON document have the same canonical form, whatever the field
// order of their Go types.
//
// A value that is already JSON (json.RawMessage) is canonicalised as such.
func Canonical(v any) ([]byte, error) {
	raw, err := marshal(v)
	if err != nil {
		return nil, err
	}
	return CanonicalizeJSON(raw)
}

// CanonicalizeJSON returns the canonical form of the JSON document b. It
// returns an error if b is not exactly one JSON value.
func CanonicalizeJSON(b []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("canonical json: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("canonical json: more than one JSON value")
	}
	if _, err := dec.Token(); err == nil {
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
