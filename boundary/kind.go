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
	// KindVersion is a version marker (otelrr.Version): which version of
	// an intentional change to the agent a run took, so that recordings
	// made before the change replay on the code after it.
	KindVersion Kind = "version"
	// KindMCP is a Model Context Protocol exchange that is not a tool call
	// (a tools/call is a KindTool boundary): the session's connection and
	// handshake, listings, resource reads, prompt fetches and any other
	// request a client sends an MCP server (see otelrr/mcprr).
	KindMCP Kind = "mcp"
)

// Valid reports whether k is one of the known kinds.
func (k Kind) Valid() bool {
	switch k {
	case KindLLM, KindTool, KindClock, KindRand, KindID, KindHTTP, KindVersion, KindMCP:
		return true
	}
	return false
}

// ParseKind returns the Kind named by s, or an error naming the known kinds.
func ParseKind(s string) (Kind, error) {
	k := Kind(s)
	if !k.Valid() {
		return "", fmt.Errorf("unknown boundary kind %q (want llm, tool, clock, rand, id, http, version or mcp)", s)
	}
	return k, nil
}
