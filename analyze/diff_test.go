package analyze

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestDiffJSON(t *testing.T) {
	tests := []struct {
		name               string
		expected, observed string
		want               []Change
	}{
		{
			name:     "edited system prompt",
			expected: `{"messages":[{"role":"system","content":"A"},{"role":"user","content":"hi"}],"model":"m"}`,
			observed: `{"messages":[{"role":"system","content":"B"},{"role":"user","content":"hi"}],"model":"m"}`,
			want:     []Change{{Path: "messages[0].content", Op: OpChanged, Expected: `"A"`, Observed: `"B"`}},
		},
		{
			name:     "identical documents, different key order and white space",
			expected: `{"b":[1,2,{"c":null}],"a":"x"}`,
			observed: "{ \"a\" : \"x\",\n  \"b\" : [ 1, 2, {\"c\": null} ] }",
			want:     nil,
		},
		{
			name:     "added and removed keys",
			expected: `{"model":"m","temperature":0.7}`,
			observed: `{"model":"m","top_p":1,"stream":true}`,
			want: []Change{
				{Path: "stream", Op: OpAdded, Observed: "true"},
				{Path: "temperature", Op: OpRemoved, Expected: "0.7"},
				{Path: "top_p", Op: OpAdded, Observed: "1"},
			},
		},
		{
			name:     "array grows at the end",
			expected: `{"tools":["a","b","c"]}`,
			observed: `{"tools":["a","b","c",{"name":"d"}]}`,
			want:     []Change{{Path: "tools[3]", Op: OpAdded, Observed: `{"name":"d"}`}},
		},
		{
			name:     "array shrinks",
			expected: `{"xs":[1,2,3]}`,
			observed: `{"xs":[1]}`,
			want: []Change{
				{Path: "xs[1]", Op: OpRemoved, Expected: "2"},
				{Path: "xs[2]", Op: OpRemoved, Expected: "3"},
			},
		},
		{
			name:     "insertion in the middle is compared by index, not aligned",
			expected: `["a","c"]`,
			observed: `["a","b","c"]`,
			want: []Change{
				{Path: "[1]", Op: OpChanged, Expected: `"c"`, Observed: `"b"`},
				{Path: "[2]", Op: OpAdded, Observed: `"c"`},
			},
		},
		{
			name:     "nested arrays at the root",
			expected: `[[1,2],[3]]`,
			observed: `[[1,2,3],[3]]`,
			want:     []Change{{Path: "[0][2]", Op: OpAdded, Observed: "3"}},
		},
		{
			name:     "1 and 1.0 are different canonical JSON",
			expected: `{"n":1}`,
			observed: `{"n":1.0}`,
			want:     []Change{{Path: "n", Op: OpChanged, Expected: "1", Observed: "1.0"}},
		},
		{
			name:     "number and string",
			expected: `{"n":1}`,
			observed: `{"n":"1"}`,
			want:     []Change{{Path: "n", Op: OpChanged, Expected: "1", Observed: `"1"`}},
		},
		{
			name:     "type change is one change, not descended into",
			expected: `{"content":[{"type":"text","text":"hi"}]}`,
			observed: `{"content":"hi"}`,
			want:     []Change{{Path: "content", Op: OpChanged, Expected: `[{"text":"hi","type":"text"}]`, Observed: `"hi"`}},
		},
		{
			name:     "null is a value, not an absence",
			expected: `{"a":null}`,
			observed: `{"a":{}}`,
			want:     []Change{{Path: "a", Op: OpChanged, Expected: "null", Observed: "{}"}},
		},
		{
			name:     "null at the root",
			expected: `null`,
			observed: `{"a":1}`,
			want:     []Change{{Path: "", Op: OpChanged, Expected: "null", Observed: `{"a":1}`}},
		},
		{
			name:     "scalars at the root",
			expected: `"x"`,
			observed: `"y"`,
			want:     []Change{{Path: "", Op: OpChanged, Expected: `"x"`, Observed: `"y"`}},
		},
		{
			name:     "keys that need quoting",
			expected: `{"a b":1,"x":{"c.d":1,"":1,"ok_9":1},"ys":[{"é":1}]}`,
			observed: `{"a b":2,"x":{"c.d":2,"":2,"ok_9":2},"ys":[{"é":2}]}`,
			want: []Change{
				{Path: `["a b"]`, Op: OpChanged, Expected: "1", Observed: "2"},
				{Path: `x[""]`, Op: OpChanged, Expected: "1", Observed: "2"},
				{Path: `x["c.d"]`, Op: OpChanged, Expected: "1", Observed: "2"},
				{Path: `x.ok_9`, Op: OpChanged, Expected: "1", Observed: "2"},
				{Path: `ys[0]["é"]`, Op: OpChanged, Expected: "1", Observed: "2"},
			},
		},
		{
			name:     "document order: keys in byte order, indices numerically",
			expected: `{"b":[0,0,0,0,0,0,0,0,0,0,0,0],"a":{"z":0,"B":0},"c":0}`,
			observed: `{"b":[0,0,1,0,0,0,0,0,0,0,1,0],"a":{"z":1,"B":1},"c":1}`,
			want: []Change{
				{Path: "a.B", Op: OpChanged, Expected: "0", Observed: "1"},
				{Path: "a.z", Op: OpChanged, Expected: "0", Observed: "1"},
				{Path: "b[2]", Op: OpChanged, Expected: "0", Observed: "1"},
				{Path: "b[10]", Op: OpChanged, Expected: "0", Observed: "1"},
				{Path: "c", Op: OpChanged, Expected: "0", Observed: "1"},
			},
		},
		{
			name:     "no HTML escaping in values",
			expected: `{"q":"a<b"}`,
			observed: `{"q":"a>b&c"}`,
			want:     []Change{{Path: "q", Op: OpChanged, Expected: `"a<b"`, Observed: `"a>b&c"`}},
		},
		{
			name:     "expected absent",
			expected: ``,
			observed: `{"a":1}`,
			want:     []Change{{Path: "", Op: OpAdded, Observed: `{"a":1}`}},
		},
		{
			name:     "observed absent",
			expected: `[1, 2]`,
			observed: "  \n",
			want:     []Change{{Path: "", Op: OpRemoved, Expected: `[1,2]`}},
		},
		{
			name:     "both absent",
			expected: ``,
			observed: ``,
			want:     nil,
		},
		{
			name:     "invalid JSON is compared as text",
			expected: `{"a":1}`,
			observed: `{"a":1`,
			want:     []Change{{Path: "", Op: OpChanged, Expected: `{"a":1}`, Observed: `{"a":1`}},
		},
		{
			name:     "trailing data is invalid JSON",
			expected: `{"a":1}`,
			observed: `{"a":1} {"a":1}`,
			want:     []Change{{Path: "", Op: OpChanged, Expected: `{"a":1}`, Observed: `{"a":1} {"a":1}`}},
		},
		{
			name:     "identical invalid JSON",
			expected: `not json`,
			observed: `not json`,
			want:     nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DiffJSON([]byte(tt.expected), []byte(tt.observed))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DiffJSON(%s, %s) mismatch (-want +got):\n%s", tt.expected, tt.observed, diff)
			}
		})
	}
}

func TestDiffJSONNilInputs(t *testing.T) {
	if got := DiffJSON(nil, nil); got != nil {
		t.Errorf("DiffJSON(nil, nil) = %v, want nil", got)
	}
	want := []Change{{Path: "", Op: OpAdded, Observed: `{"a":[1]}`}}
	if diff := cmp.Diff(want, DiffJSON(nil, []byte(`{"a": [1]}`))); diff != "" {
		t.Errorf("DiffJSON(nil, doc) mismatch (-want +got):\n%s", diff)
	}
}

func TestDiffJSONCutsLongValues(t *testing.T) {
	long := strings.Repeat("é", 300) // 600 bytes of two-byte runes
	expected := []byte(`{"content":"` + long + `"}`)
	observed := []byte(`{"content":"short"}`)
	got := DiffJSON(expected, observed)
	if len(got) != 1 {
		t.Fatalf("DiffJSON = %v, want one change", got)
	}
	v := got[0].Expected
	if len(v) > MaxChangeValueBytes {
		t.Errorf("Expected is %d bytes, want at most %d", len(v), MaxChangeValueBytes)
	}
	if !utf8.ValidString(v) {
		t.Errorf("Expected %q is not valid UTF-8: cut inside a rune", v)
	}
	if !strings.HasPrefix(v, `"éé`) || !strings.HasSuffix(v, "…") {
		t.Errorf("Expected = %q, want the start of the value ending in …", v)
	}
	if got[0].Observed != `"short"` {
		t.Errorf("Observed = %q, want %q (short values are not cut)", got[0].Observed, `"short"`)
	}
}

func TestDiffJSONIsDeterministic(t *testing.T) {
	expected := []byte(`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9}`)
	observed := []byte(`{"k0":1,"k1":2,"k2":3,"k3":4,"k4":5,"k5":6,"k6":7,"k7":8,"k8":9,"k9":0}`)
	first := DiffJSON(expected, observed)
	if len(first) != 10 {
		t.Fatalf("DiffJSON found %d changes, want 10", len(first))
	}
	for range 20 {
		if diff := cmp.Diff(first, DiffJSON(expected, observed)); diff != "" {
			t.Fatalf("DiffJSON is not deterministic (-first +now):\n%s", diff)
		}
	}
}

func TestPreview(t *testing.T) {
	tests := []struct {
		payload string
		max     int
		want    string
	}{
		{`{ "a" : [1, 2],  "b": "x y" }`, 100, `{"a":[1,2],"b":"x y"}`},
		{`{"a":"0123456789"}`, 10, `{"a":"012…`},
		{`{"a":"0123456789"}`, 18, `{"a":"0123456789"}`},
		{`"ééééé"`, 4, `"éé…`},
		{"not\n  json\tat all", 100, "not json at all"},
		{`{"a":1}`, 0, `{"a":1}`},
		{``, 10, ``},
	}
	for _, tt := range tests {
		got := Preview([]byte(tt.payload), tt.max)
		if got != tt.want {
			t.Errorf("Preview(%q, %d) = %q, want %q", tt.payload, tt.max, got, tt.want)
		}
		if tt.max > 0 && utf8.RuneCountInString(got) > tt.max {
			t.Errorf("Preview(%q, %d) = %q: longer than %d runes", tt.payload, tt.max, got, tt.max)
		}
	}
}
