package proxy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentrr/agentrr/rrtest"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/fakeapi"
	"github.com/agentrr/agentrr/internal/proxy"
	"github.com/agentrr/agentrr/internal/storetest"
	"github.com/agentrr/agentrr/spanlog"
)

const apiKey = "sk-proxy-test-0123456789abcdef"

// countingUpstream counts every request the proxy sends upstream and
// fails it: replay must send none.
type countingUpstream struct{ n atomic.Int64 }

func (c *countingUpstream) RoundTrip(*http.Request) (*http.Response, error) {
	c.n.Add(1)
	return nil, errors.New("no upstream on replay")
}

// exchange is one request a test client makes through the proxy and what
// it got: status, headers that matter, body, and the body's reads.
type exchange struct {
	status int
	ctype  string
	body   string
	err    error
}

type client struct {
	t    *testing.T
	base string
	http *http.Client
}

func newClient(t *testing.T, srv *proxy.Server) *client {
	return &client{t: t, base: srv.URL(), http: &http.Client{Transport: &http.Transport{DisableCompression: false}}}
}

func (c *client) do(method, path, body string, header map[string]string) exchange {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+apiKey)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return exchange{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return exchange{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), body: string(b), err: err}
}

func chatBody(prompt string, stream bool) string {
	return fmt.Sprintf(`{"model":"gpt-4o-mini","stream":%t,"messages":[{"role":"user","content":%q}]}`, stream, prompt)
}

// record runs fn against a recording proxy in front of fake, and returns
// the runs recorded.
func record(t *testing.T, store string, fake *fakeapi.Server, fn func(c *client)) []proxy.RecordedRun {
	t.Helper()
	return serve(t, proxy.Config{Store: store, OpenAIUpstream: fake.URL, AnthropicUpstream: fake.URL}, fn).Runs
}

// serve runs fn against a proxy made with cfg, and returns the result of
// closing it.
func serve(t *testing.T, cfg proxy.Config, fn func(c *client)) *proxy.Result {
	t.Helper()
	srv, err := proxy.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	fn(newClient(t, srv))
	res, err := srv.Close(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// replay runs fn against a replaying proxy serving run id, with an
// upstream that counts (and fails) every request.
func replay(t *testing.T, store, id string, fn func(c *client), opts ...func(*proxy.Config)) *analyze.Report {
	t.Helper()
	rec := rrtest.Load(t, store, id)
	up := &countingUpstream{}
	cfg := proxy.Config{Store: store, Replay: rec, Upstream: up}
	for _, o := range opts {
		o(&cfg)
	}
	res := serve(t, cfg, fn)
	if n := up.n.Load(); n != 0 {
		t.Errorf("replay sent %d requests upstream, want none", n)
	}
	return res.Report
}

func requireFaithful(t *testing.T, rep *analyze.Report) {
	t.Helper()
	if rep == nil || !rep.Faithful() {
		var b bytes.Buffer
		if rep != nil {
			_ = rep.WriteTable(&b)
		}
		t.Fatalf("replay not faithful:\n%s", b.String())
	}
}

func TestRecordsAndReplaysChatAndStreamsByteForByte(t *testing.T) {
	store := t.TempDir()
	fake := fakeapi.New()
	fake.EventDelay = time.Millisecond
	var recorded []exchange
	agent := func(c *client) []exchange {
		return []exchange{
			c.do("POST", "/openai/v1/chat/completions", chatBody("Where is order A-1001?", false), nil),
			c.do("POST", "/openai/v1/chat/completions", chatBody("Stream me a reply about A-1002", true), nil),
			c.do("POST", "/anthropic/v1/messages", `{"model":"claude-x","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`, map[string]string{"anthropic-version": "2023-06-01"}),
			c.do("POST", "/anthropic/v1/messages", `{"model":"claude-x","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"stream hi"}]}`, map[string]string{"anthropic-version": "2023-06-01"}),
			// An unknown path: an http boundary, passed through.
			c.do("GET", "/openai/v1/models", "", nil),
			// A body that is not JSON: recorded as bytes.
			c.do("POST", "/openai/v1/chat/completions", `{"model": "gpt-4o-mini", "messages": [`, nil),
		}
	}
	runs := record(t, store, fake, func(c *client) { recorded = agent(c) })
	fake.Close()
	if len(runs) != 1 {
		t.Fatalf("recorded runs %v, want one session run", runs)
	}
	for i, e := range recorded {
		if e.err != nil {
			t.Fatalf("exchange %d: %v", i, e.err)
		}
	}
	if recorded[0].status != 200 || !strings.Contains(recorded[0].body, `"chat.completion"`) {
		t.Fatalf("chat: %d %s", recorded[0].status, recorded[0].body)
	}
	if !strings.HasPrefix(recorded[1].ctype, "text/event-stream") || !strings.Contains(recorded[1].body, "[DONE]") {
		t.Fatalf("stream: %s %s", recorded[1].ctype, recorded[1].body)
	}
	if recorded[4].status != http.StatusNotFound {
		t.Errorf("unknown path: status %d, want the upstream's 404", recorded[4].status)
	}
	if recorded[5].status != http.StatusBadRequest {
		t.Errorf("malformed body: status %d, want the upstream's 400", recorded[5].status)
	}

	run := storetest.ReadRun(t, store, runs[0].ID)
	if run.Info.Status != spanlog.StatusComplete || len(run.Records) != 6 {
		t.Fatalf("run %s: %d boundaries", run.Info.Status, len(run.Records))
	}
	kinds := []string{}
	for _, r := range run.Records {
		kinds = append(kinds, string(r.Kind)+" "+r.Name)
	}
	want := []string{"llm gpt-4o-mini", "llm gpt-4o-mini", "llm claude-x", "llm claude-x", "http GET /v1/models", "http POST /v1/chat/completions"}
	if strings.Join(kinds, ",") != strings.Join(want, ",") {
		t.Errorf("boundaries %q, want %q", kinds, want)
	}
	if got := run.Records[5].Request; !bytes.Contains(got, []byte(`"body_text":"{\"model\": \"gpt-4o-mini\", \"messages\": ["`)) {
		t.Errorf("malformed body recorded as %s, want its bytes as body_text", got)
	}
	if v := run.Records[0].Attributes[boundary.GenAIProviderName]; v != "openai" {
		t.Errorf("gen_ai.provider.name = %v", v)
	}

	var replayed []exchange
	rep := replay(t, store, runs[0].ID, func(c *client) { replayed = agent(c) })
	requireFaithful(t, rep)
	for i := range recorded {
		if recorded[i] != replayed[i] {
			t.Errorf("exchange %d replayed as\n%+v\nrecorded\n%+v", i, replayed[i], recorded[i])
		}
	}
}

func TestStreamsPassThroughAsTheyArrive(t *testing.T) {
	// The fake holds its stream open after the first event until told to
	// go on: a proxy that held bytes back would never deliver it.
	release := make(chan struct{})
	upstream := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"first\":true}\n\n")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, "data: [DONE]\n\n")
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go upstream.Serve(ln)
	defer upstream.Close()

	srv, err := proxy.New(context.Background(), proxy.Config{Store: t.TempDir(), OpenAIUpstream: "http://" + ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(srv.OpenAIBaseURL()+"/chat/completions", "application/json", strings.NewReader(chatBody("x", true)))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := resp.Body.Read(buf)
	if err != nil || !strings.Contains(string(buf[:n]), "first") {
		t.Fatalf("first read: %q %v", buf[:n], err)
	}
	close(release)
	rest, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(rest), "[DONE]") {
		t.Errorf("rest of the stream: %q", rest)
	}
	if _, err := srv.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestFaultsAreRecordedAndReplayedTheSame(t *testing.T) {
	store := t.TempDir()
	fake := fakeapi.New()
	fake.EventDelay = time.Millisecond
	fake.Fail(fakeapi.Fault{Status: 503}, fakeapi.Fault{CutAfter: 2})
	// An upstream nothing listens on.
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + dead.Addr().String()
	dead.Close()

	agent := func(c *client) []exchange {
		return []exchange{
			c.do("POST", "/openai/v1/chat/completions", chatBody("first", false), nil),     // 503
			c.do("POST", "/openai/v1/chat/completions", chatBody("second one", true), nil), // cut after 2 events
			c.do("POST", "/anthropic/v1/messages", `{"model":"claude-x","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`, nil),
		}
	}
	var recorded []exchange
	res := serve(t, proxy.Config{Store: store, OpenAIUpstream: fake.URL, AnthropicUpstream: deadURL}, func(c *client) { recorded = agent(c) })
	fake.Close()

	if recorded[0].status != 503 {
		t.Errorf("5xx: got %d %s", recorded[0].status, recorded[0].body)
	}
	if recorded[1].err == nil || !strings.Contains(recorded[1].body, "data:") {
		t.Errorf("cut stream: got %+v, want some events, then an error", recorded[1])
	}
	if recorded[2].status != http.StatusBadGateway || !strings.Contains(recorded[2].body, "connection refused") || !strings.Contains(recorded[2].body, `"type":"error"`) {
		t.Errorf("unreachable upstream: got %d %s", recorded[2].status, recorded[2].body)
	}
	run := storetest.ReadRun(t, store, res.Runs[0].ID)
	if len(run.Records) != 3 || !run.Records[2].Failed {
		t.Fatalf("want 3 boundaries, the last failed: %+v", run.Records)
	}

	var replayed []exchange
	rep := replay(t, store, res.Runs[0].ID, func(c *client) { replayed = agent(c) })
	requireFaithful(t, rep)
	for i := range recorded {
		r, p := recorded[i], replayed[i]
		if r.status != p.status || r.body != p.body || (r.err == nil) != (p.err == nil) {
			t.Errorf("exchange %d replayed as\n%+v\nrecorded\n%+v", i, p, r)
		}
	}
}

func TestPortInUseIsAListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = proxy.New(context.Background(), proxy.Config{Store: t.TempDir(), Listen: ln.Addr().String()})
	var le *proxy.ListenError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "another program holds that port") {
		t.Fatalf("got %v, want a ListenError saying the port is taken", err)
	}
}
