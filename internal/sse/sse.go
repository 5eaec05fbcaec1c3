// Package sse reads server-sent event streams (text/event-stream), the
// body of a streamed LLM response, so that the GenAI conventions can be
// read from a recorded stream. It only reads: replay serves a stream's
// recorded bytes themselves, never a re-encoding of its events.
package sse

import "bytes"

// Event is one server-sent event: its type (the "event:" field, empty
// when absent) and its data (the "data:" fields joined by newlines).
type Event struct {
	Type string
	Data []byte
}

// Parse splits a text/event-stream body into its events, as the WHATWG
// event-stream rules and the SDK decoders do: lines end in LF, CRLF or CR;
// a blank line dispatches the event being built; lines starting with ':'
// are comments; one space after a field's colon is dropped. An event not
// terminated by a blank line (a stream cut short) is not dispatched, as
// the SDK decoders do not dispatch it either. Each event's Data is its own
// copy, not part of body.
func Parse(body []byte) []Event {
	var (
		events  []Event
		typ     string
		data    []byte
		hasData bool
	)
	for len(body) > 0 {
		i := bytes.IndexAny(body, "\r\n")
		if i < 0 {
			break // an unterminated last line: the stream was cut
		}
		line := body[:i]
		if body[i] == '\r' && i+1 < len(body) && body[i+1] == '\n' {
			i++
		}
		body = body[i+1:]

		if len(line) == 0 {
			if hasData || typ != "" {
				events = append(events, Event{Type: typ, Data: bytes.TrimSuffix(data, []byte("\n"))})
			}
			typ, data, hasData = "", nil, false
			continue
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		if len(name) == 0 {
			continue // comment
		}
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(name) {
		case "event":
			typ = string(value)
		case "data":
			data = append(data, value...)
			data = append(data, '\n')
			hasData = true
		}
	}
	return events
}
