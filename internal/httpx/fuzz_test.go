package httpx

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// Replay reads what a store or an OTLP file holds: a recorded response and
// the read sizes of its stream. None of it may panic or loop on any input.

// FuzzReplayBody replays a recorded body in its recorded read sizes.
// Whatever the sizes are, the reader gets exactly the recorded bytes, then
// the end, in a bounded number of reads.
func FuzzReplayBody(f *testing.F) {
	sizes := func(ns ...int32) []byte {
		var b []byte
		for _, n := range ns {
			b = binary.LittleEndian.AppendUint32(b, uint32(n))
		}
		return b
	}
	f.Add([]byte("data: a\n\ndata: b\n\n"), sizes(9, 9), uint8(4))
	f.Add([]byte("hello"), sizes(), uint8(1))
	f.Add([]byte("hello"), sizes(0, 0, 5), uint8(3))
	f.Add([]byte("hello"), sizes(-1, 2), uint8(2))
	f.Add([]byte("hello"), sizes(100), uint8(0))
	f.Add([]byte{}, sizes(3), uint8(8))
	f.Fuzz(func(t *testing.T, data, rawSizes []byte, bufSize uint8) {
		var chunks []int
		for len(rawSizes) >= 4 {
			chunks = append(chunks, int(int32(binary.LittleEndian.Uint32(rawSizes))))
			rawSizes = rawSizes[4:]
		}
		var recorded Response
		recorded.SetBody(data)
		body := NewReplayBody(recorded.BodyBytes(), chunks, io.EOF, nil)
		buf := make([]byte, int(bufSize%64)+1)
		var got []byte
		for reads := 0; ; reads++ {
			if reads > len(data)+len(chunks)+2 {
				t.Fatalf("no end after %d reads of %d bytes in %v", reads, len(data), chunks)
			}
			n, err := body.Read(buf)
			if n < 0 || n > len(buf) {
				t.Fatalf("Read returned %d for a %d-byte buffer", n, len(buf))
			}
			got = append(got, buf[:n]...)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("replayed %q, recorded %q", got, data)
		}
		if err := body.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzRecordedResponse decodes a recorded HTTP response (the JSON stored
// as agentrr.response) as replay does.
func FuzzRecordedResponse(f *testing.F) {
	f.Add([]byte(`{"status":200,"status_line":"200 OK","proto":"HTTP/1.1","header":{"Content-Type":["application/json"]},"content_length":2,"body":"{}"}`))
	f.Add([]byte(`{"status":200,"body_base64":"AAEC","stream":true,"chunks":[1,2]}`))
	f.Add([]byte(`{"status":500,"body_base64":"!!not base64"}`))
	f.Add([]byte(`{"no_body":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var rec Response
		if json.Unmarshal(b, &rec) != nil {
			return
		}
		_ = rec.BodyBytes()
		resp := rec.HTTPResponse(nil, rec.CloneHeader())
		if resp.Header == nil {
			t.Fatal("replayed response without a header map")
		}
		_ = rec.Retryable()
	})
}
