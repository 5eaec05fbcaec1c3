package proxy_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agentrr/agentrr/internal/agentrrcmd"
	"github.com/agentrr/agentrr/internal/cmdutil/cmdtest"
	"github.com/agentrr/agentrr/internal/fakeapi"
)

// The test binary doubles as the client command: with clientArg first, it
// sends a chat completion to $OPENAI_BASE_URL as any SDK would, and prints
// the answer.
const clientArg = "agentrr-proxy-test-client"

func TestMain(m *testing.M) {
	if len(os.Args) >= 3 && os.Args[1] == clientArg {
		os.Exit(client(os.Args[2]))
	}
	os.Exit(m.Run())
}

func client(mode string) int {
	prompt := "Where is order A-1001?"
	switch mode {
	case "noop":
		return 0
	case "fail":
		return 3
	case "edited":
		prompt = "Where is order A-1002?"
	}
	body := fmt.Sprintf(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":%q}]}`, prompt)
	req, _ := http.NewRequest("POST", os.Getenv("OPENAI_BASE_URL")+"/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+os.Getenv("OPENAI_API_KEY"))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Printf("client got %d: %s\n", resp.StatusCode, b)
	if resp.StatusCode != 200 {
		return 1
	}
	return 0
}

func clientCmd(mode string) []string { return []string{os.Args[0], clientArg, mode} }

// agentrr runs the CLI and returns its exit code and output.
func agentrr(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	io, stdout, stderr := cmdtest.Streams()
	code := agentrrcmd.Run(ctx, io, args)
	return code, stdout.String(), stderr.String()
}

var replayWithRE = regexp.MustCompile(`replay with: agentrr replay --from-trace ([0-9a-f]{8}) --proxy -- `)

func TestProxyRecordsAClientCommandAndReplaysIt(t *testing.T) {
	store := t.TempDir()
	fake := fakeapi.New()
	if code, _, _ := agentrr(t, context.Background(), "--store", store, "proxy", "--openai-upstream", fake.URL, "--"); code != 2 {
		t.Errorf("-- without a command: exit %d", code)
	}
	t.Setenv("OPENAI_API_KEY", "sk-test")
	code, out, errOut := agentrr(t, context.Background(), append([]string{"--store", store, "proxy", "--openai-upstream", fake.URL, "--"}, clientCmd("chat")...)...)
	fake.Close()
	m := replayWithRE.FindStringSubmatch(out)
	if code != 0 || m == nil || !strings.Contains(out, "client got 200") || !strings.Contains(out, "recorded 1 run:") {
		t.Fatalf("record: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "listening on http://127.0.0.1:") || !strings.Contains(errOut, "upstreams: openai "+fake.URL) {
		t.Errorf("the proxy does not say where it listens and forwards:\n%s", errOut)
	}
	id := m[1]
	t.Setenv("OPENAI_API_KEY", "")

	// A proxy's run records no command to replay it by: running agentrr
	// proxy again would record. The error says what to give.
	code, _, errOut = agentrr(t, context.Background(), "--store", store, "replay", id)
	if code != 2 || !strings.Contains(errOut, "recorded through agentrr proxy") {
		t.Errorf("replay by id of a proxy's run: exit %d, stderr %q; want exit 2 saying it was recorded through the proxy", code, errOut)
	}

	code, out, errOut = agentrr(t, context.Background(), append([]string{"--store", store, "replay", "--from-trace", id, "--proxy", "--"}, clientCmd("chat")...)...)
	if code != 0 || !strings.Contains(out, "faithful") || !strings.Contains(out, "client got 200") {
		t.Fatalf("replay: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, errOut = agentrr(t, context.Background(), append([]string{"--store", store, "replay", "--from-trace", id, "--proxy", "--json", "--"}, clientCmd("edited")...)...)
	if code != 1 || !strings.Contains(out, `"verdict": "diverged"`) && !strings.Contains(out, `"path": "body.messages[0].content"`) {
		t.Fatalf("edited replay: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, _ = agentrr(t, context.Background(), append([]string{"--store", store, "proxy", "--replay", id, "--"}, clientCmd("edited")...)...)
	if code != 1 || !strings.Contains(out, "body.messages[0].content") {
		t.Fatalf("proxy --replay of the edited client: exit %d\n%s", code, out)
	}
	// A client that fails without diverging: exit 4.
	code, _, errOut = agentrr(t, context.Background(), append([]string{"--store", store, "proxy", "--replay", id, "--observe", "--"}, clientCmd("fail")...)...)
	if code != 4 && code != 1 {
		t.Errorf("failing client: exit %d\n%s", code, errOut)
	}
}

func TestStandaloneProxyServesUntilStopped(t *testing.T) {
	store := t.TempDir()
	fake := fakeapi.New()
	defer fake.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	type res struct {
		code     int
		out, err string
	}
	done := make(chan res, 1)
	go func() {
		code, out, errOut := agentrr(t, ctx, "--store", store, "proxy", "--port", fmt.Sprint(port), "--openai-upstream", fake.URL, "--name", "by-hand")
		done <- res{code, out, errOut}
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d/openai/v1", port)
	var resp *http.Response
	for range 500 {
		resp, err = http.Post(base+"/chat/completions", "application/json", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
		if err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	r := <-done
	if r.code != 0 || !strings.Contains(r.out, "by-hand") || !strings.Contains(r.out, "replay with: agentrr replay --from-trace") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.err)
	}
	if !strings.Contains(r.err, "export OPENAI_BASE_URL="+base) || !strings.Contains(r.err, fmt.Sprintf("export ANTHROPIC_BASE_URL=http://127.0.0.1:%d/anthropic", port)) {
		t.Errorf("the proxy does not say what to set:\n%s", r.err)
	}
}

func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	code, _, errOut := agentrr(t, context.Background(), append([]string{"--store", t.TempDir(), "proxy", "--port", port, "--"}, clientCmd("noop")...)...)
	if code != 2 || !strings.Contains(errOut, "cannot listen on 127.0.0.1:"+port) || !strings.Contains(errOut, "another program holds that port") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
}

func TestBeyondLoopbackOnlyWhenToldAndSaysSo(t *testing.T) {
	code, _, errOut := agentrr(t, context.Background(), append([]string{"--store", t.TempDir(), "proxy", "--"}, clientCmd("noop")...)...)
	if code != 0 || !strings.Contains(errOut, "listening on http://127.0.0.1:") || strings.Contains(errOut, "WARNING") {
		t.Errorf("default: exit %d\n%s", code, errOut)
	}
	code, _, errOut = agentrr(t, context.Background(), append([]string{"--store", t.TempDir(), "proxy", "--listen", "0.0.0.0:0", "--"}, clientCmd("noop")...)...)
	if code != 0 || !strings.Contains(errOut, "WARNING: listening on 0.0.0.0:") {
		t.Errorf("--listen 0.0.0.0:0: exit %d\n%s", code, errOut)
	}
}

func TestProxyUsageErrors(t *testing.T) {
	store := t.TempDir()
	for _, args := range [][]string{
		{"proxy", "--observe"},
		{"proxy", "--port", "70000"},
		{"proxy", "--port", "1", "--listen", "127.0.0.1:0"},
		{"proxy", "node", "agent.js"},
		{"proxy", "--replay", "ffff", "--", "true"},
		{"proxy", "--openai-upstream", "ftp://x", "--", "true"},
	} {
		code, _, errOut := agentrr(t, context.Background(), append([]string{"--store", store}, args...)...)
		if code != 2 || !strings.HasPrefix(errOut, "agentrr: ") {
			t.Errorf("%q: exit %d, want 2 with a message\n%s", args, code, errOut)
		}
	}
}
