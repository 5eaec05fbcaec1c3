package mcprr

// Attributes of the boundaries mcprr makes that are its own. None of them
// is part of the signature or the payload hash.
const (
	// AttrServer is the server's name (WithServerName), on every MCP
	// boundary.
	AttrServer = "agentrr.mcp.server"
	// AttrTransport is how the session reaches its server: "stdio" (a
	// child process), "streamable-http", "sse", "in-memory", "io", or the
	// Go type of another transport.
	AttrTransport = "agentrr.mcp.transport"
)

// OpenTelemetry semantic-convention keys (the MCP conventions of
// semantic-conventions-genai, and the general ones they use).
const (
	attrMCPMethod          = "mcp.method.name"
	attrMCPSessionID       = "mcp.session.id"
	attrMCPProtocolVersion = "mcp.protocol.version"
	attrMCPResourceURI     = "mcp.resource.uri"
	attrJSONRPCRequestID   = "jsonrpc.request.id"
	attrRPCStatusCode      = "rpc.response.status_code"
	attrErrorType          = "error.type"
	attrGenAIPromptName    = "gen_ai.prompt.name"
	attrNetworkTransport   = "network.transport"
	attrServerAddress      = "server.address"
	attrServerPort         = "server.port"
)
