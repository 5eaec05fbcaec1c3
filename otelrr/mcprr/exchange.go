package mcprr

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/otelrr"
)

// MCP methods mcprr treats apart.
const (
	methodCallTool   = "tools/call"
	methodGetPrompt  = "prompts/get"
	methodPing       = "ping"
	methodListen     = "subscriptions/listen"
	methodInitialize = "initialize"
	progressMethod   = "notifications/progress"
)

// cachedMethods are the requests whose results carry a cache lifetime
// (ttlMs, SEP-2549) that the SDK honours by wall-clock time.
var cachedMethods = map[string]bool{
	"tools/list": true, "prompts/list": true, "resources/list": true,
	"resources/templates/list": true, "resources/read": true,
}

// unsignedMetaKeys are the _meta keys left out of a request's boundary:
// OpenTelemetry context propagation (SEP-414), which changes with every
// trace, and the client's name and version (SEP-2575), which, like an
// HTTP User-Agent, changes with every release of the agent.
var unsignedMetaKeys = []string{"traceparent", "tracestate", "baggage", "io.modelcontextprotocol/clientInfo"}

// request is a call boundary's request: what its signature covers.
type request struct {
	// Server is the server's name (see WithServerName).
	Server string `json:"server"`
	// Method is the JSON-RPC method.
	Method string `json:"method"`
	// Params are the request's params as sent, except the client's name
	// and version (clientInfo, in _meta or in initialize's params) and the
	// trace-context keys of _meta. The JSON-RPC id is not part of it
	// either: the SDK numbers requests in the order they are made, which
	// concurrent calls make racy.
	Params json.RawMessage `json:"params,omitempty"`
}

// outcome is a call boundary's response: how the call ended and what the
// server sent while it was in flight.
type outcome struct {
	// ID is the request's JSON-RPC id when it was recorded (for reading;
	// replay answers the id the request has then).
	ID any `json:"id,omitempty"`
	// Result and Error are the server's response, as it sent them.
	Result json.RawMessage `json:"result,omitempty"`
	Error  *wireError      `json:"error,omitempty"`
	// Messages are the notifications and requests the server sent during
	// the call that belong to it, in the order they arrived, as JSON-RPC
	// messages: progress notifications carrying the request's progress
	// token, and whatever else arrived while it was the oldest call in
	// flight (log messages, list changes, server requests).
	Messages []json.RawMessage `json:"messages,omitempty"`
	// SessionID is the connection's session id once the call was answered.
	SessionID string `json:"session_id,omitempty"`
	// Failure is set when the call got no response.
	Failure *failure `json:"failure,omitempty"`
}

// wireError is a JSON-RPC error response's error object.
type wireError struct {
	Code    int64           `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// failure is a call that got no response.
type failure struct {
	// Lost is true when the connection was lost (it could no longer be read
	// or written): the SDK then fails every call in flight and every later
	// one. When false only this call failed: the transport rejected the
	// request, or the caller's context ended while it waited.
	Lost bool `json:"lost"`
	// Error is the error's text, Is the sentinels it matched (errors.Is),
	// Timeout whether it was a timeout.
	Error   string   `json:"error"`
	Is      []string `json:"is,omitempty"`
	Timeout bool     `json:"timeout,omitempty"`
	// JSONRPC is the JSON-RPC error the failure's error carried, if any.
	JSONRPC *wireError `json:"jsonrpc,omitempty"`
}

var _ otelrr.SpanDescriber = outcome{}

// DescribeSpan implements otelrr.SpanDescriber: the session id, and an
// error status (with error.type, as the MCP conventions say) for a
// JSON-RPC error, a tool result flagged isError, or a failure.
func (o outcome) DescribeSpan() ([]attribute.KeyValue, string) {
	var attrs []attribute.KeyValue
	if o.SessionID != "" {
		attrs = append(attrs, attribute.String(attrMCPSessionID, o.SessionID))
	}
	switch {
	case o.Failure != nil:
		typ := "transport_error"
		switch {
		case o.Failure.JSONRPC != nil:
			code := strconv.FormatInt(o.Failure.JSONRPC.Code, 10)
			typ = code
			attrs = append(attrs, attribute.String(attrRPCStatusCode, code))
		case o.Failure.Timeout:
			typ = "timeout"
		}
		return append(attrs, attribute.String(attrErrorType, typ)), o.Failure.Error
	case o.Error != nil:
		code := strconv.FormatInt(o.Error.Code, 10)
		return append(attrs, attribute.String(attrErrorType, code), attribute.String(attrRPCStatusCode, code)), o.Error.Message
	}
	var res struct {
		IsError         bool   `json:"isError"`
		ProtocolVersion string `json:"protocolVersion"`
		Content         []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
	}
	if json.Unmarshal(o.Result, &res) != nil {
		return attrs, ""
	}
	if res.ProtocolVersion != "" {
		attrs = append(attrs, attribute.String(attrMCPProtocolVersion, res.ProtocolVersion))
	}
	if !res.IsError {
		return attrs, ""
	}
	status := "tool_error"
	for _, c := range res.Content {
		if c.Type == "text" && c.Text != "" {
			status = cut(c.Text, 200)
			break
		}
	}
	return append(attrs, attribute.String(attrErrorType, "tool_error")), status
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// params is what the span attributes and the boundary's name are read
// from.
type params struct {
	Name string         `json:"name"`
	URI  string         `json:"uri"`
	Meta map[string]any `json:"_meta"`
}

// callRequest returns the boundary request of req, sent to s.
func (s *server) callRequest(req *jsonrpc.Request) request {
	return request{Server: s.name, Method: req.Method, Params: s.secrets.Mask(signedParams(req.Method, req.Params))}
}

// signedParams returns raw (a request's params) without what is left out
// of its boundary (see request.Params), and without a _meta left empty.
func signedParams(method string, raw json.RawMessage) json.RawMessage {
	hasMeta := bytes.Contains(raw, []byte(`"_meta"`))
	if !hasMeta && method != methodInitialize {
		return raw
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		return raw
	}
	changed := false
	if _, ok := obj["clientInfo"]; ok && method == methodInitialize {
		delete(obj, "clientInfo")
		changed = true
	}
	var meta map[string]json.RawMessage
	if hasMeta && json.Unmarshal(obj["_meta"], &meta) == nil && meta != nil {
		n := len(meta)
		for _, k := range unsignedMetaKeys {
			delete(meta, k)
		}
		if len(meta) != n {
			changed = true
			if len(meta) == 0 {
				delete(obj, "_meta")
			} else if b, err := json.Marshal(meta); err == nil {
				obj["_meta"] = b
			}
		}
	}
	if !changed {
		return raw
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return raw
	}
	return b
}

// callSpec describes the boundary of req: a tools/call is a tool
// boundary named after the tool, with the GenAI execute_tool span; every
// other request is an mcp boundary named "{method} {target}" as the MCP
// conventions name its span. Both carry the MCP conventions' attributes.
func (s *server) callSpec(ctx context.Context, req *jsonrpc.Request) otelrr.Spec {
	var p params
	_ = json.Unmarshal(req.Params, &p)
	attrs := append(s.attributes(),
		attribute.String(attrMCPMethod, req.Method),
		attribute.String(attrJSONRPCRequestID, fmt.Sprint(req.ID.Raw())))
	if v, ok := p.Meta["io.modelcontextprotocol/protocolVersion"].(string); ok {
		attrs = append(attrs, attribute.String(attrMCPProtocolVersion, v))
	}
	if p.URI != "" && strings.HasPrefix(req.Method, "resources/") {
		attrs = append(attrs, attribute.String(attrMCPResourceURI, p.URI))
	}
	if req.Method == methodCallTool && p.Name != "" {
		attrs = append(attrs,
			attribute.String(boundary.GenAIOperationName, "execute_tool"),
			attribute.String(boundary.GenAIToolName, p.Name))
		if id, ok := ctx.Value(toolCallIDKey{}).(string); ok && id != "" {
			attrs = append(attrs, attribute.String(boundary.GenAIToolCallID, id))
		}
		return otelrr.Spec{Kind: boundary.KindTool, Name: p.Name, SpanName: "execute_tool " + p.Name, SpanKind: trace.SpanKindClient, Attributes: attrs}
	}
	name := req.Method
	if req.Method == methodGetPrompt && p.Name != "" {
		attrs = append(attrs, attribute.String(attrGenAIPromptName, p.Name))
		name += " " + p.Name
	}
	return otelrr.Spec{Kind: boundary.KindMCP, Name: name, SpanName: name, SpanKind: trace.SpanKindClient, Attributes: attrs}
}

// toolCallIDKey is the context key of WithToolCallID.
type toolCallIDKey struct{}

// WithToolCallID returns a context carrying id, the id of the model's tool
// call that an MCP tools/call made with it carries out: its boundary then
// has gen_ai.tool.call.id, which links it to the llm boundary that asked
// for it (that boundary's gen_ai.tool.call event has the same id).
func WithToolCallID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, toolCallIDKey{}, id)
}

// response returns the JSON-RPC response o delivers to the SDK for req:
// the recorded result or error under req's id. A cached method's result
// has its cache lifetime removed (see Transport).
func (o *outcome) response(req *jsonrpc.Request) *jsonrpc.Response {
	resp := &jsonrpc.Response{ID: req.ID}
	if o.Error != nil {
		resp.Error = &jsonrpc.Error{Code: o.Error.Code, Message: o.Error.Message, Data: o.Error.Data}
		return resp
	}
	resp.Result = o.Result
	if cachedMethods[req.Method] {
		resp.Result = withoutTTL(o.Result)
	}
	return resp
}

// withoutTTL returns result with a positive ttlMs set to 0.
func withoutTTL(result json.RawMessage) json.RawMessage {
	var obj map[string]json.RawMessage
	if json.Unmarshal(result, &obj) != nil {
		return result
	}
	var ttl float64
	if json.Unmarshal(obj["ttlMs"], &ttl) != nil || ttl <= 0 {
		return result
	}
	obj["ttlMs"] = json.RawMessage("0")
	b, err := json.Marshal(obj)
	if err != nil {
		return result
	}
	return b
}

// messages decodes o's messages for delivery to the SDK on replay, with
// each progress notification's token set to req's (the same token, unless
// the replay diverged and is served anyway). A message that does not
// decode is skipped.
func (o *outcome) messages(req *jsonrpc.Request) []jsonrpc.Message {
	var token json.RawMessage
	var p struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	if json.Unmarshal(req.Params, &p) == nil {
		token = p.Meta["progressToken"]
	}
	out := make([]jsonrpc.Message, 0, len(o.Messages))
	for _, raw := range o.Messages {
		msg, err := jsonrpc.DecodeMessage(raw)
		if err != nil {
			continue
		}
		if n, ok := msg.(*jsonrpc.Request); ok && n.Method == progressMethod && token != nil {
			n.Params = withToken(n.Params, token)
		}
		out = append(out, msg)
	}
	return out
}

// withToken returns progress notification params with progressToken set to
// token.
func withToken(params json.RawMessage, token json.RawMessage) json.RawMessage {
	var obj map[string]json.RawMessage
	if json.Unmarshal(params, &obj) != nil {
		return params
	}
	obj["progressToken"] = token
	b, err := json.Marshal(obj)
	if err != nil {
		return params
	}
	return b
}

// progressToken returns the progress token of a request's params, or of a
// progress notification's, as canonical JSON ("" when none).
func progressToken(raw json.RawMessage, inMeta bool) string {
	var tok json.RawMessage
	if inMeta {
		var p struct {
			Meta map[string]json.RawMessage `json:"_meta"`
		}
		if json.Unmarshal(raw, &p) != nil {
			return ""
		}
		tok = p.Meta["progressToken"]
	} else {
		var p struct {
			Token json.RawMessage `json:"progressToken"`
		}
		if json.Unmarshal(raw, &p) != nil {
			return ""
		}
		tok = p.Token
	}
	if len(tok) == 0 {
		return ""
	}
	if c, err := boundary.CanonicalizeJSON(tok); err == nil {
		return string(c)
	}
	return string(tok)
}
