package mcprr

import (
	"context"
	"errors"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/otelrr"
)

// Option configures Transport.
type Option func(*config)

type config struct {
	name string
}

// WithServerName names the server (agentrr.mcp.server). The name is part
// of every boundary's request, so it is what tells two servers' calls
// apart, and what a replay compares: keep it stable. Without it the name
// is the command's base name (stdio), the endpoint's host and path without
// the port (HTTP), else "mcp".
func WithServerName(name string) Option { return func(c *config) { c.name = name } }

// Transport returns an mcp.Transport that makes the session connected
// over t recordable and replayable: pass it to Client.Connect with the
// run's context, and the session's context-carrying calls with it too.
//
//	cs, err := client.Connect(runCtx, mcprr.Transport(&mcp.CommandTransport{Command: cmd}), nil)
//
// Connecting is one boundary (kind mcp, "connect {server}"): recording, it connects
// t (starts the server process, for a CommandTransport) and stores how
// (command line, changed environment, endpoint, secrets masked); a
// failure to connect is stored and replays as the same error. Replaying,
// t is never connected: no process is started, no connection opened.
//
// Every request the client then sends is one boundary of the branch its
// context is on, made when the request is written, stored when its
// response arrives and before the SDK gets it: a tools/call is a tool
// boundary named after the tool (span "execute_tool {tool}", gen_ai.*
// and mcp.* attributes); every other request (the server/discover or
// initialize handshake, lists, resources/read, prompts/get, …) is an mcp
// boundary named "{method}", or "prompts/get {prompt}". The request (the
// server's name, the method, the params but for the client's name and
// version and trace-context keys) is what replay compares; the
// response is stored whole — the result, or the JSON-RPC error, and the
// messages the server sent that belong to the call — and replayed to the
// SDK as it came, so the agent gets the same result, the same isError
// result, the same *jsonrpc.Error. A call that got no response (the
// connection was lost, the transport refused it, its context ended) fails
// with a *TransportError, recording and replaying alike.
//
// Not boundaries: pings (answered at once on replay, so keepalive never
// fails there), notifications and the agent's answers to server requests
// (sent when recording, dropped on replay), and the SDK's own
// subscriptions/listen stream (made without the run's context). A call
// whose context carries no run fails with an error wrapping
// otelrr.ErrNoRun. List and resource results reach the SDK with their
// cache lifetime (ttlMs) set to 0, recording and replaying alike, so that
// the SDK's wall-clock cache never decides whether a request is made; the
// lifetime the server gave is kept in the recording.
//
// A Transport, like the SDK's, is for one Connect. See docs/mcp.md.
func Transport(t mcp.Transport, opts ...Option) mcp.Transport {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	return &transport{inner: t, cfg: cfg}
}

type transport struct {
	inner mcp.Transport
	cfg   config
}

var _ mcp.Transport = (*transport)(nil)

// Connect makes the connect boundary and returns the session's
// connection: the real one, recorded, or a replayed one.
func (t *transport) Connect(ctx context.Context) (mcp.Connection, error) {
	if t.inner == nil {
		return nil, errors.New("mcprr: Transport(nil)")
	}
	s := describe(t.inner, t.cfg.name)
	var live mcp.Connection
	_, err := otelrr.Call(ctx, otelrr.Spec{
		Kind:       boundary.KindMCP,
		Name:       "connect " + s.name,
		SpanName:   "connect " + s.name,
		SpanKind:   trace.SpanKindClient,
		Attributes: s.attributes(),
	}, connectRequest{Server: s.name, Transport: s.transport}, func(ctx context.Context, _ connectRequest) (connectInfo, error) {
		conn, err := t.inner.Connect(ctx)
		if err != nil {
			return connectInfo{}, errors.New(s.secrets.MaskString(err.Error()))
		}
		live = conn
		return s.display, nil
	})
	if err != nil {
		if live != nil {
			// Connected, but the boundary could not be stored.
			_ = live.Close()
		}
		if errors.Is(err, otelrr.ErrNoRun) {
			return nil, fmt.Errorf("mcprr: connect %s: %w (pass the run's context to Client.Connect)", s.name, err)
		}
		return nil, err
	}
	if live != nil {
		return newRecordConn(live, s), nil
	}
	return newReplayConn(s), nil
}
