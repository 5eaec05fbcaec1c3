package boundary

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// canonicalSeeds are documents whose canonical form exercises every rule:
// key order, duplicate keys, white space, numbers as written, every string
// escape encoding/json writes and the ones it does not, invalid UTF-8, and
// invalid documents.
var canonicalSeeds = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `1.50`, `1e3`, `-1.0E+30`, `12345678901234567890123`,
	`""`, `"abc"`, ` { "b" : 1 , "a" : [ 1 , 2 , { "d" : null , "c" : true } ] } `,
	`{"a":1,"a":2}`, `{"b":1,"a":2,"b":3}`, `{"a":{"z":1,"y":2},"A":[{"q":1,"p":2}]}`,
	`{"":1," ":2,"é":3,"e":4}`, `{"a\nb":1,"a":2}`, `{"\u0061":1,"b":2}`,
	`"line\nbreak\ttab\"quote\\back\b\f\r"`, `"\u0001\u001f\u007f"`, `"\u001F"`, `"\u0008"`, `"\u000a"`,
	`"\/"`, `"\u00e9"`, `"é"`, `"\u2028\u2029"`, "\"\u2028\"", `"\ud83d\ude00"`, `"😀"`, `"\ud800"`,
	"\"\xff\"", "\"a\xc3\"", "\"\xed\xa0\x80\"", "\"\ufffd\"", `"<&>"`, `"\u003c"`,
	`{"a":1} {"b":2}`, `1 2`, `{}]`, `[1]]`, `1]`, ``, `  `, `{"a":`, `{"a" 1}`, `[1,]`, `{"a":1,}`,
	`01`, `1.`, `.5`, `1e`, `+1`, `-`, `tru`, `nul`, `"unterminated`, "\"ctl\x01\"", `[1 2]`, `{1:2}`,
	strings.Repeat("[", 300) + strings.Repeat("]", 300),
	strings.Repeat(`{"a":`, 300) + "1" + strings.Repeat("}", 300),
}

// checkFastCanonical fails if the single-pass path accepts in and disagrees
// with the reference path.
func checkFastCanonical(t *testing.T, in []byte) {
	t.Helper()
	fast, ok := fastCanonical(in)
	if !ok {
		return
	}
	slow, err := canonicalizeSlow(in)
	if err != nil {
		t.Fatalf("fast path accepted %q as %q; reference path: %v", in, fast, err)
	}
	if !bytes.Equal(fast, slow) {
		t.Fatalf("canonical form of %q: fast path %q, reference path %q", in, fast, slow)
	}
}

func TestFastCanonicalMatchesReference(t *testing.T) {
	for _, s := range canonicalSeeds {
		checkFastCanonical(t, []byte(s))
	}
	// Random documents: maps (unordered keys), structs (field order),
	// nested values, strings with every kind of character.
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		v := randomValue(r, 0)
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		checkFastCanonical(t, b)
		// Canonical (pooled working memory) agrees with the reference too.
		got, err := Canonical(v)
		if err != nil {
			t.Fatal(err)
		}
		if want, err := canonicalizeSlow(b); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("Canonical(%#v) = %q, reference path %q (%v)", v, got, want, err)
		}
		var ind bytes.Buffer
		if err := json.Indent(&ind, b, " ", "\t"); err != nil {
			t.Fatal(err)
		}
		checkFastCanonical(t, ind.Bytes())
	}
}

func TestFastCanonicalTakesEncodingJSONOutput(t *testing.T) {
	// The point of the fast path: what encoding/json writes never needs
	// the reference path.
	in := map[string]any{"z": "x\ny\"<>&\u0001", "a": []any{1.5, true, nil, map[string]int{"b": 2, "a": 1}}, "é": "😀"}
	b, err := marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fastCanonical(b); !ok {
		t.Errorf("fast path refused encoding/json output %s", b)
	}
}

func randomValue(r *rand.Rand, depth int) any {
	n := r.IntN(8)
	if depth > 4 {
		n = r.IntN(4)
	}
	switch n {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		return json.Number(fmt.Sprint(r.IntN(2000) - 1000))
	case 3:
		return randomString(r)
	case 4, 5:
		m := map[string]any{}
		for range r.IntN(5) {
			m[randomString(r)] = randomValue(r, depth+1)
		}
		return m
	case 6:
		a := make([]any, r.IntN(4))
		for i := range a {
			a[i] = randomValue(r, depth+1)
		}
		return a
	default:
		return struct {
			Z string `json:"z"`
			A any    `json:"a"`
			M string `json:"m,omitempty"`
		}{randomString(r), randomValue(r, depth+1), randomString(r)}
	}
}

func randomString(r *rand.Rand) string {
	const chars = "ab\n\t\"\\/<>&\u0001\u001f\u007f\u2028\u00e9\U0001F600\b\f\r"
	rs := []rune(chars)
	var sb strings.Builder
	for range r.IntN(6) {
		sb.WriteRune(rs[r.IntN(len(rs))])
	}
	if r.IntN(10) == 0 {
		sb.WriteString("\xff")
	}
	return sb.String()
}

func FuzzFastCanonical(f *testing.F) {
	for _, s := range canonicalSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkFastCanonical(t, in)
		// Canonical is idempotent.
		if out, err := CanonicalizeJSON(in); err == nil {
			again, err := CanonicalizeJSON(out)
			if err != nil || !bytes.Equal(again, out) {
				t.Fatalf("canonical form %q of %q is not canonical: %q, %v", out, in, again, err)
			}
		}
	})
}

// BenchmarkCanonical compares Canonical of a ~64 KB struct (fields out of
// key order, text strings) with the reference decode and re-encode path.
func BenchmarkCanonical(b *testing.B) {
	type hit struct {
		ID      string  `json:"id"`
		Title   string  `json:"title"`
		Score   float64 `json:"score"`
		Snippet string  `json:"snippet"`
	}
	type doc struct {
		Query string `json:"query"`
		Hits  []hit  `json:"hits"`
	}
	d := doc{Query: "refund policy"}
	for i := range 320 {
		d.Hits = append(d.Hits, hit{ID: fmt.Sprint("doc-", i), Title: "Support article", Score: 0.5, Snippet: strings.Repeat("the parcel arrived damaged\n", 5)})
	}
	raw, err := marshal(d)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Canonical", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Canonical(d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := fastCanonical(raw); !ok {
				b.Fatal("fast path refused encoding/json output")
			}
		}
	})
	b.Run("reference", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := canonicalizeSlow(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
