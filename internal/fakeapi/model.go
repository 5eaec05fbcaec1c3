package fakeapi

import (
	"encoding/json"
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

// reply is the model's answer: text, or one tool call.
type reply struct {
	text     string
	toolName string
	toolArgs string // JSON object
}

// answer is the scripted model.
func answer(conv conversation, tools []tool) reply {
	if n := len(conv.results); n < len(tools) {
		t := tools[n]
		args := map[string]string{}
		for _, p := range t.params {
			args[p] = idOf(conv.lastUser)
		}
		b, _ := json.Marshal(args)
		return reply{toolName: t.name, toolArgs: string(b)}
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
