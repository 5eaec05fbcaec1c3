package replayer_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/replayer"
)

// benchPayload is a ~1 KB JSON object of text, like a tool's answer.
type benchPayload struct {
	Query string   `json:"query"`
	Hits  []string `json:"hits"`
}

func benchRecording(b *testing.B, n int) (*replayer.Recording, benchPayload) {
	b.Helper()
	p := benchPayload{Query: "refund policy for damaged parcels"}
	for i := range 8 {
		p.Hits = append(p.Hits, fmt.Sprintf("doc-%d: ", i)+strings.Repeat("the parcel arrived damaged ", 4))
	}
	body, err := boundary.Canonical(p)
	if err != nil {
		b.Fatal(err)
	}
	bd := bnd{kind: boundary.KindTool, name: "search", req: string(body)}
	rec := &replayer.Recording{TraceID: strings.Repeat("ab", 16)}
	for i := range n {
		rec.Records = append(rec.Records, bd.record(int64(i), string(body)))
	}
	return rec, p
}

// BenchmarkSessionNext is the session alone serving one boundary of a
// 10,000-boundary recording: match by seq, validate kind, name, signature.
func BenchmarkSessionNext(b *testing.B) {
	const n = 10000
	rec, _ := benchRecording(b, n)
	sig := rec.Records[0].Signature
	req := rec.Records[0].Request
	s := replayer.NewSession(rec)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if i == n {
			s, i = replayer.NewSession(rec), 0
		}
		if _, _, err := s.Next(replayer.Query{Kind: boundary.KindTool, Name: "search", Signature: sig, Request: req}); err != nil {
			b.Fatal(err)
		}
		s.Release("")
		i++
	}
}

// BenchmarkSessionNextDecode is Next plus decoding the recorded 1 KB
// response into the agent's type, as the otelrr helpers do on replay.
func BenchmarkSessionNextDecode(b *testing.B) {
	const n = 10000
	rec, _ := benchRecording(b, n)
	sig := rec.Records[0].Signature
	req := rec.Records[0].Request
	s := replayer.NewSession(rec)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if i == n {
			s, i = replayer.NewSession(rec), 0
		}
		r, _, err := s.Next(replayer.Query{Kind: boundary.KindTool, Name: "search", Signature: sig, Request: req})
		if err != nil {
			b.Fatal(err)
		}
		s.Release("")
		var out benchPayload
		if err := json.Unmarshal(r.Response, &out); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
