package analyze

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/agentrr/agentrr/boundary"
)

// runBuilder makes the boundaries of a run by hand, one after the other,
// 1 ms apart, each lasting 100 µs.
type runBuilder struct {
	t0   time.Time
	recs []boundary.Record
}

func newRun() *runBuilder { return &runBuilder{t0: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func canonical(t testing.TB, v any) []byte {
	t.Helper()
	b, err := boundary.Canonical(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// add appends a boundary; response nil with errText set makes a failed call.
func (b *runBuilder) add(t testing.TB, kind boundary.Kind, name string, req, resp any, errText string) *boundary.Record {
	t.Helper()
	seq := int64(len(b.recs))
	start := b.t0.Add(time.Duration(seq) * time.Millisecond)
	r := boundary.Record{
		Seq: seq, Index: seq, Group: seq, Kind: kind, Name: name,
		Start: start, End: start.Add(100 * time.Microsecond),
		Request: canonical(t, req), Attributes: map[string]any{},
	}
	if errText != "" {
		r.Failed, r.Error = true, errText
	} else {
		r.Response = canonical(t, resp)
	}
	b.recs = append(b.recs, r)
	return &b.recs[len(b.recs)-1]
}

type msg struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chat struct {
	Model    string `json:"model"`
	Messages []msg  `json:"messages"`
}

const (
	system     = "You are a careful support agent for Acme Logistics."
	question   = "Where is my order A-1001? It was due yesterday."
	toolResult = "order A-1001 is held at the Leeds depot: damaged label, relabelled, ships tomorrow"
)

// conversationRun is a small tool-calling conversation: the model asks for a
// tool (seq 0), the tool answers (seq 1), the answer goes into the next
// prompt (seq 2), the model's reply echoes part of it, and a last prompt
// (seq 3) carries everything.
func conversationRun(t *testing.T) []boundary.Record {
	b := newRun()
	msgs := []msg{{"system", system}, {"user", question}}
	b.add(t, boundary.KindLLM, "gpt", chat{"gpt", msgs}, map[string]any{"tool_call": map[string]any{"name": "lookup_order", "arguments": `{"order_id":"A-1001"}`}}, "")
	b.add(t, boundary.KindTool, "lookup_order", map[string]string{"order_id": "A-1001"}, map[string]string{"status_note": toolResult}, "")
	msgs = append(msgs, msg{"tool", "the tool says: " + toolResult})
	b.add(t, boundary.KindLLM, "gpt", chat{"gpt", msgs}, map[string]any{"text": "Your order is held at the Leeds depot: damaged label, relabelled, ships tomorrow. Where is my order A-1001? Sorry."}, "")
	msgs = append(msgs, msg{"assistant", "Your order is held at the Leeds depot: damaged label, relabelled, ships tomorrow. Where is my order A-1001? Sorry."}, msg{"user", "thanks"})
	b.add(t, boundary.KindLLM, "gpt", chat{"gpt", msgs}, map[string]any{"text": "bye"}, "")
	return b.recs
}

func why(t *testing.T, recs []boundary.Record, seq int64, path string) *Provenance {
	t.Helper()
	p, err := Why(recs, seq, ProvenanceOptions{Path: path})
	if err != nil {
		t.Fatalf("Why(seq %d, %q): %v", seq, path, err)
	}
	return p
}

func only(t *testing.T, p *Provenance) StringProvenance {
	t.Helper()
	if len(p.Strings) != 1 {
		t.Fatalf("traced %d strings, want 1: %+v", len(p.Strings), p.Strings)
	}
	return p.Strings[0]
}

// onlyFragment returns the one fragment found in s, failing t unless there
// is exactly one.
func onlyFragment(t *testing.T, s StringProvenance) Fragment {
	t.Helper()
	if len(s.Fragments) != 1 {
		t.Fatalf("fragments = %+v, want one", s.Fragments)
	}
	return s.Fragments[0]
}

func TestWhyFindsAToolResultInTheNextPrompt(t *testing.T) {
	recs := conversationRun(t)
	s := only(t, why(t, recs, 2, "messages[2].content"))
	f := onlyFragment(t, s)
	prefix := len("the tool says: ")
	if f.Start != prefix || f.End != prefix+len(toolResult) || f.Whole {
		t.Errorf("fragment %d-%d (whole %v), want %d-%d of the string", f.Start, f.End, f.Whole, prefix, prefix+len(toolResult))
	}
	if s.Found != len(toolResult) || s.Length != prefix+len(toolResult) {
		t.Errorf("found %d of %d characters, want %d of %d", s.Found, s.Length, len(toolResult), prefix+len(toolResult))
	}
	want := Place{Seq: 1, Index: 1, Kind: boundary.KindTool, Name: "lookup_order", Part: PartResponse, Path: "status_note", Whole: true}
	if len(f.Sources) != 1 || f.Sources[0] != want {
		t.Errorf("sources = %+v, want [%+v]", f.Sources, want)
	}
	if f.Via != nil {
		t.Errorf("via = %+v, want none: seq 2 is the first request to carry it", f.Via)
	}
}

func TestWhyShowsTheChainThroughEarlierRequests(t *testing.T) {
	recs := conversationRun(t)
	s := only(t, why(t, recs, 3, "messages[2].content"))
	f := onlyFragment(t, s)
	if f.Sources[0].Seq != 1 {
		t.Errorf("source seq %d, want 1 (the tool)", f.Sources[0].Seq)
	}
	if f.Via == nil || f.Via.Seq != 2 || f.Via.Part != PartRequest || f.Via.Path != "messages[2].content" || f.ViaCount != 1 {
		t.Errorf("via = %+v ×%d, want seq 2's request messages[2].content, once", f.Via, f.ViaCount)
	}
}

func TestWhyFindsNothingInTextTheAgentWroteItself(t *testing.T) {
	recs := conversationRun(t)
	p := why(t, recs, 3, "messages[0].content")
	s := only(t, p)
	if s.Found != 0 || len(s.Fragments) != 0 || p.Found != 0 || p.NotFound != 1 {
		t.Fatalf("the system prompt was found: %+v", s)
	}
	if s.SentBefore == nil || s.SentBefore.Seq != 0 || s.SentBefore.Path != "messages[0].content" {
		t.Errorf("sent before = %+v, want seq 0's request at messages[0].content", s.SentBefore)
	}
}

// The model's reply at seq 2 quotes the user's question and the tool
// result, both of which it was sent in that very request: an echo is not a
// source. The agent's notes at seq 3 quote both again: the question stays
// the agent's own, the tool result the tool's.
func TestWhyDoesNotCreditAnEcho(t *testing.T) {
	recs := conversationRun(t)
	b := &runBuilder{t0: recs[0].Start, recs: recs[:3]}
	notes := "Customer asked: " + question + " Tool: " + toolResult
	b.add(t, boundary.KindLLM, "gpt", chat{"gpt", []msg{{"user", notes}}}, "ok", "")
	b.recs[2].Response = canonical(t, map[string]string{"text": "You asked: " + question + " The tool found: " + toolResult})
	s := only(t, why(t, b.recs, 3, "messages[0].content"))
	f := onlyFragment(t, s)
	if f.Text != " "+toolResult && f.Text != toolResult {
		t.Errorf("fragment %q, want the tool result", f.Text)
	}
	if len(f.Sources) != 1 || f.Sources[0].Seq != 1 {
		t.Errorf("sources = %+v, want seq 1 (the tool) alone, not the model that echoed it", f.Sources)
	}
	if want := len([]rune(toolResult)); s.Found != want && s.Found != want+1 {
		t.Errorf("found %d characters, want the tool result's %d", s.Found, want)
	}
}

// An assistant message put back into the conversation is the model's
// reply, whole.
func TestWhyCreditsTheModelWithItsReply(t *testing.T) {
	recs := conversationRun(t)
	s := only(t, why(t, recs, 3, "messages[3].content"))
	if len(s.Fragments) != 1 || !s.Fragments[0].Whole || s.Fragments[0].Sources[0].Seq != 2 || s.Fragments[0].Sources[0].Path != "text" {
		t.Fatalf("fragments = %+v, want the whole string from seq 2's response text", s.Fragments)
	}
	// The model had been sent the tool result: the chain goes on to the tool.
	inner := s.Fragments[0].Inner
	if len(inner) != 1 || inner[0].Sources[0].Seq != 1 || !strings.Contains(toolResult, strings.TrimSpace(inner[0].Text)) {
		t.Errorf("inner = %+v, want the tool result from seq 1", inner)
	}
}

func TestWhyFindsErrorTextsAndRecordedInputs(t *testing.T) {
	b := newRun()
	b.add(t, boundary.KindClock, "now", struct{}{}, "2026-01-02T03:04:05.123456Z", "")
	b.add(t, boundary.KindTool, "lookup_order", map[string]string{"order_id": "B-2"}, nil, "order B-2 not found in the warehouse system")
	b.add(t, boundary.KindLLM, "gpt", chat{"gpt", []msg{{"user", "at 2026-01-02T03:04:05.123456Z the tool said: order B-2 not found in the warehouse system"}}}, "ok", "")
	s := only(t, why(t, b.recs, 2, "messages[0].content"))
	if len(s.Fragments) != 2 {
		t.Fatalf("fragments = %+v, want the clock value and the error text", s.Fragments)
	}
	if got := s.Fragments[0].Sources[0]; got.Seq != 0 || got.Part != PartResponse || !got.Whole {
		t.Errorf("first fragment from %+v, want seq 0's whole response", got)
	}
	if got := s.Fragments[1].Sources[0]; got.Seq != 1 || got.Part != PartError {
		t.Errorf("second fragment from %+v, want seq 1's error", got)
	}
}

func TestWhyIgnoresResponsesThatArrivedLater(t *testing.T) {
	b := newRun()
	slow := b.add(t, boundary.KindTool, "slow", map[string]string{"q": "x"}, "a result that arrived too late to matter", "")
	prompt := b.add(t, boundary.KindLLM, "gpt", chat{"gpt", []msg{{"user", "a result that arrived too late to matter"}}}, "ok", "")
	// The tool was still running when the prompt was sent.
	slow.End = prompt.Start.Add(time.Millisecond)
	b.recs[0] = *slow
	p := why(t, b.recs, 1, "")
	if p.Found != 0 || p.Searched != 0 {
		t.Errorf("found %d strings in %d responses, want none: the only response came after the request", p.Found, p.Searched)
	}
}

func TestWhyFindsShortValuesOnlyWhole(t *testing.T) {
	recs := conversationRun(t)
	// "A-1001" is six characters: it counts where a whole value equals it,
	// here inside the tool call's arguments (a string holding JSON).
	s := only(t, why(t, recs, 1, "order_id"))
	want := Place{Seq: 0, Index: 0, Kind: boundary.KindLLM, Name: "gpt", Part: PartResponse, Path: "tool_call.arguments", Decoded: "order_id", Whole: true}
	if got := onlyFragment(t, s).Sources; len(got) != 1 || got[0] != want {
		t.Errorf("sources = %+v, want [%+v]", got, want)
	}
	// "thanks" is in no response as a whole value.
	if s := only(t, why(t, recs, 3, "messages[4].content")); s.Found != 0 {
		t.Errorf("a short string matched inside longer text: %+v", s)
	}
}

func TestWhyReadsTheModelsMessagesOfAStream(t *testing.T) {
	b := newRun()
	stream := b.add(t, boundary.KindLLM, "gpt", map[string]any{"body": chat{"gpt", []msg{{"user", question}}}, "method": "POST", "path": "/v1/chat/completions"},
		map[string]any{"body": "data: {\"delta\":\"Your parcel is \"}\n\ndata: {\"delta\":\"at the Leeds depot.\"}\n\n", "status": 200}, "")
	out, _ := json.Marshal([]map[string]any{{"role": "assistant", "parts": []map[string]any{{"type": "text", "content": "Your parcel is at the Leeds depot."}}}})
	stream.Attributes[boundary.GenAIOutputMessages] = string(out)
	b.add(t, boundary.KindLLM, "gpt", map[string]any{"body": chat{"gpt", []msg{{"user", question}, {"assistant", "Your parcel is at the Leeds depot."}}}}, "ok", "")
	// The path may leave the transport's "body." out.
	p := why(t, b.recs, 1, "messages[1].content")
	if p.Path != "body.messages[1].content" {
		t.Errorf("path resolved to %q", p.Path)
	}
	s := only(t, p)
	if len(s.Fragments) != 1 || !s.Fragments[0].Whole {
		t.Fatalf("fragments = %+v, want the whole reply", s.Fragments)
	}
	if got := s.Fragments[0].Sources[0]; got.Part != boundary.GenAIOutputMessages || got.Path != "[0].parts[0].content" || !got.Whole {
		t.Errorf("source = %+v, want gen_ai.output.messages [0].parts[0].content", got)
	}
}

func TestWhyMatchesAreMaximalAndWholeCharacters(t *testing.T) {
	b := newRun()
	b.add(t, boundary.KindTool, "t", "q", "xx — ünïcödé text shared here — yy", "")
	b.add(t, boundary.KindLLM, "gpt", "zz — ünïcödé text shared here — ww", "ok", "")
	s := only(t, why(t, b.recs, 1, ""))
	if f := onlyFragment(t, s); f.Text != " — ünïcödé text shared here — " || f.Start != 2 || f.Length != len([]rune(f.Text)) {
		t.Errorf("fragment %q at %d (%d characters), want the maximal shared run at 2", f.Text, f.Start, f.Length)
	}
}

func TestWhyPathErrors(t *testing.T) {
	recs := conversationRun(t)
	for _, tc := range []struct{ path, want string }{
		{"messages[9].content", "has nothing at messages[9].content (messages has 3 elements (0-2))"},
		{"model.name", "has nothing at model.name (model holds a single value)"},
		{"mesages", "has nothing at mesages (the request has the keys messages, model)"},
		{"messages[", "unclosed ["},
		{"messages[x]", "not an array index"},
	} {
		_, err := Why(recs, 2, ProvenanceOptions{Path: tc.path})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("path %q: err = %v, want %q", tc.path, err, tc.want)
		}
	}
	if _, err := Why(recs, 9, ProvenanceOptions{}); err == nil {
		t.Error("seq 9 of 4: no error")
	}
	// Bare and JSONPath-style spellings, and quoted keys.
	for _, path := range []string{"$.messages[0].content", `messages[0]["content"]`, "messages[0]['content']"} {
		if s := only(t, why(t, recs, 2, path)); s.Path != "messages[0].content" {
			t.Errorf("%q traced %q", path, s.Path)
		}
	}
}

// A repetitive text has a maximal match at nearly every pair of positions;
// the search bounds its work and says so instead of running for minutes.
func TestWhyBoundsRepetitiveText(t *testing.T) {
	b := newRun()
	blob := strings.Repeat("ab", 20000)
	for range 20 {
		b.add(t, boundary.KindTool, "t", "q", blob, "")
	}
	b.add(t, boundary.KindLLM, "gpt", blob, "ok", "")
	start := time.Now()
	p := why(t, b.recs, 20, "")
	if p.Partial == "" {
		t.Errorf("no partial note after %v", time.Since(start))
	}
	if p.Found != 1 || p.Strings[0].Found != len(blob) {
		t.Errorf("found %d strings, %d characters; want the whole blob", p.Found, p.Strings[0].Found)
	}
}
