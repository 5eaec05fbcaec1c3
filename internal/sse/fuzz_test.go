package sse

import (
	"bytes"
	"testing"
)

// FuzzParseSSE splits what LLM servers send (and, on replay, what a store
// or an OTLP file holds) into events. It may not panic or loop on any
// input.
func FuzzParseSSE(f *testing.F) {
	for _, s := range []string{
		"event: message_start\ndata: {\"type\":\"message_start\"}\n\n",
		"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\r\n\r\ndata: [DONE]\r\n\r\n",
		": comment\rdata:x\rdata: y\r\r",
		"data: cut off",
		"event:\n\n\n\n",
		"data\n\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		events := Parse(body)
		if len(events) > bytes.Count(body, []byte("\n"))+bytes.Count(body, []byte("\r")) {
			t.Fatalf("%d events from %d line ends", len(events), bytes.Count(body, []byte("\n")))
		}
		for _, ev := range events {
			// Lines end at CR or LF: neither can be inside a field.
			if bytes.ContainsAny(ev.Data, "\r") || bytes.ContainsAny([]byte(ev.Type), "\r\n") {
				t.Fatalf("event %+v holds a line end", ev)
			}
		}
	})
}
