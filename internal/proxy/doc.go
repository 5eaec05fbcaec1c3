// Package proxy is agentrr's recording proxy: an OpenAI- and
// Anthropic-compatible HTTP server through which an agent written in any
// language records and replays, by pointing its SDK's base URL at it
// (OPENAI_BASE_URL, ANTHROPIC_BASE_URL).
//
// The proxy is a client of otelrr like any Go agent: each request it
// receives is sent on through otelrr.Transport with a context carrying a
// run (and a branch), so every exchange is one boundary recorded exactly as
// the Go transport records it — same signature, GenAI attributes, secret
// rules and redaction, streams teed as they flow — and, in replay mode, is
// answered from the recording by the same transport, without any upstream
// connection. What the proxy adds is the HTTP server around it: routing a
// request to its API and upstream, choosing its run and branch from the
// request's headers (see Server.ServeHTTP and docs/proxy.md), and writing
// the transport's response to the client as it arrives.
//
// The agentrr proxy command (internal/cmd/proxy) and `agentrr replay
// --proxy` (internal/cmd/replay) are thin wrappers around New and Close.
package proxy
