package mcprr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel"

	"github.com/agentrr/agentrr/otelrr"
)

// errRejected matches (errors.Is) the SDK's jsonrpc2.ErrRejected, which
// transports wrap around a request they refused without the connection
// being broken: a JSON-RPC error matches another by its code.
var errRejected = &jsonrpc.Error{Code: -32005, Message: "rejected by transport"}

// recordConn is the connection of a recorded session: it passes every
// message to and from the server's real connection, and makes each
// request the agent sends a boundary whose real function writes the
// request and waits for its response. A response reaches the SDK once its
// boundary is stored.
type recordConn struct {
	inner  mcp.Connection
	server *server
	out    *queue
	ctx    context.Context // ends the reader when the connection closes
	cancel context.CancelFunc

	mu      sync.Mutex
	pending []*pendingCall // calls in flight, oldest first
	// lost is the error the connection was lost with: it could no longer
	// be read, or a message could not be written. The SDK learns of it
	// from the boundaries that record it (the calls in flight then, or else
	// the next call), so that a replay loses the connection at the same
	// point of the agent's program.
	lost error
}

var _ mcp.Connection = (*recordConn)(nil)

// pendingCall is a call in flight. The reader hands it its response, or
// closes lost; its Write closes done once the response is queued for the
// SDK, and the reader waits for that before reading on, so that the
// messages the server sent after the response reach the SDK after it.
type pendingCall struct {
	id    jsonrpc.ID
	token string                 // progress token, canonical JSON; "" when none
	msgs  []json.RawMessage      // the messages that belong to it, encoded
	resp  chan *jsonrpc.Response // buffered: the reader never blocks on it
	lost  chan struct{}
	done  chan struct{}
}

func newRecordConn(inner mcp.Connection, s *server) *recordConn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &recordConn{inner: inner, server: s, out: newQueue(), ctx: ctx, cancel: cancel}
	go c.read()
	return c
}

// read reads the server's messages until the connection is closed or
// lost.
func (c *recordConn) read() {
	for {
		msg, err := c.inner.Read(c.ctx)
		if err != nil {
			if c.ctx.Err() != nil {
				return // closed
			}
			c.lose(err)
			return
		}
		switch m := msg.(type) {
		case *jsonrpc.Response:
			if p := c.take(m.ID); p != nil {
				p.resp <- m
				<-p.done
				continue
			}
		case *jsonrpc.Request:
			c.attribute(m)
		}
		c.out.push(msg)
	}
}

// take removes the pending call with id, if any, and returns it.
func (c *recordConn) take(id jsonrpc.ID) *pendingCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range c.pending {
		if p.id == id {
			c.pending = slices.Delete(c.pending, i, i+1)
			return p
		}
	}
	return nil
}

// attribute adds a message the server sent to the call it belongs to: a
// progress notification to the call with its token; any other message
// (pings excepted) to the oldest call in flight.
func (c *recordConn) attribute(m *jsonrpc.Request) {
	if m.Method == methodPing {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var owner *pendingCall
	if m.Method == progressMethod {
		tok := progressToken(m.Params, false)
		for _, p := range c.pending {
			if tok != "" && p.token == tok {
				owner = p
				break
			}
		}
	} else if len(c.pending) > 0 {
		owner = c.pending[0]
	}
	if owner != nil {
		if b, err := jsonrpc.EncodeMessage(m); err == nil {
			owner.msgs = append(owner.msgs, b)
		}
	}
}

// lose records that the connection was lost with err: the calls in flight
// fail with it.
func (c *recordConn) lose(err error) {
	c.mu.Lock()
	if c.lost == nil {
		c.lost = err
	}
	ps := c.pending
	c.pending = nil
	c.mu.Unlock()
	for _, p := range ps {
		close(p.lost)
	}
}

// Read returns the next message for the SDK.
func (c *recordConn) Read(ctx context.Context) (jsonrpc.Message, error) { return c.out.pop(ctx) }

// Write sends msg to the server. A call (a request with an id) is a
// boundary, except pings and the SDK's own background requests (see
// Transport).
func (c *recordConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	req, ok := msg.(*jsonrpc.Request)
	if !ok || !req.IsCall() {
		return c.pass(ctx, msg)
	}
	if req.Method == methodPing || (req.Method == methodListen && otelrr.RunFromContext(ctx) == nil) {
		return c.passCall(ctx, req)
	}
	p := &pendingCall{
		id:    req.ID,
		token: progressToken(req.Params, true),
		resp:  make(chan *jsonrpc.Response, 1),
		lost:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	defer close(p.done)
	o, err := otelrr.Call(ctx, c.server.callSpec(ctx, req), c.server.callRequest(req), func(ctx context.Context, _ request) (outcome, error) {
		return c.exchange(ctx, req, p), nil
	})
	if err != nil {
		// No boundary (no run in ctx, a store failure): the call fails with
		// the reason, and the connection stays up.
		c.out.push(&jsonrpc.Response{ID: req.ID, Error: callError(req, err)})
		return nil
	}
	deliver(c.out, req, &o)
	return nil
}

// exchange is a call boundary's real function: it sends req and waits for
// the response, the loss of the connection, or the end of ctx.
func (c *recordConn) exchange(ctx context.Context, req *jsonrpc.Request, p *pendingCall) (o outcome) {
	o.ID = req.ID.Raw()
	defer func() {
		o.SessionID = c.inner.SessionID()
		maskOutcome(c.server.secrets, &o)
	}()
	c.mu.Lock()
	if lost := c.lost; lost != nil {
		c.mu.Unlock()
		o.Failure = c.failure(lost, true)
		return o
	}
	c.pending = append(c.pending, p)
	c.mu.Unlock()

	if err := c.inner.Write(ctx, req); err != nil {
		c.take(p.id)
		if ctx.Err() != nil || errors.Is(err, errRejected) {
			o.Failure = c.failure(err, false)
			return o
		}
		c.lose(err)
		o.Failure = c.failure(err, true)
		return o
	}
	var resp *jsonrpc.Response
	select {
	case resp = <-p.resp:
	case <-p.lost:
	case <-ctx.Done():
		if c.take(p.id) != nil {
			o.Messages = c.messages(p)
			o.Failure = c.failure(ctx.Err(), false)
			return o
		}
		// The response, or the loss, came first.
		select {
		case resp = <-p.resp:
		case <-p.lost:
		}
	}
	o.Messages = c.messages(p)
	if resp == nil {
		c.mu.Lock()
		lost := c.lost
		c.mu.Unlock()
		o.Failure = c.failure(lost, true)
		return o
	}
	o.Result = resp.Result
	var we *jsonrpc.Error
	if errors.As(resp.Error, &we) {
		o.Result = nil
		o.Error = &wireError{Code: we.Code, Message: we.Message, Data: we.Data}
	} else if resp.Error != nil {
		// Not a wire error: a transport of another kind; keep its text.
		o.Result = nil
		o.Error = &wireError{Code: -32603, Message: resp.Error.Error()}
	}
	return o
}

// callError is the error a call that could not be a boundary fails with.
func callError(req *jsonrpc.Request, err error) error {
	if errors.Is(err, otelrr.ErrNoRun) {
		return fmt.Errorf("mcprr: %s: %w (pass the run's context to every call of the session)", req.Method, err)
	}
	return err
}

// messages returns the messages attributed to p.
func (c *recordConn) messages(p *pendingCall) []json.RawMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	msgs := p.msgs
	p.msgs = nil
	return msgs
}

func (c *recordConn) failure(err error, lost bool) *failure {
	return failureOf(err, c.server.secrets.MaskString(err.Error()), lost)
}

// pass writes a notification, or a response to a server's request. Its
// failure is not the SDK's to see at once: a connection that can no longer
// be written is lost, and the next call reports it.
func (c *recordConn) pass(ctx context.Context, msg jsonrpc.Message) error {
	c.mu.Lock()
	lost := c.lost
	c.mu.Unlock()
	if lost != nil {
		return nil
	}
	if err := c.inner.Write(ctx, msg); err != nil && ctx.Err() == nil && !errors.Is(err, errRejected) {
		c.lose(err)
	}
	return nil
}

// passCall writes a call that is not a boundary (a ping, the SDK's
// subscription stream). If the connection is lost, the call fails and the
// loss is left for the next boundary to record: the error is marked as
// rejected (jsonrpc2.ErrRejected), which keeps the SDK from breaking the
// connection there.
func (c *recordConn) passCall(ctx context.Context, req *jsonrpc.Request) error {
	c.mu.Lock()
	lost := c.lost
	c.mu.Unlock()
	if lost != nil {
		return fmt.Errorf("%w: %w", lost, errRejected)
	}
	err := c.inner.Write(ctx, req)
	if err == nil || ctx.Err() != nil || errors.Is(err, errRejected) {
		return err
	}
	c.lose(err)
	return fmt.Errorf("%w: %w", err, errRejected)
}

// Close closes the real connection. It returns nil, as a replayed
// session's Close does: Close has no context, so it cannot be a boundary
// of the run, and what closing reports (a stdio server's exit status, an
// HTTP session's DELETE) would otherwise reach the agent only while
// recording. That error goes to the OpenTelemetry error handler
// (otel.Handle: stderr by default) instead.
func (c *recordConn) Close() error {
	c.cancel()
	err := c.inner.Close()
	c.out.end(io.EOF)
	if err != nil {
		otel.Handle(fmt.Errorf("mcprr: closing the session with %s: %w", c.server.name, err))
	}
	return nil
}

// SessionID returns the real connection's session id.
func (c *recordConn) SessionID() string { return c.inner.SessionID() }

// deliver hands the SDK how a call ended, as stored: the response, the
// call's failure, or the connection's loss.
func deliver(q *queue, req *jsonrpc.Request, o *outcome) {
	switch {
	case o.Failure != nil && o.Failure.Lost:
		q.end(o.Failure.err())
	case o.Failure != nil:
		q.push(&jsonrpc.Response{ID: req.ID, Error: o.Failure.err()})
	default:
		q.push(o.response(req))
	}
}
