package mcprr_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/storetest"
	"github.com/agentrr/agentrr/otelrr/mcprr"
	"github.com/agentrr/agentrr/rrtest"
)

// serverKinds are the ways the tests reach the test server.
var serverKinds = []string{"stdio", "http-stateless", "http-stateful"}

// testServer is the test server of one kind, for one test.
type testServer struct {
	kind  string
	stdio *stdioServer
	http  *httpServer
}

func startServer(t *testing.T, kind string) *testServer {
	t.Helper()
	s := &testServer{kind: kind}
	switch kind {
	case "stdio":
		s.stdio = newStdioServer(t)
	case "http-stateless", "http-stateful":
		s.http = newHTTPServer(t, kind == "http-stateless")
	default:
		t.Fatalf("no server kind %q", kind)
	}
	return s
}

// transport returns a new transport to the server (one per Connect).
func (s *testServer) transport() mcp.Transport {
	if s.stdio != nil {
		return s.stdio.transport()
	}
	return s.http.transport()
}

// calls is how many times the server started (stdio) and ran a tool or
// answered a request.
func (s *testServer) calls(t *testing.T) int {
	t.Helper()
	if s.stdio != nil {
		return s.stdio.count(t, "")
	}
	return int(s.http.requests.Load())
}

// stop makes the server unreachable: the stdio server's binary is deleted,
// the HTTP server is closed.
func (s *testServer) stop(t *testing.T) {
	t.Helper()
	if s.stdio != nil {
		if err := os.Remove(s.stdio.path); err != nil {
			t.Fatal(err)
		}
		return
	}
	s.http.Close()
}

// agent is the test agent: it uses one session the way agents do and
// writes down everything the session showed it.
type agent struct {
	city string
}

func (a *agent) use(ctx context.Context, tr mcp.Transport, opts ...mcprr.Option) (string, error) {
	var (
		mu       sync.Mutex
		progress []string
	)
	client := mcp.NewClient(&mcp.Implementation{Name: "mcprr-test-agent", Version: "1.0.0"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
			mu.Lock()
			progress = append(progress, fmt.Sprintf("progress %v %v/%v %s", r.Params.ProgressToken, r.Params.Progress, r.Params.Total, r.Params.Message))
			mu.Unlock()
		},
	})
	cs, err := client.Connect(ctx, mcprr.Transport(tr, opts...), nil)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	init := cs.InitializeResult()
	fmt.Fprintf(&b, "server %s %s, protocol %s\n", init.ServerInfo.Name, init.ServerInfo.Version, init.ProtocolVersion)
	for range 2 { // the second listing would be served from the SDK's cache by the ttlMs
		tools, err := cs.ListTools(ctx, nil)
		if err != nil {
			return "", err
		}
		var names []string
		for _, tl := range tools.Tools {
			names = append(names, tl.Name)
		}
		fmt.Fprintf(&b, "tools %s (ttl %d)\n", strings.Join(names, ","), tools.TTLMs)
	}
	params := &mcp.CallToolParams{Name: "forecast", Arguments: map[string]any{"city": a.city}}
	params.SetProgressToken("forecast-1")
	res, err := cs.CallTool(mcprr.WithToolCallID(ctx, "call_1"), params)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "forecast: %s (isError %v)\n", text(res.Content), res.IsError)
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "fail", Arguments: map[string]any{"city": a.city}})
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "fail: %s (isError %v)\n", text(res.Content), res.IsError)
	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "no_such_tool", Arguments: map[string]any{}})
	fmt.Fprintf(&b, "no_such_tool: %v (JSON-RPC code %d)\n", err, jsonrpcCode(err))
	rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "weather://stations"})
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "stations: %s (ttl %d)\n", rr.Contents[0].Text, rr.TTLMs)
	pr, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "brief", Arguments: map[string]string{"city": a.city}})
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "prompt: %s\n", text([]mcp.Content{pr.Messages[0].Content}))
	fmt.Fprintf(&b, "session %q\n", cs.ID())
	if err := cs.Close(); err != nil {
		fmt.Fprintf(&b, "close: %v\n", err)
	}
	// Close waits for the notification handlers: every progress
	// notification has been handled.
	b.WriteString(strings.Join(progress, "\n"))
	return b.String(), nil
}

func text(cs []mcp.Content) string {
	var parts []string
	for _, c := range cs {
		if t, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, t.Text)
		}
	}
	return strings.Join(parts, " ")
}

func faithful(t *testing.T, rep *analyze.Report) {
	t.Helper()
	if !rep.Faithful() {
		t.Fatalf("replay diverged: %+v (agent error %q)", rep.Divergences, rep.AgentError)
	}
}

// replaySame replays run id from the store at dir with work, failing t
// unless the replay is faithful and work sees what it saw recording, want.
func replaySame[T comparable](t *testing.T, dir, id string, want T, work func(context.Context) (T, error)) {
	t.Helper()
	rep, got := rrtest.ReplayIn(t, dir, rrtest.Load(t, dir, id), work)
	faithful(t, rep)
	if got != want {
		t.Errorf("replay saw:\n%+v\nthe recording:\n%+v", got, want)
	}
}

// TestRecordThenReplayWithoutTheServer records a session with each kind
// of server, then replays it with the server gone (the stdio server's
// binary deleted, the HTTP server closed): the agent sees exactly what it
// saw — the handshake, the listings, the results, the isError result, the
// JSON-RPC error, the progress notifications, the session id — and the
// server is never started nor reached.
func TestRecordThenReplayWithoutTheServer(t *testing.T) {
	for _, kind := range serverKinds {
		t.Run(kind, func(t *testing.T) {
			srv := startServer(t, kind)
			dir := t.TempDir()
			a := &agent{city: "Lisbon"}
			work := func(ctx context.Context) (string, error) {
				return a.use(ctx, srv.transport(), mcprr.WithServerName("weather"))
			}
			id, want, err := rrtest.Run(context.Background(), t, dir, "mcp", work)
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range []string{
				"server weather-test 1.0.0",
				"tools fail,forecast,garbage,login,slow (ttl 0)",
				"forecast: sunny in Lisbon, 21°C (isError false)",
				"fail: no station near Lisbon (isError true)",
				`unknown tool "no_such_tool"`,
				"(JSON-RPC code -32602)",
				"stations: LIS, OPO, FAO (ttl 0)",
				"prompt: Brief the traveller about Lisbon.",
				"progress forecast-1 1/2 finding Lisbon\nprogress forecast-1 2/2 reading the models",
			} {
				if !strings.Contains(want, line) {
					t.Errorf("the recording showed the agent:\n%s\nwant %q", want, line)
				}
			}
			if kind == "http-stateful" && strings.Contains(want, `session ""`) {
				t.Errorf("a stateful HTTP session has no session id:\n%s", want)
			}
			recorded := srv.calls(t)
			if recorded == 0 {
				t.Fatal("the server was never reached while recording")
			}

			srv.stop(t)
			replaySame(t, dir, id, want, work)
			if n := srv.calls(t); n != recorded {
				t.Errorf("the server was reached %d times on replay", n-recorded)
			}

			// One boundary per request: connect, the handshake, two
			// listings, three tool calls, a read, a prompt.
			var kinds []string
			for _, r := range storetest.ReadRun(t, dir, id).Records {
				kinds = append(kinds, string(r.Kind)+" "+r.Name)
			}
			handshake := []string{"mcp server/discover"}
			if kind == "http-stateful" {
				// The stateful server does not speak 2026-07-28: the SDK
				// falls back to initialize.
				handshake = append(handshake, "mcp initialize")
			}
			wantKinds := slices.Concat([]string{"mcp connect weather"}, handshake, []string{"mcp tools/list", "mcp tools/list",
				"tool forecast", "tool fail", "tool no_such_tool", "mcp resources/read", "mcp prompts/get brief"})
			if !slices.Equal(kinds, wantKinds) {
				t.Errorf("boundaries:\n%q\nwant\n%q", kinds, wantKinds)
			}
		})
	}
}

// TestChangedToolArgumentDiverges replays a recording with a tool argument
// changed: the replay halts at that tools/call, naming the argument's path.
func TestChangedToolArgumentDiverges(t *testing.T) {
	srv := startServer(t, "stdio")
	dir := t.TempDir()
	id, _, err := rrtest.Run(context.Background(), t, dir, "mcp", func(ctx context.Context) (string, error) {
		return (&agent{city: "Lisbon"}).use(ctx, srv.transport())
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.stop(t)
	rep, _ := rrtest.ReplayIn(t, dir, rrtest.Load(t, dir, id), func(ctx context.Context) (string, error) {
		return (&agent{city: "Porto"}).use(ctx, srv.transport())
	})
	if rep.Faithful() || len(rep.Divergences) == 0 {
		t.Fatalf("replay with another city: %+v", rep)
	}
	d := rep.Divergences[0]
	if d.Reason != analyze.ReasonSignature || d.ObservedKind != boundary.KindTool || d.ObservedName != "forecast" {
		t.Fatalf("divergence: %+v, want a signature mismatch at tool forecast", d)
	}
	if len(d.Diff) != 1 || d.Diff[0].Path != "params.arguments.city" || !strings.Contains(d.Diff[0].Observed, "Porto") {
		t.Errorf("diff: %+v, want params.arguments.city changed to Porto", d.Diff)
	}
	if !strings.Contains(rep.AgentError, "replay diverged") {
		t.Errorf("agent error %q does not carry the divergence", rep.AgentError)
	}
	if n := srv.stdio.count(t, "start"); n != 1 {
		t.Errorf("the server was started %d times, want once (when recording)", n)
	}
}

// TestCallErrorsReplayAsTheSameErrors checks what an agent tests errors
// with: a JSON-RPC error is the same *jsonrpc.Error (code and message), an
// isError result the same result, recording and replaying.
func TestCallErrorsReplayAsTheSameErrors(t *testing.T) {
	srv := startServer(t, "http-stateless")
	dir := t.TempDir()
	type seen struct {
		code    int64
		text    string
		isError bool
		content string
	}
	work := func(ctx context.Context) (seen, error) {
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "a", Version: "1"}, nil).Connect(ctx, mcprr.Transport(srv.transport()), nil)
		if err != nil {
			return seen{}, err
		}
		defer cs.Close()
		var s seen
		_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "nope"})
		s.code, s.text = jsonrpcCode(err), fmt.Sprint(err)
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "fail", Arguments: map[string]any{"city": "Faro"}})
		if err != nil {
			return s, err
		}
		s.isError, s.content = res.IsError, text(res.Content)
		return s, nil
	}
	id, want, err := rrtest.Run(context.Background(), t, dir, "errors", work)
	if err != nil {
		t.Fatal(err)
	}
	if want.code != -32602 || !want.isError || want.content != "no station near Faro" {
		t.Fatalf("recording saw %+v", want)
	}
	srv.stop(t)
	replaySame(t, dir, id, want, work)
	recs := storetest.ReadRun(t, dir, id).Records
	for _, r := range recs {
		switch r.Name {
		case "nope":
			if r.Attributes["error.type"] != "-32602" || r.Attributes["rpc.response.status_code"] != "-32602" || r.Failed {
				t.Errorf("JSON-RPC error boundary: %v", r.Attributes)
			}
		case "fail":
			if r.Attributes["error.type"] != "tool_error" {
				t.Errorf("isError boundary: %v", r.Attributes)
			}
		}
	}
}

// TestToolCallSpans checks the spans a GenAI-aware backend reads: a
// tools/call is an execute_tool span of kind tool with the gen_ai.tool.*
// attributes, the MCP method and the server's name; the other requests are
// mcp boundaries with the MCP conventions' attributes.
func TestToolCallSpans(t *testing.T) {
	srv := startServer(t, "stdio")
	dir := t.TempDir()
	id, _, err := rrtest.Run(context.Background(), t, dir, "mcp", func(ctx context.Context) (string, error) {
		return (&agent{city: "Lisbon"}).use(ctx, srv.transport(), mcprr.WithServerName("weather"))
	})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]boundary.Record{}
	for _, r := range storetest.ReadRun(t, dir, id).Records {
		byName[r.Name] = r
	}
	fc := byName["forecast"]
	for k, v := range map[string]any{
		"gen_ai.operation.name": "execute_tool",
		"gen_ai.tool.name":      "forecast",
		"gen_ai.tool.call.id":   "call_1",
		"mcp.method.name":       "tools/call",
		mcprr.AttrServer:        "weather",
		mcprr.AttrTransport:     "stdio",
		"network.transport":     "pipe",
		"mcp.protocol.version":  "2026-07-28",
	} {
		if fc.Attributes[k] != v {
			t.Errorf("forecast boundary: %s = %v, want %v", k, fc.Attributes[k], v)
		}
	}
	if fc.Kind != boundary.KindTool || fc.SpanName != "execute_tool forecast" {
		t.Errorf("forecast boundary: kind %s, span %q", fc.Kind, fc.SpanName)
	}
	if rr := byName["resources/read"]; rr.Kind != boundary.KindMCP || rr.Attributes["mcp.resource.uri"] != "weather://stations" || rr.SpanName != "resources/read" {
		t.Errorf("resources/read boundary: %s %q %v", rr.Kind, rr.SpanName, rr.Attributes)
	}
	if pg := byName["prompts/get brief"]; pg.Kind != boundary.KindMCP || pg.Attributes["gen_ai.prompt.name"] != "brief" {
		t.Errorf("prompts/get boundary: %s %v", pg.Kind, pg.Attributes)
	}
	if c := byName["connect weather"]; c.Kind != boundary.KindMCP || c.SpanName != "connect weather" || !strings.Contains(string(c.Response), srv.stdio.path) {
		t.Errorf("connect boundary: %s %q response %s", c.Kind, c.SpanName, c.Response)
	}
}

// TestClientVersionDoesNotCount replays with another client version (a
// new release of the agent), with the handshake of protocol 2026-07-28
// (clientInfo in each request's _meta) and of 2025-11-25 (in initialize):
// like an HTTP User-Agent, it is not part of what replay compares.
func TestClientVersionDoesNotCount(t *testing.T) {
	srv := startServer(t, "stdio")
	dir := t.TempDir()
	for _, protocol := range []string{"", "2025-11-25"} {
		work := func(version string) func(ctx context.Context) (string, error) {
			return func(ctx context.Context) (string, error) {
				cs, err := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: version}, nil).
					Connect(ctx, mcprr.Transport(srv.transport()), &mcp.ClientSessionOptions{ProtocolVersion: protocol})
				if err != nil {
					return "", err
				}
				defer cs.Close()
				return forecast(ctx, cs, "Lisbon")
			}
		}
		id, want, err := rrtest.Run(context.Background(), t, dir, "version", work("1.0.0"))
		if err != nil {
			t.Fatal(err)
		}
		rep, got := rrtest.ReplayIn(t, dir, rrtest.Load(t, dir, id), work("2.0.0"))
		faithful(t, rep)
		if got != want {
			t.Errorf("protocol %q: replay saw %q, the recording %q", protocol, got, want)
		}
		for _, r := range storetest.ReadRun(t, dir, id).Records {
			if strings.Contains(string(r.Request), "1.0.0") {
				t.Errorf("protocol %q: %s %s request holds the client version: %s", protocol, r.Kind, r.Name, r.Request)
			}
		}
	}
}
