package mcprr_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentrr/agentrr/internal/filetest"
)

// The test server: a small MCP server built with the SDK, run as a stdio
// child process (this test binary, re-executed with envServe set) or over
// streamable HTTP in the test process.

const (
	envServe = "MCPRR_TEST_SERVE" // set: this process is the stdio server
	envLog   = "MCPRR_TEST_LOG"   // file the stdio server appends what it does to
	envToken = "WEATHER_TOKEN"    // a secret the server quotes when asked to
)

func TestMain(m *testing.M) {
	if os.Getenv(envServe) != "" {
		serveStdio()
		return
	}
	os.Exit(m.Run())
}

// serverLog counts what a server did: one line per start and per tool
// call ("start", "call forecast", …).
type serverLog interface{ note(string) }

type fileLog struct{ path string }

func (l fileLog) note(s string) {
	if l.path == "" {
		return
	}
	f, err := os.OpenFile(l.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	fmt.Fprintln(f, s)
	f.Close()
}

type memLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *memLog) note(s string) {
	l.mu.Lock()
	l.lines = append(l.lines, s)
	l.mu.Unlock()
}

func serveStdio() {
	log := fileLog{os.Getenv(envLog)}
	log.note("start")
	s := newTestServer(log, func(string) {
		// The malformed message: a line that is not JSON on the server's
		// stdout, where the SDK reads JSON-RPC messages.
		fmt.Fprintln(os.Stdout, "this is not JSON-RPC")
	})
	if err := s.Run(context.Background(), &mcp.StdioTransport{}); err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintln(os.Stderr, "test server:", err)
		os.Exit(1)
	}
}

type cityArgs struct {
	City string `json:"city"`
}

type secretArgs struct {
	Password string `json:"password"`
	Note     string `json:"note"`
}

type emptyArgs struct{}

// pings counts the pings a server received, for the keepalive test.
var pings atomic.Int64

// newTestServer returns the test server. garbage is how it sends a
// malformed message (the garbage tool calls it).
func newTestServer(log serverLog, garbage func(string)) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "weather-test", Version: "1.0.0"}, &mcp.ServerOptions{
		// A long cache lifetime on every list and read: replay must not
		// depend on it.
		SetCacheable: func(_ context.Context, _ mcp.Request, c *mcp.Cacheable) { c.TTLMs = 3_600_000 },
	})
	s.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "ping" {
				pings.Add(1)
			}
			return next(ctx, method, req)
		}
	})
	mcp.AddTool(s, &mcp.Tool{Name: "forecast", Description: "The weather forecast for a city."},
		func(ctx context.Context, req *mcp.CallToolRequest, a cityArgs) (*mcp.CallToolResult, any, error) {
			log.note("call forecast")
			if tok := req.Params.GetProgressToken(); tok != nil {
				for i, step := range []string{"finding " + a.City, "reading the models"} {
					_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: float64(i + 1), Total: 2, Message: step})
				}
			}
			text := fmt.Sprintf("sunny in %s, 21°C", a.City)
			if a.City == "Token" {
				text += " (token " + os.Getenv(envToken) + ")"
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "fail", Description: "A tool that fails."},
		func(_ context.Context, _ *mcp.CallToolRequest, a cityArgs) (*mcp.CallToolResult, any, error) {
			log.note("call fail")
			return nil, nil, fmt.Errorf("no station near %s", a.City)
		})
	mcp.AddTool(s, &mcp.Tool{Name: "login", Description: "A tool with a secret argument."},
		func(_ context.Context, _ *mcp.CallToolRequest, a secretArgs) (*mcp.CallToolResult, any, error) {
			log.note("call login " + a.Password)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "logged in: " + a.Note}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "slow", Description: "A tool that answers when its call is cancelled, or once the client pinged 3 times."},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ emptyArgs) (*mcp.CallToolResult, any, error) {
			log.note("call slow")
			start := pings.Load()
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for pings.Load() < start+3 {
				select {
				case <-ctx.Done():
					return nil, nil, ctx.Err()
				case <-tick.C:
				}
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done after 3 pings"}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "garbage", Description: "Answers with a malformed message."},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ emptyArgs) (*mcp.CallToolResult, any, error) {
			log.note("call garbage")
			garbage("garbage")
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "never read"}}}, nil, nil
		})
	s.AddResource(&mcp.Resource{URI: "weather://stations", Name: "stations", MIMEType: "text/plain"},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			log.note("read " + req.Params.URI)
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "text/plain", Text: "LIS, OPO, FAO"}}}, nil
		})
	s.AddPrompt(&mcp.Prompt{Name: "brief", Arguments: []*mcp.PromptArgument{{Name: "city", Required: true}}},
		func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			log.note("prompt brief")
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "Brief the traveller about " + req.Params.Arguments["city"] + "."}}}}, nil
		})
	return s
}

// stdioServer is the test server as a child process: a copy of this test
// binary at path (so that a test can delete it), logging to logPath.
type stdioServer struct {
	path, logPath string
	env           []string
}

func newStdioServer(t *testing.T) *stdioServer {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "weather-server")
	filetest.CopyFile(t, exe, path, 0o755)
	return &stdioServer{path: path, logPath: filepath.Join(dir, "server.log")}
}

// command is the command that runs the server; args are extra arguments.
func (s *stdioServer) command(args ...string) *exec.Cmd {
	cmd := exec.Command(s.path, args...)
	cmd.Env = append(os.Environ(), envServe+"=1", envLog+"="+s.logPath)
	cmd.Env = append(cmd.Env, s.env...)
	cmd.Stderr = os.Stderr
	return cmd
}

func (s *stdioServer) transport(args ...string) mcp.Transport {
	return &mcp.CommandTransport{Command: s.command(args...), TerminateDuration: time.Second}
}

// count is how many lines of the server's log start with prefix.
func (s *stdioServer) count(t *testing.T, prefix string) int {
	t.Helper()
	return filetest.CountLines(t, s.logPath, prefix)
}

// httpServer is the test server over streamable HTTP.
type httpServer struct {
	*httptest.Server
	log      *memLog
	requests atomic.Int64
}

func newHTTPServer(t *testing.T, stateless bool) *httpServer {
	t.Helper()
	h := &httpServer{log: &memLog{}}
	var garbageNext atomic.Bool
	srv := newTestServer(h.log, func(string) { garbageNext.Store(true) })
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: stateless})
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.requests.Add(1)
		if r.Method != http.MethodPost {
			handler.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, r)
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.Code)
		body := rec.Body.Bytes()
		if garbageNext.CompareAndSwap(true, false) {
			// The malformed message, in the response's stream.
			body = []byte("event: message\ndata: this is not JSON-RPC\n\n")
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *httpServer) transport() mcp.Transport {
	return &mcp.StreamableClientTransport{Endpoint: h.URL + "/mcp", MaxRetries: -1}
}

// jsonrpcCode returns the code of the JSON-RPC error in err's chain, or 0.
func jsonrpcCode(err error) int64 {
	var we *jsonrpc.Error
	if errors.As(err, &we) {
		return we.Code
	}
	return 0
}
