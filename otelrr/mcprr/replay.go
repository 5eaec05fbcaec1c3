package mcprr

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentrr/agentrr/otelrr"
)

// replayConn is the connection of a replayed session: there is no server.
// Each request the agent sends is matched against the recording, and the
// recorded messages and response (or failure) are handed to the SDK.
type replayConn struct {
	server *server
	out    *queue

	mu        sync.Mutex
	sessionID string
}

var _ mcp.Connection = (*replayConn)(nil)

func newReplayConn(s *server) *replayConn { return &replayConn{server: s, out: newQueue()} }

// errNotRecording is what a replayed session's call returns if its run
// records: a session belongs to the run it was connected in.
var errNotRecording = errors.New("mcprr: this session was replayed and has no server: a session serves only the run it was connected in")

// Write answers a call from the recording; notifications and the agent's
// answers to server requests go nowhere.
func (c *replayConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	req, ok := msg.(*jsonrpc.Request)
	if !ok || !req.IsCall() {
		return nil
	}
	if req.Method == methodPing {
		// Liveness only: answered at once, so the SDK's keepalive never
		// fails on replay.
		c.out.push(&jsonrpc.Response{ID: req.ID, Result: []byte("{}")})
		return nil
	}
	if req.Method == methodListen && otelrr.RunFromContext(ctx) == nil {
		// The SDK's own subscription stream: its notifications were not
		// recorded (see Transport); it stays open and silent.
		return nil
	}
	o, err := otelrr.Call(ctx, c.server.callSpec(ctx, req), c.server.callRequest(req), func(context.Context, request) (outcome, error) {
		return outcome{Failure: failureOf(errNotRecording, errNotRecording.Error(), false)}, nil
	})
	if err != nil {
		c.out.push(&jsonrpc.Response{ID: req.ID, Error: callError(req, err)})
		return nil
	}
	if o.SessionID != "" {
		c.mu.Lock()
		c.sessionID = o.SessionID
		c.mu.Unlock()
	}
	c.out.push(o.messages(req)...)
	deliver(c.out, req, &o)
	return nil
}

// Read returns the next recorded message.
func (c *replayConn) Read(ctx context.Context) (jsonrpc.Message, error) { return c.out.pop(ctx) }

// Close ends the session; there is nothing to close.
func (c *replayConn) Close() error {
	c.out.end(io.EOF)
	return nil
}

// SessionID returns the session id the recording had at this point.
func (c *replayConn) SessionID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessionID
}
