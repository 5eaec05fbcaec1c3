// Package e2e holds end-to-end tests that run agentrr with real external
// programs: a Jaeger v2 built from its Go module (make jaeger).
package e2e_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/storetest"
	"github.com/agentrr/agentrr/spanlog"
)

// liveness bounds every wait for a program to come up or for spans to reach
// Jaeger. It is not a timing assertion: on a healthy machine each takes
// well under a second.
const liveness = 60 * time.Second

var repoRoot = func() string {
	abs, err := filepath.Abs("..")
	if err != nil {
		panic(err)
	}
	return abs
}()

// jaegerBin returns the Jaeger binary: $AGENTRR_JAEGER_BIN, else
// <repo>/bin/jaeger. Without it the test fails under CI=true and is
// skipped otherwise.
func jaegerBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("AGENTRR_JAEGER_BIN")
	if bin == "" {
		bin = filepath.Join(repoRoot, "bin", "jaeger")
	}
	if _, err := os.Stat(bin); err != nil {
		msg := fmt.Sprintf("no Jaeger binary at %s (%v): build it with `make jaeger`, or point AGENTRR_JAEGER_BIN at one", bin, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

func TestJaegerConfigsValidate(t *testing.T) {
	bin := jaegerBin(t)
	for _, cfg := range []string{"jaeger.yaml", "otelcol.yaml"} {
		path := filepath.Join(repoRoot, "collector-config", cfg)
		out, err := exec.Command(bin, "validate", "--config", path).CombinedOutput()
		if err != nil {
			t.Errorf("jaeger validate --config %s: %v\n%s", cfg, err, out)
		}
	}
}

// freePorts returns n distinct loopback ports nothing listens on now.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var lns []net.Listener
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

func addr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }
func url(port int) string  { return "http://" + addr(port) }

// startDaemon starts a long-running program and stops it (SIGINT, then
// SIGKILL) when the test ends. Its output goes to a file shown on failure.
func startDaemon(t *testing.T, name string, env []string, argv ...string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s output:\n%s", name, lastLines(string(b), 40))
		}
	})
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitHTTP waits until GET url answers 200.
func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(liveness)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not come up: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitListen waits until something accepts connections on addr.
func waitListen(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(liveness)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type jaeger struct {
	otlpHTTP, otlpGRPC, query int
}

// startJaeger runs bin/jaeger with collector-config/jaeger.yaml on free ports.
func startJaeger(t *testing.T, bin string) jaeger {
	p := freePorts(t, 5)
	j := jaeger{otlpHTTP: p[0], otlpGRPC: p[1], query: p[2]}
	env := []string{
		"JAEGER_OTLP_HTTP_ENDPOINT=" + addr(p[0]),
		"JAEGER_OTLP_GRPC_ENDPOINT=" + addr(p[1]),
		"JAEGER_QUERY_HTTP_ENDPOINT=" + addr(p[2]),
		"JAEGER_QUERY_GRPC_ENDPOINT=" + addr(p[3]),
		"JAEGER_HEALTH_ENDPOINT=" + addr(p[4]),
	}
	startDaemon(t, "jaeger", env, bin, "--config", filepath.Join(repoRoot, "collector-config", "jaeger.yaml"))
	waitHTTP(t, url(p[4])+"/status")
	waitListen(t, addr(p[0]))
	waitHTTP(t, url(p[2])+"/api/v3/services")
	return j
}

type binaries struct{ agentrr, agent, edited string }

// buildDir holds the binaries the tests share; TestMain removes it.
var (
	buildDir  string
	buildOnce sync.Once
	built     binaries
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// build builds, once for all tests, the agentrr CLI, the example agent and
// a copy of it whose system prompt was edited.
func build(t *testing.T) binaries {
	t.Helper()
	buildOnce.Do(func() { built, buildErr = buildBinaries() })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

func buildBinaries() (binaries, error) {
	dir, err := os.MkdirTemp("", "agentrr-e2e-")
	if err != nil {
		return binaries{}, err
	}
	buildDir = dir
	src := filepath.Join(repoRoot, "examples/deterministic_support/main.go")
	orig, err := os.ReadFile(src)
	if err != nil {
		return binaries{}, err
	}
	changed := bytes.Replace(orig, []byte("You are a helpful support agent"), []byte("You are a terse support agent"), 1)
	if bytes.Equal(orig, changed) {
		return binaries{}, errors.New("system prompt not found in the example source")
	}
	editedSrc, overlay := filepath.Join(dir, "main.go"), filepath.Join(dir, "overlay.json")
	ov, _ := json.Marshal(map[string]map[string]string{"Replace": {src: editedSrc}})
	if err := os.WriteFile(editedSrc, changed, 0o600); err != nil {
		return binaries{}, err
	}
	if err := os.WriteFile(overlay, ov, 0o600); err != nil {
		return binaries{}, err
	}
	b := binaries{filepath.Join(dir, "agentrr"), filepath.Join(dir, "agent"), filepath.Join(dir, "edited")}
	for _, args := range [][]string{
		{"build", "-o", b.agentrr, "./cmd/agentrr"},
		{"build", "-o", b.agent, "./examples/deterministic_support"},
		{"build", "-overlay", overlay, "-o", b.edited, "./examples/deterministic_support"},
	} {
		cmd := exec.Command("go", args...)
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			return binaries{}, fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return b, nil
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs a program to its end with env added to a clean agentrr
// environment (no inherited AGENTRR_* or OTEL_* variables).
func run(t *testing.T, env []string, argv ...string) result {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AGENTRR_") && !strings.HasPrefix(kv, "OTEL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "AGENTRR_EXAMPLE_QUIET=1")
	cmd.Env = append(cmd.Env, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	res := result{out.String(), errOut.String(), 0}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", argv[0], err)
	}
	return res
}

var runIDRe = regexp.MustCompile(`run_id: ([0-9a-f]{32})`)

func runID(t *testing.T, r result) string {
	t.Helper()
	m := runIDRe.FindStringSubmatch(r.stdout)
	if m == nil || r.code != 0 {
		t.Fatalf("agent exited %d without a run id\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	return m[1]
}

// fetchTrace reads trace id from Jaeger's API v3 (raw HTTP, not agentrr's
// client) once it holds want spans with agentrr attributes, and returns
// them decoded.
func fetchTrace(t *testing.T, query int, id string, want int) []ptrace.Span {
	t.Helper()
	deadline := time.Now().Add(liveness)
	for {
		spans, status := getTrace(t, query, id)
		if len(spans) >= want {
			return spans
		}
		if time.Now().After(deadline) {
			t.Fatalf("Jaeger has %d agentrr spans of trace %s (last status %d), want %d", len(spans), id, status, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func getTrace(t *testing.T, query int, id string) ([]ptrace.Span, int) {
	t.Helper()
	resp, err := http.Get(url(query) + "/api/v3/traces/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode
	}
	// Jaeger v2 wraps the OTLP JSON TracesData: {"result": {"resourceSpans": …}}.
	var wrapper struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(body, &wrapper); err != nil || wrapper.Result == nil {
		t.Fatalf("Jaeger API v3 answer is not {\"result\": …}: %v\n%.300s", err, body)
	}
	td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(wrapper.Result)
	if err != nil {
		t.Fatalf("Jaeger's result is not OTLP JSON: %v", err)
	}
	var out []ptrace.Span
	seen := map[pcommon.SpanID]bool{}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				sp := spans.At(k)
				_, b := sp.Attributes().Get(boundary.AttrKind)
				_, r := sp.Attributes().Get(boundary.AttrRun)
				if (b || r) && !seen[sp.SpanID()] {
					seen[sp.SpanID()] = true
					out = append(out, sp)
				}
			}
		}
	}
	return out, resp.StatusCode
}

// checkBoundaries checks that the spans Jaeger holds carry every stored
// boundary, attribute for attribute, plus the run root span.
func checkBoundaries(t *testing.T, spans []ptrace.Span, stored *spanlog.Run) {
	t.Helper()
	byID := map[pcommon.SpanID]ptrace.Span{}
	var root bool
	for _, sp := range spans {
		byID[sp.SpanID()] = sp
		if v, ok := sp.Attributes().Get(boundary.AttrRun); ok {
			root = true
			if v.Str() != stored.Info.Name {
				t.Errorf("root span agentrr.run = %q, want %q", v.Str(), stored.Info.Name)
			}
			if n, _ := sp.Attributes().Get(boundary.AttrBoundaries); n.Int() != int64(len(stored.Records)) {
				t.Errorf("root span agentrr.boundaries = %d, want %d", n.Int(), len(stored.Records))
			}
		}
	}
	if !root {
		t.Error("Jaeger has no run root span")
	}
	for _, want := range stored.Records {
		sp, ok := byID[want.SpanID]
		if !ok {
			t.Errorf("seq %d (%s %s) is not in Jaeger", want.Seq, want.Kind, want.Name)
			continue
		}
		got, err := boundary.FromSpan(sp)
		if err != nil {
			t.Errorf("seq %d in Jaeger: %v", want.Seq, err)
			continue
		}
		if err := got.Check(); err != nil {
			t.Errorf("seq %d in Jaeger is not whole: %v", want.Seq, err)
		}
		if got.Seq != want.Seq || got.Kind != want.Kind || got.Name != want.Name || got.Signature != want.Signature ||
			!bytes.Equal(got.Request, want.Request) || !bytes.Equal(got.Response, want.Response) || got.Error != want.Error ||
			got.PayloadHash != want.PayloadHash || got.RequestLength != want.RequestLength || got.ResponseLength != want.ResponseLength {
			t.Errorf("seq %d differs in Jaeger:\n got  %+v\n want %+v", want.Seq, got, want)
		}
		for k, v := range want.Attributes {
			gv, ok := got.Attributes[k]
			if !ok || fmt.Sprint(gv) != fmt.Sprint(v) {
				t.Errorf("seq %d: attribute %s = %v in Jaeger, %v stored", want.Seq, k, gv, v)
			}
		}
		if want.Kind == boundary.KindLLM {
			// Readable as a GenAI span.
			attrs := sp.Attributes()
			if op, _ := attrs.Get(boundary.GenAIOperationName); op.Str() != "chat" {
				t.Errorf("llm seq %d: gen_ai.operation.name = %q", want.Seq, op.Str())
			}
			if m, _ := attrs.Get(boundary.GenAIRequestModel); m.Str() != want.Name {
				t.Errorf("llm seq %d: gen_ai.request.model = %q", want.Seq, m.Str())
			}
			if sp.Kind() != ptrace.SpanKindClient {
				t.Errorf("llm seq %d: span kind %s, want client", want.Seq, sp.Kind())
			}
		}
	}
}

// rootOf returns the run root span among spans.
func rootOf(t *testing.T, spans []ptrace.Span) ptrace.Span {
	t.Helper()
	for _, sp := range spans {
		if _, ok := sp.Attributes().Get(boundary.AttrRun); ok {
			return sp
		}
	}
	t.Fatal("no run root span")
	return ptrace.Span{}
}

// replayedAsRe finds the trace id the replay report names.
var replayedAsRe = regexp.MustCompile(`recorded as trace ([0-9a-f]{32})`)

func TestJaegerEndToEnd(t *testing.T) {
	bin := jaegerBin(t)
	if testing.Short() {
		t.Skip("starts Jaeger and builds the agent")
	}
	start := time.Now()
	j := startJaeger(t, bin)
	b := build(t)
	t.Logf("Jaeger up and binaries built in %s", time.Since(start).Round(time.Millisecond))
	dir := t.TempDir()
	forward := "OTEL_EXPORTER_OTLP_ENDPOINT=" + url(j.otlpHTTP)

	// 1. Record with forwarding to Jaeger, configured by the standard
	// variable only.
	store1 := filepath.Join(dir, "store1")
	id := runID(t, run(t, []string{"AGENTRR_STORE=" + store1, forward}, b.agent))
	stored := storetest.ReadRun(t, store1, id)
	if stored.Info.Status != spanlog.StatusComplete || len(stored.Records) == 0 {
		t.Fatalf("recorded run: %s (%s), %d boundaries", stored.Info.Status, stored.Info.Reason, len(stored.Records))
	}

	// 2. Jaeger holds every boundary with its attributes, agentrr.seq included.
	checkBoundaries(t, fetchTrace(t, j.query, id, len(stored.Records)+1), stored)

	// 2b. The same over OTLP/gRPC.
	storeGRPC := filepath.Join(dir, "store-grpc")
	idGRPC := runID(t, run(t, []string{"AGENTRR_STORE=" + storeGRPC, "OTEL_EXPORTER_OTLP_PROTOCOL=grpc", "OTEL_EXPORTER_OTLP_ENDPOINT=" + url(j.otlpGRPC)}, b.agent))
	storedGRPC := storetest.ReadRun(t, storeGRPC, idGRPC)
	checkBoundaries(t, fetchTrace(t, j.query, idGRPC, len(storedGRPC.Records)+1), storedGRPC)

	// 3. Replay from Jaeger, into a fresh store, forwarding the replay.
	store2 := filepath.Join(dir, "store2")
	jaegerURL := url(j.query)
	r := run(t, []string{"AGENTRR_STORE=" + store2, forward}, b.agentrr, "replay", "--from-trace", id, "--jaeger", jaegerURL, "--", b.agent)
	if r.code != 0 || !strings.Contains(r.stdout, "faithful") {
		t.Fatalf("replay from Jaeger: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "live LLM calls: 0, tool runs: 0") {
		t.Errorf("the replay called out:\n%s", r.stdout)
	}
	m := replayedAsRe.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("replay report does not name the replayed trace:\n%s", r.stdout)
	}
	// The replayed run, in Jaeger, links to the original.
	root := rootOf(t, fetchTrace(t, j.query, m[1], len(stored.Records)+1))
	if v, _ := root.Attributes().Get(boundary.AttrReplayOf); v.Str() != id {
		t.Errorf("replayed root span %s = %q, want %s", boundary.AttrReplayOf, v.Str(), id)
	}
	var linked bool
	for i := 0; i < root.Links().Len(); i++ {
		l := root.Links().At(i)
		linked = linked || (l.TraceID() == pcommon.TraceID(stored.Records[0].TraceID) && l.SpanID() == stored.Records[0].ParentSpanID)
	}
	if !linked {
		t.Error("the replayed run's root span has no link to the original run's root span")
	}

	// 4. An edited agent diverges; the divergence shows on the forwarded spans.
	r = run(t, []string{"AGENTRR_STORE=" + store2, forward}, b.agentrr, "replay", "--from-trace", id, "--jaeger", jaegerURL, "--", b.edited)
	if r.code != 1 {
		t.Fatalf("replay of the edited agent: exit %d, want 1 (diverged)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if m := replayedAsRe.FindStringSubmatch(r.stdout); m == nil {
		t.Errorf("diverged replay report does not name the replayed trace:\n%s", r.stdout)
	} else {
		spans := fetchTrace(t, j.query, m[1], 2)
		var diverged bool
		for _, sp := range spans {
			if v, ok := sp.Attributes().Get(boundary.AttrDivergence); ok && v.Str() != "" {
				diverged = sp.Status().Code() == ptrace.StatusCodeError
			}
		}
		if !diverged {
			t.Error("no forwarded span of the diverged replay carries agentrr.divergence with an error status")
		}
		if v, _ := rootOf(t, spans).Attributes().Get(boundary.AttrReplayVerdict); v.Str() != "diverged" {
			t.Errorf("diverged replay's root verdict %q", v.Str())
		}
	}

	// 5. A run recorded offline, exported (twice: no harm), replays from Jaeger.
	store3 := filepath.Join(dir, "store3")
	id3 := runID(t, run(t, []string{"AGENTRR_STORE=" + store3}, b.agent))
	for range 2 {
		r = run(t, []string{"AGENTRR_STORE=" + store3}, b.agentrr, "export", id3, "--otlp-endpoint", url(j.otlpHTTP))
		if r.code != 0 {
			t.Fatalf("export: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	}
	stored3 := storetest.ReadRun(t, store3, id3)
	checkBoundaries(t, fetchTrace(t, j.query, id3, len(stored3.Records)+1), stored3)
	r = run(t, []string{"AGENTRR_STORE=" + store2}, b.agentrr, "replay", "--from-trace", id3, "--jaeger", jaegerURL, "--", b.agent)
	if r.code != 0 {
		t.Fatalf("replay of an exported run from Jaeger: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// 6. Payloads cut by the forwarding limit: the store keeps them whole,
	// the replay from Jaeger is refused, naming the cut boundaries.
	store4 := filepath.Join(dir, "store4")
	id4 := runID(t, run(t, []string{"AGENTRR_STORE=" + store4, forward, "AGENTRR_FORWARD_PAYLOAD_LIMIT=64"}, b.agent))
	if st := storetest.ReadRun(t, store4, id4).Info.Status; st != spanlog.StatusComplete {
		t.Fatalf("run with cut forwarded payloads is %s in the store, want complete", st)
	}
	fetchTrace(t, j.query, id4, len(stored.Records)+1)
	r = run(t, []string{"AGENTRR_STORE=" + store2}, b.agentrr, "replay", "--from-trace", id4, "--jaeger", jaegerURL, "--", b.agent)
	if r.code != 3 || !strings.Contains(r.stderr, "cut when forwarded") || !strings.Contains(r.stderr, "agentrr.request.truncated") {
		t.Errorf("replay of a trace with cut payloads: exit %d (want 3)\n%s", r.code, r.stderr)
	}
	t.Logf("Jaeger end to end in %s", time.Since(start).Round(time.Millisecond))
}

// TestCollectorToJaegerAndAgentrr runs collector-config/otelcol.yaml (with
// the jaeger binary, a Collector distribution) in front of Jaeger and
// agentrr collect: one agent's spans reach both, and the run recorded by
// collect replays from its store.
func TestCollectorToJaegerAndAgentrr(t *testing.T) {
	bin := jaegerBin(t)
	if testing.Short() {
		t.Skip("starts Jaeger and a collector")
	}
	j := startJaeger(t, bin)
	b := build(t)
	dir := t.TempDir()
	collected := filepath.Join(dir, "collected")
	p := freePorts(t, 3)
	startDaemon(t, "agentrr-collect", nil, b.agentrr, "collect", "--listen", addr(p[0]), "--store", collected)
	waitListen(t, addr(p[0]))
	env := []string{
		"OTELCOL_OTLP_HTTP_ENDPOINT=" + addr(p[1]),
		"OTELCOL_OTLP_GRPC_ENDPOINT=" + addr(p[2]),
		"JAEGER_OTLP_URL=" + url(j.otlpHTTP),
		"AGENTRR_COLLECT_URL=" + url(p[0]),
	}
	startDaemon(t, "otelcol", env, bin, "--config", filepath.Join(repoRoot, "collector-config", "otelcol.yaml"))
	waitListen(t, addr(p[1]))

	local := filepath.Join(dir, "local")
	id := runID(t, run(t, []string{"AGENTRR_STORE=" + local, "OTEL_EXPORTER_OTLP_ENDPOINT=" + url(p[1])}, b.agent))
	stored := storetest.ReadRun(t, local, id)
	checkBoundaries(t, fetchTrace(t, j.query, id, len(stored.Records)+1), stored)

	// collect answered the collector only once the spans were synced.
	deadline := time.Now().Add(liveness)
	for {
		s, err := spanlog.OpenExisting(collected)
		if err == nil {
			if info, err := s.Info(id); err == nil && info.Status == spanlog.StatusComplete {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s did not reach the agentrr collect store complete", id)
		}
		time.Sleep(200 * time.Millisecond)
	}
	got := storetest.ReadRun(t, collected, id)
	if len(got.Records) != len(stored.Records) || got.Info.Name != stored.Info.Name || got.Info.Service != stored.Info.Service {
		t.Fatalf("collected run: %d records, name %q, service %q; want %d, %q, %q", len(got.Records), got.Info.Name, got.Info.Service, len(stored.Records), stored.Info.Name, stored.Info.Service)
	}
	for i, r := range got.Records {
		w := stored.Records[i]
		if r.SpanID != w.SpanID || r.Signature != w.Signature || !bytes.Equal(r.Response, w.Response) {
			t.Errorf("collected seq %d differs from the agent's own store", w.Seq)
		}
	}
	r := run(t, []string{"AGENTRR_STORE=" + collected}, b.agentrr, "replay", "--from-trace", id, "--", b.agent)
	if r.code != 0 {
		t.Fatalf("replay from the collected store: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}
