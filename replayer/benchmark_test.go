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
	rec, qs := benchBranchedRecording(b, 10000, 1)
	benchServe(b, rec, qs, nil)
}

// BenchmarkSessionNextDecode is Next plus decoding the recorded 1 KB
// response into the agent's type, as the otelrr helpers do on replay.
func BenchmarkSessionNextDecode(b *testing.B) {
	rec, qs := benchBranchedRecording(b, 10000, 1)
	benchServe(b, rec, qs, func(r *boundary.Record) {
		var out benchPayload
		if err := json.Unmarshal(r.Response, &out); err != nil {
			b.Fatal(err)
		}
	})
}

// benchServe has a session of rec serve the queries qs in order, one per
// iteration (starting a new session when all are served), and hands each
// record served to use, when not nil.
func benchServe(b *testing.B, rec *replayer.Recording, qs []replayer.Query, use func(*boundary.Record)) {
	b.Helper()
	s := replayer.NewSession(rec)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if i == len(qs) {
			s, i = replayer.NewSession(rec), 0
		}
		r, _, err := s.Next3(qs[i])
		if err != nil {
			b.Fatal(err)
		}
		s.Release(qs[i].Branch)
		if use != nil {
			use(r)
		}
		i++
	}
}

// benchBranchedRecording is benchRecording's n boundaries spread over
// branches branches ("w0", "w1", …; the root when branches is 1), laid out
// round-robin in seq order as concurrent branches record them, and the
// queries that replay it in that order. As after Load, every record has
// its own copy of its branch's path; as from the otelrr helpers, the
// queries of one branch share one.
func benchBranchedRecording(b *testing.B, n, branches int) (*replayer.Recording, []replayer.Query) {
	b.Helper()
	rec, _ := benchRecording(b, n)
	qs := make([]replayer.Query, n)
	next := make([]int64, branches)
	paths := make([]string, branches)
	for g := range paths {
		if branches > 1 {
			paths[g] = fmt.Sprintf("w%d", g)
		}
	}
	for i := range rec.Records {
		r := &rec.Records[i]
		g := i % branches
		r.Branch = strings.Clone(paths[g])
		r.Index = next[g]
		next[g]++
		qs[i] = replayer.Query{Branch: paths[g], Kind: r.Kind, Name: r.Name, Signature: r.Signature, Request: r.Request}
	}
	return rec, qs
}

// BenchmarkSessionNextBranched is BenchmarkSessionNext on a recording of
// 10,000 boundaries on one branch and on 8 branches, asked in seq order
// (the branches interleaved): the cost per boundary should not depend on
// the number of branches.
func BenchmarkSessionNextBranched(b *testing.B) {
	const n = 10000
	for _, branches := range []int{1, 8} {
		b.Run(fmt.Sprintf("branches=%d", branches), func(b *testing.B) {
			rec, qs := benchBranchedRecording(b, n, branches)
			benchServe(b, rec, qs, nil)
		})
	}
}

// BenchmarkNewSession is the session's set-up for a 10,000-boundary
// recording on one branch and on 8 (grouping the records by branch); the
// metric is per recorded boundary.
func BenchmarkNewSession(b *testing.B) {
	const n = 10000
	for _, branches := range []int{1, 8} {
		b.Run(fmt.Sprintf("branches=%d", branches), func(b *testing.B) {
			rec, _ := benchBranchedRecording(b, n, branches)
			b.ReportAllocs()
			for b.Loop() {
				replayer.NewSession(rec)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/boundary")
		})
	}
}
