package sse

import "testing"

func TestParse(t *testing.T) {
	body := ": comment\r\nevent: a\r\ndata: one\r\ndata:two\r\n\r\n" +
		"data: {\"x\":1}\n\n" +
		"event: ping\n\n" +
		"data: three\r\rdata: cut"
	got := Parse([]byte(body))
	want := []Event{{"a", []byte("one\ntwo")}, {"", []byte(`{"x":1}`)}, {"ping", nil}, {"", []byte("three")}}
	if len(got) != len(want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	for i := range want {
		if got[i].Type != want[i].Type || string(got[i].Data) != string(want[i].Data) {
			t.Errorf("event %d = %q %q, want %q %q", i, got[i].Type, got[i].Data, want[i].Type, want[i].Data)
		}
	}
}
