package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentrr/agentrr/internal/fakeapi"
	"github.com/agentrr/agentrr/internal/otlptest"
	"github.com/agentrr/agentrr/internal/storetest"
	"github.com/agentrr/agentrr/spanlog"
)

// The agents of e2e/node run on the official Node.js SDKs, installed from
// e2e/node/package-lock.json (`npm ci` in e2e/node; .ci/run does it). They
// are recorded through `agentrr proxy` against internal/fakeapi, then
// replayed with `agentrr replay --proxy` once the fake is shut down.

var nodeDir = filepath.Join(repoRoot, "e2e", "node")

// nodePackages are the packages the agents import, as pinned in
// e2e/node/package.json.
var nodePackages = []string{"openai", "@anthropic-ai/sdk", "@openai/agents", "zod"}

// requireNode returns the node binary. Without node, or without the
// packages installed, the test fails under CI=true and is skipped
// otherwise.
func requireNode(t *testing.T) string {
	t.Helper()
	missing := func(msg string) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not on PATH: install Node.js 20 or newer to run the proxy's end-to-end tests")
	}
	var pinned struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	b, err := os.ReadFile(filepath.Join(nodeDir, "package.json"))
	if err != nil || json.Unmarshal(b, &pinned) != nil {
		t.Fatalf("e2e/node/package.json: %v", err)
	}
	for _, pkg := range nodePackages {
		var got struct {
			Version string `json:"version"`
		}
		b, err := os.ReadFile(filepath.Join(nodeDir, "node_modules", pkg, "package.json"))
		if err != nil || json.Unmarshal(b, &got) != nil {
			missing(fmt.Sprintf("the Node.js package %s is not installed in e2e/node: run `npm ci` there (%v)", pkg, err))
		}
		if want := pinned.Dependencies[pkg]; got.Version != want {
			missing(fmt.Sprintf("e2e/node has %s %s installed, package.json pins %s: run `npm ci` there", pkg, got.Version, want))
		}
	}
	return node
}

// countingServer counts the requests it gets: an upstream a replay must
// never reach.
type countingServer struct {
	*httptest.Server
	n atomic.Int64
}

func newCountingServer(t *testing.T) *countingServer {
	s := &countingServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.n.Add(1)
		http.Error(w, "a replay must not reach the upstream", http.StatusTeapot)
	}))
	t.Cleanup(s.Close)
	return s
}

// apiKey is what the clients send; it must appear in no store file and no
// forwarded span.
var apiKey = fmt.Sprintf("sk-agentrr-e2e-%d-5f1c0ffee", time.Now().UnixNano())

type proxyCase struct {
	name string
	// argv runs the agent, from e2e/node (or a built Go program).
	argv []string
}

// recordThroughProxy records argv through `agentrr proxy` in front of
// fake, forwarding spans to sink, and returns the run id and what the
// agent wrote.
func recordThroughProxy(t *testing.T, bin, store string, fake *fakeapi.Server, sink *otlptest.Sink, argv ...string) (string, []byte) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "record.json")
	r := runIn(t, nodeDir, []string{
		"AGENTRR_STORE=" + store,
		"OPENAI_API_KEY=" + apiKey, "ANTHROPIC_API_KEY=" + apiKey,
		"OPENAI_AGENTS_DISABLE_TRACING=1",
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + sink.URL,
		"AGENT_OUTPUT=" + out,
	}, append([]string{bin, "proxy", "--json", "--openai-upstream", fake.URL, "--anthropic-upstream", fake.URL, "--"}, argv...)...)
	if r.code != 0 {
		t.Fatalf("agentrr proxy -- %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(argv, " "), r.code, r.stdout, r.stderr)
	}
	var runs []spanlog.RunInfo
	if err := json.Unmarshal([]byte(r.stdout), &runs); err != nil || len(runs) != 1 {
		t.Fatalf("agentrr proxy --json: want one run, got %v\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
	}
	if runs[0].Status != spanlog.StatusComplete || runs[0].Boundaries == 0 {
		t.Fatalf("recorded run %+v", runs[0])
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("the agent wrote no output: %v\nstderr:\n%s", err, r.stderr)
	}
	return runs[0].TraceID, b
}

// replayThroughProxy replays run id with `agentrr replay --proxy`, with no
// API key in the agent's environment, and returns the result and what the
// agent wrote.
func replayThroughProxy(t *testing.T, bin, store, id string, argv ...string) (result, []byte) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "replay.json")
	r := runIn(t, nodeDir, []string{"AGENTRR_STORE=" + store, "AGENT_OUTPUT=" + out},
		append([]string{bin, "replay", "--from-trace", id, "--proxy", "--"}, argv...)...)
	b, _ := os.ReadFile(out)
	return r, b
}

// runIn is run with the working directory dir, and without the API keys
// of the environment.
func runIn(t *testing.T, dir string, env []string, argv ...string) result {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "AGENTRR_"), strings.HasPrefix(k, "OTEL_"),
			k == "OPENAI_API_KEY", k == "ANTHROPIC_API_KEY", k == "OPENAI_BASE_URL", k == "ANTHROPIC_BASE_URL":
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{stdout.String(), stderr.String(), 0}
	if ee, ok := err.(*exec.ExitError); ok {
		res.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", argv[0], err)
	}
	return res
}

// sameOutput compares what an agent wrote recording and replaying,
// leaving out the ids that are its own per execution ("trace").
func sameOutput(t *testing.T, recorded, replayed []byte) {
	t.Helper()
	norm := func(b []byte) string {
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("agent output is not JSON: %v\n%s", err, b)
		}
		delete(v, "trace")
		out, _ := json.MarshalIndent(v, "", "  ")
		return string(out)
	}
	if a, b := norm(recorded), norm(replayed); a != b {
		t.Errorf("the replay's output differs from the recording's:\nrecorded:\n%s\nreplayed:\n%s", a, b)
	}
}

// scanForKey fails if the API key is in any store file or forwarded span.
func scanForKey(t *testing.T, store string, sink *otlptest.Sink) {
	t.Helper()
	forwarded := bytes.Join(sink.Bodies(), nil)
	if !bytes.Contains(forwarded, []byte("agentrr.kind")) {
		t.Error("no boundary span was forwarded: the scan of forwarded spans would prove nothing")
	}
	if bytes.Contains(forwarded, []byte(apiKey)) {
		t.Error("a forwarded span holds the API key")
	}
	storetest.NoSecrets(t, store, apiKey)
}

func TestNodeSDKAgentsRecordAndReplayThroughTheProxy(t *testing.T) {
	node := requireNode(t)
	bin := build(t).agentrr
	for _, c := range []proxyCase{
		{"chat with tool calls and a stream (openai)", []string{node, "chat_tools.mjs"}},
		{"messages with a tool and a stream (@anthropic-ai/sdk)", []string{node, "anthropic_stream.mjs"}},
		{"Responses API with a function call and a stream (openai)", []string{node, "responses_stream.mjs"}},
		{"agent with two tools called in parallel (@openai/agents)", []string{node, "agents_tools.mjs"}},
		{"parallel requests with Promise.all", []string{node, "promise_all.mjs"}},
		{"parallel spans of one trace (traceparent)", []string{node, "traced_spans.mjs"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			store := t.TempDir()
			fake := fakeapi.New()
			fake.Configure(apiKey, time.Millisecond) // the key goes through to the upstream
			sink := otlptest.NewSink(t)
			id, recorded := recordThroughProxy(t, bin, store, fake, sink, c.argv...)
			if len(fake.Requests()) == 0 {
				t.Fatal("the fake upstream got no request")
			}
			fake.Close()

			r, replayed := replayThroughProxy(t, bin, store, id, c.argv...)
			if r.code != 0 || !strings.Contains(r.stdout, "faithful") {
				t.Fatalf("replay: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			sameOutput(t, recorded, replayed)
			scanForKey(t, store, sink)
		})
	}
}

func TestNodeAgentsCheckedOutput(t *testing.T) {
	// What the agents print is what the SDKs made of the fake's answers:
	// a look at it guards the other tests against agents that silently
	// did nothing.
	node := requireNode(t)
	bin := build(t).agentrr
	store := t.TempDir()
	fake := fakeapi.New()
	defer fake.Close()
	sink := otlptest.NewSink(t)

	_, out := recordThroughProxy(t, bin, store, fake, sink, node, "agents_tools.mjs")
	var agents struct {
		FinalOutput string   `json:"finalOutput"`
		ToolsRun    []string `json:"toolsRun"`
	}
	if err := json.Unmarshal(out, &agents); err != nil {
		t.Fatal(err)
	}
	if strings.Join(agents.ToolsRun, ",") != "lookup_order(D-4004),track_parcel(D-4004)" || !strings.Contains(agents.FinalOutput, "parcel of D-4004 arrives tomorrow") {
		t.Errorf("@openai/agents run: %s", out)
	}
	var first fakeapi.Request
	for _, r := range fake.Requests() {
		if r.Path == "/v1/responses" {
			first = r
			break
		}
	}
	if first.Path == "" {
		t.Errorf("the agent did not use the Responses API: %+v", fake.Requests())
	}

	_, out = recordThroughProxy(t, bin, store, fake, sink, node, "chat_tools.mjs")
	var chat struct {
		Deltas []string `json:"deltas"`
		Answer string   `json:"answer"`
	}
	if err := json.Unmarshal(out, &chat); err != nil {
		t.Fatal(err)
	}
	if len(chat.Deltas) < 2 || !strings.Contains(chat.Answer, "order A-1001 shipped") {
		t.Errorf("chat agent: %s", out)
	}
}

var divergenceFieldRE = regexp.MustCompile(`body\.messages\[0\]\.content`)

func TestNodeAgentWithEditedPromptDivergesNamingTheField(t *testing.T) {
	node := requireNode(t)
	bin := build(t).agentrr
	store := t.TempDir()
	fake := fakeapi.New()
	id, _ := recordThroughProxy(t, bin, store, fake, otlptest.NewSink(t), node, "chat_tools.mjs")
	fake.Close()

	// The same agent with its system prompt edited, beside the installed
	// packages.
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(nodeDir, "chat_tools.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(src, []byte("You are a helpful support agent"), []byte("You are a terse support agent"), 1)
	if bytes.Equal(src, edited) {
		t.Fatal("system prompt not found in chat_tools.mjs")
	}
	for name, b := range map[string][]byte{"chat_tools.mjs": edited, "package.json": []byte(`{"type":"module"}`)} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := os.ReadFile(filepath.Join(nodeDir, "output.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "output.mjs"), out, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(nodeDir, "node_modules"), filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}

	r, _ := replayThroughProxy(t, bin, store, id, node, filepath.Join(dir, "chat_tools.mjs"))
	if r.code != 1 {
		t.Fatalf("replay of the edited agent: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "diverged") || !divergenceFieldRE.MatchString(r.stdout) || !strings.Contains(r.stdout, "terse") {
		t.Errorf("the report does not name the edited field:\n%s", r.stdout)
	}
	// The agent got the divergence as an API error and stopped at once.
	if !strings.Contains(r.stderr, "agentrr: replay diverged") {
		t.Errorf("the agent's error does not say it diverged:\n%s", r.stderr)
	}
}

func TestGoProgramWithoutAgentrrRecordsAndReplaysThroughTheProxy(t *testing.T) {
	bin := build(t).agentrr
	client := filepath.Join(t.TempDir(), "goclient")
	cmd := exec.Command("go", "build", "-o", client, "./e2e/goclient")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./e2e/goclient: %v\n%s", err, out)
	}
	// It imports no agentrr package: only the SDKs.
	list := exec.Command("go", "list", "-deps", "./e2e/goclient")
	list.Dir = repoRoot
	deps, err := list.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(deps)) {
		if strings.HasPrefix(dep, "github.com/agentrr/agentrr") && dep != "github.com/agentrr/agentrr/e2e/goclient" {
			t.Fatalf("e2e/goclient depends on %s", dep)
		}
	}

	store := t.TempDir()
	fake := fakeapi.New()
	fake.Configure(apiKey, 0)
	sink := otlptest.NewSink(t)
	id, recorded := recordThroughProxyStdout(t, bin, store, fake, sink, client)
	fake.Close()

	// The standalone replaying proxy, with upstreams that count: none is
	// reached.
	up := newCountingServer(t)
	r := runIn(t, repoRoot, []string{"AGENTRR_STORE=" + store},
		bin, "proxy", "--replay", id, "--openai-upstream", up.URL, "--anthropic-upstream", up.URL, "--", client)
	if r.code != 0 || !strings.Contains(r.stdout, "faithful") {
		t.Fatalf("agentrr proxy --replay: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if n := up.n.Load(); n != 0 {
		t.Errorf("the replay reached the upstream %d times", n)
	}
	// The program's own output (its JSON, before agentrr's lines) is the same.
	rec, _, _ := strings.Cut(recorded, "\nrecorded 1 run:")
	rep, _, _ := strings.Cut(r.stdout, "replay of ")
	if !strings.Contains(rec, `"deltas"`) || strings.TrimSpace(rec) != strings.TrimSpace(rep) {
		t.Errorf("output recorded:\n%s\nreplayed:\n%s", rec, rep)
	}
	scanForKey(t, store, sink)
}

// recordThroughProxyStdout records a program that prints its output, and
// returns the run id and the output.
func recordThroughProxyStdout(t *testing.T, bin, store string, fake *fakeapi.Server, sink *otlptest.Sink, argv ...string) (string, string) {
	t.Helper()
	r := runIn(t, repoRoot, []string{
		"AGENTRR_STORE=" + store, "OPENAI_API_KEY=" + apiKey, "ANTHROPIC_API_KEY=" + apiKey,
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + sink.URL,
	}, append([]string{bin, "proxy", "--openai-upstream", fake.URL, "--anthropic-upstream", fake.URL, "--"}, argv...)...)
	if r.code != 0 {
		t.Fatalf("agentrr proxy: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	m := regexp.MustCompile(`(?m)^([0-9a-f]{32})\s`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no run listed:\n%s", r.stdout)
	}
	return m[1], r.stdout
}
