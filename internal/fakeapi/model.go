package fakeapi

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode"
)

// tool is a tool a request declares: its name and its parameter names.
type tool struct {
	name   string
	params []string
}

// conversation is what the model sees of a request, whatever the API.
type conversation struct {
	lastUser string
	// results are the tool results given since the last user message.
	results []string
	words   int // every word of the conversation, for usage
}

// reply is the model's answer: text, or tool calls.
type reply struct {
	text  string
	calls []toolCall
}

// toolCall is one tool call of a reply.
type toolCall struct {
	name string
	args string // JSON object
}

// argWords is the number of words of the reply's tool arguments, for usage.
func (r reply) argWords() int {
	n := 0
	for _, c := range r.calls {
		n += countWords(c.args)
	}
	return n
}

// answer is the scripted model. With parallel, it calls every tool not yet
// called at once; else the next one.
func answer(conv conversation, tools []tool, parallel bool) reply {
	if n := len(conv.results); n < len(tools) {
		pending := tools[n : n+1]
		if parallel {
			pending = tools[n:]
		}
		var rep reply
		for _, t := range pending {
			args := map[string]string{}
			for _, p := range t.params {
				args[p] = idOf(conv.lastUser)
			}
			b, _ := json.Marshal(args)
			rep.calls = append(rep.calls, toolCall{name: t.name, args: string(b)})
		}
		return rep
	}
	if len(tools) > 0 {
		return reply{text: "Here is what I found: " + strings.Join(conv.results, " ")}
	}
	return reply{text: "You said: " + conv.lastUser}
}

// idOf is the first word of s that has a digit, trimmed of punctuation, or
// s itself.
func idOf(s string) string {
	for _, w := range strings.Fields(s) {
		if strings.IndexFunc(w, unicode.IsDigit) >= 0 {
			return strings.TrimFunc(w, func(r rune) bool { return unicode.IsPunct(r) && r != '-' })
		}
	}
	return s
}

// schemaParams returns the property names of a JSON schema object, sorted.
func schemaParams(schema json.RawMessage) []string {
	var s struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	_ = json.Unmarshal(schema, &s)
	names := make([]string, 0, len(s.Properties))
	for n := range s.Properties {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// pieces splits text into pieces of three words (spaces kept), the deltas
// of a streamed reply.
func pieces(text string) []string {
	words := strings.SplitAfter(text, " ")
	var out []string
	for i := 0; i < len(words); i += 3 {
		out = append(out, strings.Join(words[i:min(i+3, len(words))], ""))
	}
	return out
}

// thirds splits s into three pieces (fewer when it is short).
func thirds(s string) []string {
	if len(s) < 3 {
		return []string{s}
	}
	a, b := len(s)/3, 2*len(s)/3
	return []string{s[:a], s[a:b], s[b:]}
}

func countWords(s string) int { return len(strings.Fields(s)) }

// callID is the id of the i-th of n tool calls of the reply to request id:
// prefix_<id> when it is the only one, prefix_<id>_<i> otherwise.
func callID(prefix string, id, i, n int) string {
	if n == 1 {
		return fmt.Sprintf("%s_%d", prefix, id)
	}
	return fmt.Sprintf("%s_%d_%d", prefix, id, i)
}
