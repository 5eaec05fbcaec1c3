package cmdutil

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWrap(t *testing.T) {
	for _, tc := range []struct {
		s     string
		width int
		want  []string
	}{
		{"", 10, []string{""}},
		{"one two three", 0, []string{"one two three"}},
		{"one two three", 7, []string{"one two", "three"}},
		{"one\n  two", 80, []string{"one two"}},
		{"a 0123456789abcdef b", 8, []string{"a", "0123456789abcdef", "b"}},
	} {
		if got := Wrap(tc.s, tc.width); !cmp.Equal(got, tc.want) {
			t.Errorf("Wrap(%q, %d) = %q, want %q", tc.s, tc.width, got, tc.want)
		}
	}
}

func TestWriteFields(t *testing.T) {
	var b strings.Builder
	err := WriteFields(&b, []Field{
		{"run", "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"skipped label that is long", ""},
		{"status", "truncated: " + strings.Repeat("word ", 20)},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `run     4bf92f3577b34da6a3ce929d0e0e4736
status  truncated: word word word word word word word word word word word word
        word word word word word word word word
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("WriteFields (-want +got):\n%s", diff)
	}
}

func TestFitColumn(t *testing.T) {
	header := []string{"SEQ", "NAME", "STATUS"}
	rows := [][]string{{"0", strings.Repeat("n", 100), "ok"}}
	FitColumn(header, rows, 1, 8)
	if got := len([]rune(rows[0][1])); got != TermWidth-3-6-4 || !strings.HasSuffix(rows[0][1], "…") {
		t.Errorf("cut to %d runes (%q)", got, rows[0][1])
	}
}
