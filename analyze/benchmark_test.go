package analyze

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/boundary"
)

// longRun is a tool-calling agent's run of n boundaries, in turns of
// three: an LLM call (a system prompt of about 700 characters, the tool
// definitions of about 900 that every request carries, the question and
// the last six messages of the conversation, tool results included), the
// tool call the model asked for (a result of about 300 characters of
// different text every turn) and a clock read. It returns the run and the
// seq of its last LLM call.
func longRun(b *testing.B, n int) ([]boundary.Record, int64) {
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("the order parcel depot carrier label customs delay route driver van " +
		"warehouse scan item box signature address postcode weather strike holiday refund " +
		"replacement damaged missing early late tomorrow today morning evening noon week")
	text := func(n int) string {
		var sb strings.Builder
		for sb.Len() < n {
			sb.WriteString(words[rng.IntN(len(words))])
			sb.WriteByte(' ')
			if rng.IntN(9) == 0 {
				fmt.Fprintf(&sb, "%d ", rng.IntN(100000))
			}
		}
		return sb.String()
	}
	sys := "You are a support agent for Acme Logistics. " + text(650)
	tools := map[string]any{"tools": []map[string]any{
		{"name": "lookup_order", "description": text(300), "parameters": map[string]any{"order_id": text(120)}},
		{"name": "refund_policy", "description": text(300), "parameters": map[string]any{"order_id": text(120)}},
	}}
	r := newRun()
	var history []msg
	last := int64(-1)
	for turn := 0; len(r.recs) < n; turn++ {
		window := history[max(0, len(history)-6):]
		req := map[string]any{"model": "gpt", "tools": tools, "messages": append([]msg{{"system", sys}, {"user", "Where are my orders? Please check all of them."}}, window...)}
		id := fmt.Sprintf("A-%05d", turn)
		call := map[string]any{"tool_call": map[string]any{"name": "lookup_order", "arguments": `{"order_id":"` + id + `"}`}, "text": text(60)}
		last = r.add(b, boundary.KindLLM, "gpt", req, call, "").Seq
		if len(r.recs) == n {
			break
		}
		result := fmt.Sprintf("order %s: %s", id, text(280))
		r.add(b, boundary.KindTool, "lookup_order", map[string]string{"order_id": id}, map[string]string{"status_note": result}, "")
		if len(r.recs) == n {
			break
		}
		r.add(b, boundary.KindClock, "now", struct{}{}, fmt.Sprintf("2026-01-%02dT10:%02d:%02d.%06dZ", turn%28+1, turn%60, turn%60, turn), "")
		history = append(history, msg{"assistant", "Checking order " + id + "."}, msg{"tool", "the tool says: " + result})
	}
	return r.recs, last
}

// BenchmarkWhy10kBoundaries traces every string of the last prompt of a
// 10,000-boundary run (issue: provenance over 10k boundaries answers in
// under a second). go test -bench Why -run '^$' ./analyze
func BenchmarkWhy10kBoundaries(b *testing.B) {
	recs, seq := longRun(b, benchBoundaries)
	var bytes int64
	for _, r := range recs {
		bytes += int64(len(r.Request) + len(r.Response))
	}
	b.ReportAllocs()
	b.SetBytes(bytes)
	b.ResetTimer()
	for b.Loop() {
		p, err := Why(recs, seq, ProvenanceOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if p.Found == 0 || p.Partial != "" {
			b.Fatalf("found %d strings (partial: %q)", p.Found, p.Partial)
		}
	}
}

// BenchmarkWhy10kBoundariesOnePath traces one tool result inside the last
// prompt, as `agentrr why --path` does.
func BenchmarkWhy10kBoundariesOnePath(b *testing.B) {
	recs, seq := longRun(b, benchBoundaries)
	b.ReportAllocs()
	for b.Loop() {
		p, err := Why(recs, seq, ProvenanceOptions{Path: "messages[5].content"})
		if err != nil {
			b.Fatal(err)
		}
		if p.Found != 1 {
			b.Fatalf("found %d strings", p.Found)
		}
	}
}

var benchBoundaries = func() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_N")); err == nil {
		return n
	}
	return 10000
}()
