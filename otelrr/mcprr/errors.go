package mcprr

import (
	"errors"
	"net"
	"os"
	"slices"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentrr/agentrr/internal/sentinel"
)

// TransportError is the error an MCP call that got no response fails
// with, recording and replaying alike: the connection was lost (the server
// exited, wrote something unreadable, could not be written to), the
// transport rejected the request, or the caller's context ended first. The
// SDK wraps it ("calling \"tools/call\": …"; later calls on a lost
// connection: "connection closed: …"), so use errors.As to find it.
//
// Like otelrr.RecordedError, it is made from what is stored even while
// recording, so that the agent takes the same path both times: its text is
// the real error's (with secrets masked and redaction applied), it
// matches with errors.Is the sentinels the real error matched, and it
// reports a timeout when the real error did.
type TransportError struct {
	// Text is the error's text.
	Text string
	// Matches names the sentinels the real error matched: "io.EOF",
	// "context.DeadlineExceeded", "mcp.ErrConnectionClosed", … (see
	// knownErrors).
	Matches []string
	// IsTimeout is true when the real error reported a timeout.
	IsTimeout bool
	// JSONRPC is the JSON-RPC error the failure carried, if any: over
	// streamable HTTP a server may refuse a request with an HTTP error
	// whose body is a JSON-RPC error response. errors.As finds it.
	JSONRPC *jsonrpc.Error
}

func (e *TransportError) Error() string { return e.Text }

// Unwrap returns the JSON-RPC error the failure carried, or nil.
func (e *TransportError) Unwrap() error {
	if e.JSONRPC == nil {
		return nil
	}
	return e.JSONRPC
}

// Is reports whether target is a sentinel the recorded error matched.
func (e *TransportError) Is(target error) bool {
	for _, ke := range knownErrors {
		if ke.Err == target && slices.Contains(e.Matches, ke.Name) {
			return true
		}
	}
	return false
}

// Timeout reports whether the recorded error was a timeout.
func (e *TransportError) Timeout() bool { return e.IsTimeout }

// knownErrors are the sentinels a transport failure is checked against:
// the standard ones, then those of a lost connection.
var knownErrors = append(slices.Clip(sentinel.Standard), []sentinel.Named{
	{Name: "os.ErrClosed", Err: os.ErrClosed},
	{Name: "net.ErrClosed", Err: net.ErrClosed},
	{Name: "mcp.ErrConnectionClosed", Err: mcp.ErrConnectionClosed},
	{Name: "mcp.ErrSessionMissing", Err: mcp.ErrSessionMissing},
}...)

// failureOf returns the failure err is recorded as; text is err's text,
// masked.
func failureOf(err error, text string, lost bool) *failure {
	f := &failure{Lost: lost, Error: text, Timeout: sentinel.IsTimeout(err)}
	for _, ke := range sentinel.Matching(err, knownErrors) {
		f.Is = append(f.Is, ke.Name)
	}
	var we *jsonrpc.Error
	if errors.As(err, &we) && we.Code != errRejected.Code {
		f.JSONRPC = &wireError{Code: we.Code, Message: we.Message, Data: we.Data}
	}
	return f
}

// err returns the error f is delivered as.
func (f *failure) err() error {
	e := &TransportError{Text: f.Error, Matches: slices.Clone(f.Is), IsTimeout: f.Timeout}
	if f.JSONRPC != nil {
		e.JSONRPC = &jsonrpc.Error{Code: f.JSONRPC.Code, Message: f.JSONRPC.Message, Data: f.JSONRPC.Data}
	}
	return e
}
