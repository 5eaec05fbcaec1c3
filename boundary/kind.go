package boundary

import "fmt"

// Kind is the kind of nondeterministic boundary a span records.
type Kind string

// The boundary kinds.
const (
	KindLLM   Kind = "llm"
	KindTool  Kind = "tool"
	KindClock Kind = "clock"
	KindRand  Kind = "rand"
	KindID    Kind = "id"
	KindHTTP  Kind = "http"
)

// Valid reports whether k is one of the known kinds.
func (k Kind) Valid() bool {
	switch k {
	case KindLLM, KindTool, KindClock, KindRand, KindID, KindHTTP:
		return true
	}
	return false
}

// ParseKind returns the Kind named by s, or an error naming the known kinds.
func ParseKind(s string) (Kind, error) {
	k := Kind(s)
	if !k.Valid() {
		return "", fmt.Errorf("unknown boundary kind %q (want llm, tool, clock, rand, id or http)", s)
	}
	return k, nil
}
