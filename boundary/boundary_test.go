package boundary_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentrr/agentrr/boundary"
)

func TestCanonicalSortsKeysWhateverTheFieldOrder(t *testing.T) {
	type ab struct {
		A string `json:"a"`
		B int    `json:"b"`
		C []int  `json:"c"`
	}
	type ba struct {
		C []int  `json:"c"`
		B int    `json:"b"`
		A string `json:"a"`
	}
	x, err := boundary.Canonical(ab{A: "x", B: 2, C: []int{3, 1}})
	if err != nil {
		t.Fatal(err)
	}
	y, err := boundary.Canonical(ba{A: "x", B: 2, C: []int{3, 1}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := boundary.Canonical(map[string]any{"c": []int{3, 1}, "a": "x", "b": 2})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"a":"x","b":2,"c":[3,1]}`
	for _, got := range [][]byte{x, y, m} {
		if string(got) != want {
			t.Errorf("Canonical = %s, want %s", got, want)
		}
	}
	// Nested objects are sorted too, and insignificant white space goes.
	raw := json.RawMessage("{ \"z\" : {\"y\":1, \"x\": [ {\"q\":1,\"p\":2} ]},\n \"a\":null }")
	got, err := boundary.Canonical(raw)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":null,"z":{"x":[{"p":2,"q":1}],"y":1}}`; string(got) != want {
		t.Errorf("Canonical(raw) = %s, want %s", got, want)
	}
}

func TestCanonicalKeepsNumbersExact(t *testing.T) {
	for _, in := range []string{
		`{"n":12345678901234567890123}`,
		`{"n":9007199254740993}`,
		`{"n":1.000000000000000000001}`,
		`{"n":1e400}`,
		`{"n":-0}`,
		`{"n":1E+2}`,
	} {
		got, err := boundary.CanonicalizeJSON([]byte(in))
		if err != nil {
			t.Fatalf("CanonicalizeJSON(%s): %v", in, err)
		}
		if string(got) != in {
			t.Errorf("CanonicalizeJSON(%s) = %s: number not kept as written", in, got)
		}
	}
	// Through Canonical too: a json.Number field is kept digit for digit.
	got, err := boundary.Canonical(struct {
		N json.Number `json:"n"`
	}{N: "123456789012345678901234567890"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"n":123456789012345678901234567890}`; string(got) != want {
		t.Errorf("Canonical = %s, want %s", got, want)
	}
}

func TestCanonicalNoHTMLEscaping(t *testing.T) {
	got, err := boundary.Canonical(map[string]string{"html": "<a href=\"x\">&</a>"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"html":"<a href=\"x\">&</a>"}`; string(got) != want {
		t.Errorf("Canonical = %s, want %s", got, want)
	}
	// The same document spelled with \u003c escapes canonicalises to the same bytes.
	got2, err := boundary.CanonicalizeJSON([]byte(`{"html":"\u003ca href=\"x\"\u003e\u0026\u003c/a\u003e"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, got2) {
		t.Errorf("escaped spelling canonicalises to %s, want %s", got2, got)
	}
}

func TestCanonicalizeJSONRejectsTrailingData(t *testing.T) {
	for _, in := range []string{
		`{"a":1} {"b":2}`,
		`1 2`,
		`{} x`,
		`"a" "b"`,
		// A stray closing delimiter after the value is trailing data too.
		`{}]`,
		`{}}`,
		`[1]]`,
		`1]`,
		``,
		`   `,
		`{"a":`,
	} {
		if got, err := boundary.CanonicalizeJSON([]byte(in)); err == nil {
			t.Errorf("CanonicalizeJSON(%q) = %q, nil; want an error (not exactly one JSON value)", in, got)
		}
	}
	for _, in := range []string{"{}", " {} ", "{}\n", "null", "1", `"s"`} {
		if _, err := boundary.CanonicalizeJSON([]byte(in)); err != nil {
			t.Errorf("CanonicalizeJSON(%q): %v", in, err)
		}
	}
}

func TestCanonicalRejectsWhatJSONCannotEncode(t *testing.T) {
	if _, err := boundary.Canonical(map[string]any{"f": func() {}}); err == nil {
		t.Error("Canonical of a func value succeeded")
	}
	if _, err := boundary.Canonical(json.RawMessage(`{"a":1}]`)); err == nil {
		t.Error("Canonical of invalid raw JSON succeeded")
	}
}

func TestSignature(t *testing.T) {
	req := []byte(`{"order":"42"}`)
	base := boundary.Signature(boundary.KindTool, "lookup", req)
	if again := boundary.Signature(boundary.KindTool, "lookup", []byte(`{"order":"42"}`)); again != base {
		t.Errorf("same triple, different signatures: %s, %s", base, again)
	}
	if len(base) != 64 || strings.Trim(base, "0123456789abcdef") != "" {
		t.Errorf("signature %q is not 64 lower-case hex digits", base)
	}
	others := map[string]string{
		"kind":    boundary.Signature(boundary.KindLLM, "lookup", req),
		"name":    boundary.Signature(boundary.KindTool, "lookup2", req),
		"request": boundary.Signature(boundary.KindTool, "lookup", []byte(`{"order":"43"}`)),
		// Length-prefixing: moving bytes between name and request changes the signature.
		"boundary shift": boundary.Signature(boundary.KindTool, "lookup{", []byte(`"order":"42"}`)),
	}
	for what, sig := range others {
		if sig == base {
			t.Errorf("changing the %s does not change the signature", what)
		}
	}
}

func TestPayloadHashCoversEachPart(t *testing.T) {
	base := boundary.PayloadHash([]byte(`{"q":1}`), []byte(`{"a":2}`), "")
	for what, h := range map[string]string{
		"request":  boundary.PayloadHash([]byte(`{"q":2}`), []byte(`{"a":2}`), ""),
		"response": boundary.PayloadHash([]byte(`{"q":1}`), []byte(`{"a":3}`), ""),
		"error":    boundary.PayloadHash([]byte(`{"q":1}`), []byte(`{"a":2}`), "boom"),
		"shift":    boundary.PayloadHash([]byte(`{"q":1}{"a":2}`), nil, ""),
	} {
		if h == base {
			t.Errorf("changing the %s does not change the payload hash", what)
		}
	}
}

// whole returns a record that passes Check.
func whole() boundary.Record {
	req := []byte(`{"messages":[{"content":"hello","role":"user"}]}`)
	resp := []byte(`{"text":"hi there"}`)
	return boundary.Record{
		Seq:            3,
		Kind:           boundary.KindLLM,
		Name:           "gpt",
		Request:        req,
		Response:       resp,
		Signature:      boundary.Signature(boundary.KindLLM, "gpt", req),
		PayloadHash:    boundary.PayloadHash(req, resp, ""),
		RequestLength:  int64(len(req)),
		ResponseLength: int64(len(resp)),
	}
}

func TestRecordCheck(t *testing.T) {
	r := whole()
	if err := r.Check(); err != nil {
		t.Fatalf("whole record: %v", err)
	}

	cases := []struct {
		name   string
		mutate func(r *boundary.Record)
		reason string
	}{
		{"cut request", func(r *boundary.Record) { r.Request = r.Request[:20] }, "request is 20 bytes"},
		{"cut response", func(r *boundary.Record) { r.Response = r.Response[:5] }, "response is 5 bytes"},
		{"changed response", func(r *boundary.Record) { r.Response = []byte(`{"text":"HI THERE"}`) }, "payload hash mismatch"},
		{"changed error", func(r *boundary.Record) { r.Error = "boom" }, "payload hash mismatch"},
		{"changed request, hash not updated", func(r *boundary.Record) {
			r.Request = []byte(`{"messages":[{"content":"HELLO","role":"user"}]}`)
		}, "payload hash mismatch"},
		{"changed request, hash updated", func(r *boundary.Record) {
			r.Request = []byte(`{"messages":[{"content":"HELLO","role":"user"}]}`)
			r.PayloadHash = boundary.PayloadHash(r.Request, r.Response, r.Error)
		}, "signature mismatch"},
		{"changed name", func(r *boundary.Record) { r.Name = "gpt-2" }, "signature mismatch"},
		{"changed kind", func(r *boundary.Record) { r.Kind = boundary.KindTool }, "signature mismatch"},
		{"no payload hash", func(r *boundary.Record) { r.PayloadHash = "" }, "no agentrr.payload.sha256"},
		{"marked damaged", func(r *boundary.Record) { r.Damage = "request cut from 900 to 64 bytes" }, "request cut from 900 to 64 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := whole()
			c.mutate(&r)
			err := r.Check()
			var de *boundary.DamageError
			if !errors.As(err, &de) {
				t.Fatalf("Check() = %v, want a *DamageError", err)
			}
			if de.Seq != 3 || !strings.Contains(de.Reason, c.reason) {
				t.Errorf("DamageError{Seq: %d, Reason: %q}, want seq 3 and a reason containing %q", de.Seq, de.Reason, c.reason)
			}
		})
	}

	// Lengths are optional (-1): then only the hash guards the payload.
	r = whole()
	r.RequestLength, r.ResponseLength = -1, -1
	if err := r.Check(); err != nil {
		t.Errorf("record without lengths: %v", err)
	}
	// A failed call: no response, an error text covered by the hash.
	r = whole()
	r.Response, r.ResponseLength, r.Failed, r.Error = nil, -1, true, "tool exploded"
	r.PayloadHash = boundary.PayloadHash(r.Request, nil, r.Error)
	if err := r.Check(); err != nil {
		t.Errorf("failed call record: %v", err)
	}
}

// encodeSpans returns the OTLP protobuf encoding of TracesData holding one
// span per attribute map.
func encodeSpans(t testing.TB, attrSets ...map[string]any) []byte {
	t.Helper()
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for i, attrs := range attrSets {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
		sp.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(i + 1)})
		sp.SetName("chat gpt")
		if err := sp.Attributes().FromRaw(attrs); err != nil {
			t.Fatal(err)
		}
	}
	b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wholeAttrs() map[string]any {
	r := whole()
	return map[string]any{
		boundary.AttrKind:           string(r.Kind),
		boundary.AttrSeq:            r.Seq,
		boundary.AttrName:           r.Name,
		boundary.AttrRequest:        string(r.Request),
		boundary.AttrResponse:       string(r.Response),
		boundary.AttrSignature:      r.Signature,
		boundary.AttrPayloadHash:    r.PayloadHash,
		boundary.AttrRequestLength:  r.RequestLength,
		boundary.AttrResponseLength: r.ResponseLength,
		"custom.attr":               "kept",
	}
}

func TestUnmarshalRoundTrip(t *testing.T) {
	rec, err := boundary.Unmarshal(encodeSpans(t, wholeAttrs()))
	if err != nil {
		t.Fatal(err)
	}
	w := whole()
	if rec.Seq != w.Seq || rec.Kind != w.Kind || rec.Name != w.Name || string(rec.Request) != string(w.Request) ||
		string(rec.Response) != string(w.Response) || rec.Signature != w.Signature || rec.Failed {
		t.Errorf("decoded %+v, want %+v", rec, w)
	}
	if rec.SpanName != "chat gpt" || rec.TraceIDString() != "0102030405060708090a0b0c0d0e0f10" {
		t.Errorf("span name %q, trace %s", rec.SpanName, rec.TraceIDString())
	}
	if rec.Attributes["custom.attr"] != "kept" {
		t.Errorf("non-agentrr attribute lost: %v", rec.Attributes)
	}
	if err := rec.Check(); err != nil {
		t.Errorf("decoded record does not check: %v", err)
	}
}

func TestUnmarshalRejects(t *testing.T) {
	notBoundary := wholeAttrs()
	delete(notBoundary, boundary.AttrKind)
	if _, err := boundary.Unmarshal(encodeSpans(t, notBoundary)); !errors.Is(err, boundary.ErrNotBoundary) {
		t.Errorf("span without %s: err = %v, want ErrNotBoundary", boundary.AttrKind, err)
	}
	noSeq := wholeAttrs()
	delete(noSeq, boundary.AttrSeq)
	badKind := wholeAttrs()
	badKind[boundary.AttrKind] = "telepathy"
	strSeq := wholeAttrs()
	strSeq[boundary.AttrSeq] = "3"
	negSeq := wholeAttrs()
	negSeq[boundary.AttrSeq] = int64(-1)
	for name, b := range map[string][]byte{
		"no seq":       encodeSpans(t, noSeq),
		"unknown kind": encodeSpans(t, badKind),
		"string seq":   encodeSpans(t, strSeq),
		"negative seq": encodeSpans(t, negSeq),
		"two spans":    encodeSpans(t, wholeAttrs(), wholeAttrs()),
		"no span":      encodeSpans(t),
		"garbage":      []byte("\xff\xff\xff\xff not protobuf"),
	} {
		if _, err := boundary.Unmarshal(b); err == nil {
			t.Errorf("%s: Unmarshal succeeded", name)
		}
	}
}

func TestParseKind(t *testing.T) {
	for _, k := range []boundary.Kind{boundary.KindLLM, boundary.KindTool, boundary.KindClock, boundary.KindRand, boundary.KindID, boundary.KindHTTP} {
		if got, err := boundary.ParseKind(string(k)); err != nil || got != k {
			t.Errorf("ParseKind(%q) = %q, %v", k, got, err)
		}
	}
	if _, err := boundary.ParseKind("LLM"); err == nil {
		t.Error("ParseKind is case-insensitive; kinds are stored lower-case")
	}
}

func FuzzUnmarshal(f *testing.F) {
	f.Add(encodeSpans(f, wholeAttrs()))
	f.Add(encodeSpans(f, wholeAttrs(), wholeAttrs()))
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x00})
	f.Add([]byte("\x0a\x05\x12\x03\x12\x01\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := boundary.Unmarshal(b)
		if err != nil {
			return
		}
		// Whatever decodes is a boundary with a known kind and a valid seq,
		// and checking it must not panic either.
		if !rec.Kind.Valid() || rec.Seq < 0 {
			t.Fatalf("Unmarshal accepted kind %q seq %d", rec.Kind, rec.Seq)
		}
		_ = rec.Check()
	})
}

func FuzzCanonicalizeJSON(f *testing.F) {
	for _, s := range []string{
		`{"b":1,"a":[true,false,null]}`,
		`{"n":12345678901234567890123,"f":-1.5e-300}`,
		`"<\u2028>&\ud83d\ude00"`,
		`{"a":{"a":{"a":[]}}, "a":1}`,
		"\"\xff\xfe\"",
		`[]`,
		`{}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := boundary.CanonicalizeJSON(b)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("CanonicalizeJSON(%q) = %q: not valid JSON", b, out)
		}
		again, err := boundary.CanonicalizeJSON(out)
		if err != nil {
			t.Fatalf("canonical form %q does not canonicalise again: %v", out, err)
		}
		if !bytes.Equal(out, again) {
			t.Fatalf("not idempotent: %q -> %q -> %q", b, out, again)
		}
	})
}

// One damage marker: errors.Is(err, boundary.ErrDamaged) holds whichever
// package found the damage.
func TestOneDamageMarker(t *testing.T) {
	r := boundary.Record{Seq: 3, Damage: "cut"}
	if err := r.Check(); !errors.Is(err, boundary.ErrDamaged) {
		t.Errorf("Record.Check: %v does not match boundary.ErrDamaged", err)
	}
}
