// Package mcprr records and replays Model Context Protocol sessions of the
// official Go SDK (github.com/modelcontextprotocol/go-sdk): an agent that
// reaches its tools through MCP servers gains recording with one line, and
// replays with its servers gone.
//
//	cs, err := client.Connect(runCtx, mcprr.Transport(&mcp.CommandTransport{Command: cmd}), nil)
//
// [Transport] wraps the session's transport. Connecting and every request
// the client sends (the handshake, tools/call, resources/read,
// prompts/get, the listings, …) become boundaries of the run in the
// request's context, made with [otelrr.Call]: a tools/call is a tool
// boundary with the OpenTelemetry GenAI execute_tool span, the others are
// mcp boundaries with the MCP conventions' attributes. Responses, errors
// and the notifications that belong to a call are stored whole and, on
// replay, handed to the SDK as they came, so the SDK's own decoding and
// error types run as they did; no server process is started and no
// connection opened.
//
// The wrapper works at the level of mcp.Connection, below every client
// middleware: the SDK's multi-round-trip retries, for instance, are
// boundaries of their own. See docs/mcp.md for what is recorded, how
// errors, notifications, timeouts and concurrency replay, and what is not
// covered.
package mcprr
