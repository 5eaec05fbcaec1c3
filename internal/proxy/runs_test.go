package proxy_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/internal/fakeapi"
	"github.com/agentrr/agentrr/internal/proxy"
	"github.com/agentrr/agentrr/internal/storetest"
	"github.com/agentrr/agentrr/replayer"
)

// traceparent returns a W3C traceparent header for a span of trace.
func traceparent(trace string) string {
	span := make([]byte, 8)
	_, _ = rand.Read(span)
	return "00-" + trace + "-" + hex.EncodeToString(span) + "-01"
}

func newTraceID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// parallel runs the requests at once, each from a span of its own in trace,
// and returns their exchanges in the order given.
func parallel(c *client, trace string, bodies ...string) []exchange {
	out := make([]exchange, len(bodies))
	var wg sync.WaitGroup
	for i, b := range bodies {
		wg.Add(1)
		tp := traceparent(trace)
		go func() {
			defer wg.Done()
			out[i] = c.do("POST", "/openai/v1/chat/completions", b, map[string]string{"traceparent": tp})
		}()
	}
	wg.Wait()
	return out
}

func TestTraceparentJoinsItsTraceRunAndParallelSpansReplayInAnyOrder(t *testing.T) {
	store := t.TempDir()
	fake := fakeapi.New()
	fake.EventDelay = 2 * time.Millisecond
	trace := newTraceID()
	a, b := chatBody("stream about order A-1", true), chatBody("stream about order B-2", true)
	var recorded []exchange
	runs := record(t, store, fake, func(c *client) {
		recorded = parallel(c, trace, a, b)
		// A request without a traceparent goes to the session run.
		c.do("POST", "/openai/v1/chat/completions", chatBody("no trace", false), nil)
	})
	fake.Close()
	if len(runs) != 2 || runs[0].ID != trace {
		t.Fatalf("runs %+v: want the trace's run (id %s) and the session run", runs, trace)
	}
	run := storetest.ReadRun(t, store, trace)
	branches := map[string]bool{}
	for _, r := range run.Records {
		branches[r.Branch] = true
	}
	if len(run.Records) != 2 || !branches["span1"] || !branches["span2"] {
		t.Fatalf("trace run: want one boundary on each of span1 and span2, got %+v", branches)
	}

	// Replayed in another trace, with other span ids, one after the other
	// and in the other order: each span finds its own branch.
	for _, order := range [][]int{{1, 0}, {0, 1}} {
		next := newTraceID()
		rep := replay(t, store, trace, func(c *client) {
			bodies := []string{a, b}
			for _, i := range order {
				got := c.do("POST", "/openai/v1/chat/completions", bodies[i], map[string]string{"traceparent": traceparent(next)})
				if got != recorded[i] {
					t.Errorf("request %d replayed as %+v, recorded %+v", i, got, recorded[i])
				}
			}
		})
		requireFaithful(t, rep)
	}
	// And at once.
	rep := replay(t, store, trace, func(c *client) {
		got := parallel(c, newTraceID(), a, b)
		for i := range got {
			if got[i] != recorded[i] {
				t.Errorf("request %d replayed as %+v, recorded %+v", i, got[i], recorded[i])
			}
		}
	})
	requireFaithful(t, rep)
}

func TestParallelIdenticalRequestsWithDifferentAnswersAreAmbiguous(t *testing.T) {
	store := t.TempDir()
	fake := fakeapi.New()
	fake.EventDelay = 5 * time.Millisecond // so that both are in flight at once
	trace := newTraceID()
	same := chatBody("the same question about X-9", true)
	record(t, store, fake, func(c *client) { parallel(c, trace, same, same) })
	fake.Close()

	var got []exchange
	rep := replay(t, store, trace, func(c *client) {
		got = append(got, c.do("POST", "/openai/v1/chat/completions", same, map[string]string{"traceparent": traceparent(newTraceID())}))
	})
	if rep.Faithful() || len(rep.Divergences) == 0 || rep.Divergences[len(rep.Divergences)-1].Reason != analyze.ReasonAmbiguous {
		var b bytes.Buffer
		_ = rep.WriteTable(&b)
		t.Fatalf("want an ambiguous-concurrency divergence, got:\n%s", b.String())
	}
	if got[0].status != http.StatusBadGateway || !strings.Contains(got[0].body, "agentrr_replay_divergence") {
		t.Errorf("the ambiguous request got %+v, want the divergence", got[0])
	}
}

func TestUnbranchedParallelRequestsMatchByExactRequest(t *testing.T) {
	// Without traceparent, requests in flight together share the session
	// run's root branch: a concurrency group, matched by exact request.
	store := t.TempDir()
	fake := fakeapi.New()
	fake.EventDelay = 2 * time.Millisecond
	a, b, c3 := chatBody("first A-1", true), chatBody("second B-2", true), chatBody("third C-3", true)
	do3 := func(c *client, bodies ...string) []exchange {
		out := make([]exchange, len(bodies))
		var wg sync.WaitGroup
		for i, body := range bodies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out[i] = c.do("POST", "/openai/v1/chat/completions", body, nil)
			}()
		}
		wg.Wait()
		return out
	}
	var recorded []exchange
	// The upstream answers none until all three are in: they are in
	// flight together whatever the scheduler does.
	bar := &barrier{n: 3, ch: make(chan struct{})}
	runs := serve(t, proxy.Config{Store: store, OpenAIUpstream: fake.URL, Upstream: bar}, func(c *client) { recorded = do3(c, a, b, c3) }).Runs
	fake.Close()
	for range 3 {
		rep := replay(t, store, runs[0].ID, func(c *client) {
			got := do3(c, c3, a, b)
			if got[0] != recorded[2] || got[1] != recorded[0] || got[2] != recorded[1] {
				t.Errorf("replayed answers do not match their requests")
			}
		})
		requireFaithful(t, rep)
	}
}

// barrier holds every request until n have come, then sends them on.
type barrier struct {
	mu   sync.Mutex
	n    int
	ch   chan struct{}
	seen int
}

func (b *barrier) RoundTrip(req *http.Request) (*http.Response, error) {
	b.mu.Lock()
	if b.seen++; b.seen == b.n {
		close(b.ch)
	}
	b.mu.Unlock()
	<-b.ch
	return http.DefaultTransport.RoundTrip(req)
}

func TestOrderCountsWithinASpanNotAcrossBranches(t *testing.T) {
	store := t.TempDir()
	fake := fakeapi.New()
	a, b := chatBody("first A-1", false), chatBody("then B-2", false)
	trace := newTraceID()
	span := traceparent(trace)
	runs := record(t, store, fake, func(c *client) {
		c.do("POST", "/openai/v1/chat/completions", a, map[string]string{"traceparent": span})
		c.do("POST", "/openai/v1/chat/completions", b, map[string]string{"traceparent": span})
	})
	fake.Close()
	// One span's requests are one branch: in order.
	requireFaithful(t, replay(t, store, runs[0].ID, func(c *client) {
		span := traceparent(newTraceID())
		c.do("POST", "/openai/v1/chat/completions", a, map[string]string{"traceparent": span})
		c.do("POST", "/openai/v1/chat/completions", b, map[string]string{"traceparent": span})
	}))
	rep := replay(t, store, runs[0].ID, func(c *client) {
		span := traceparent(newTraceID())
		c.do("POST", "/openai/v1/chat/completions", b, map[string]string{"traceparent": span})
		c.do("POST", "/openai/v1/chat/completions", a, map[string]string{"traceparent": span})
	})
	if rep.Faithful() || rep.Divergences[0].Reason != analyze.ReasonSignature || rep.Divergences[0].Diff[0].Path != "body.messages[0].content" {
		var buf bytes.Buffer
		_ = rep.WriteTable(&buf)
		t.Fatalf("one span's requests reordered: want a signature divergence at the first, got\n%s", buf.String())
	}

	// Requests without a traceparent are a branch each: sent in another
	// order, each still gets its own recorded answer.
	fake = fakeapi.New()
	var recorded [2]exchange
	runs = record(t, store, fake, func(c *client) {
		recorded[0] = c.do("POST", "/openai/v1/chat/completions", a, nil)
		recorded[1] = c.do("POST", "/openai/v1/chat/completions", b, nil)
	})
	fake.Close()
	requireFaithful(t, replay(t, store, runs[0].ID, func(c *client) {
		if got := c.do("POST", "/openai/v1/chat/completions", b, nil); got != recorded[1] {
			t.Errorf("b replayed as %+v", got)
		}
		if got := c.do("POST", "/openai/v1/chat/completions", a, nil); got != recorded[0] {
			t.Errorf("a replayed as %+v", got)
		}
	}))
}

func TestRetriedRequestReplaysInItsOrder(t *testing.T) {
	// The same request twice, one after the other, with different
	// answers (a 500, then the answer): not ambiguous, taken in order.
	store := t.TempDir()
	fake := fakeapi.New()
	fake.Fail(fakeapi.Fault{Status: 500})
	body := chatBody("retry me R-1", false)
	var recorded [2]exchange
	runs := record(t, store, fake, func(c *client) {
		recorded[0] = c.do("POST", "/openai/v1/chat/completions", body, nil)
		recorded[1] = c.do("POST", "/openai/v1/chat/completions", body, nil)
	})
	fake.Close()
	if recorded[0].status != 500 || recorded[1].status != 200 {
		t.Fatalf("recorded %d then %d", recorded[0].status, recorded[1].status)
	}
	requireFaithful(t, replay(t, store, runs[0].ID, func(c *client) {
		for i := range recorded {
			if got := c.do("POST", "/openai/v1/chat/completions", body, nil); got.status != recorded[i].status || got.body != recorded[i].body {
				t.Errorf("attempt %d replayed as %+v, recorded %+v", i, got, recorded[i])
			}
		}
	}))
}

func TestNamedRunsAndBranches(t *testing.T) {
	store := t.TempDir()
	fake := fakeapi.New()
	defer fake.Close()
	runs := record(t, store, fake, func(c *client) {
		c.do("POST", "/openai/v1/chat/completions", chatBody("one", false), map[string]string{proxy.HeaderRun: "billing", proxy.HeaderBranch: "lookup/fetch"})
		c.do("POST", "/openai/v1/chat/completions", chatBody("two", false), map[string]string{proxy.HeaderRun: "billing"})
		if e := c.do("POST", "/openai/v1/chat/completions", chatBody("three", false), map[string]string{proxy.HeaderBranch: "a//b"}); e.status != http.StatusBadRequest {
			t.Errorf("an empty branch name: got %d, want 400", e.status)
		}
	})
	if len(runs) != 1 || runs[0].Name != "billing" {
		t.Fatalf("runs %+v, want the run named billing alone", runs)
	}
	run := storetest.ReadRun(t, store, runs[0].ID)
	if len(run.Records) != 2 || run.Records[0].Branch != "lookup/fetch" || run.Records[1].Branch != "req1" {
		t.Fatalf("boundaries on branches %q and %q", run.Records[0].Branch, run.Records[1].Branch)
	}
	// The control headers are not forwarded.
	for _, r := range fake.Requests() {
		if r.Header.Get(proxy.HeaderRun) != "" || r.Header.Get(proxy.HeaderBranch) != "" {
			t.Errorf("upstream got agentrr's headers: %v", r.Header)
		}
	}
}

func TestEditedPromptDivergesNamingTheField(t *testing.T) {
	store := t.TempDir()
	fake := fakeapi.New()
	runs := record(t, store, fake, func(c *client) {
		c.do("POST", "/openai/v1/chat/completions", chatBody("Where is order A-1001?", false), nil)
	})
	fake.Close()
	var got exchange
	rep := replay(t, store, runs[0].ID, func(c *client) {
		got = c.do("POST", "/openai/v1/chat/completions", chatBody("Where is order A-1002?", false), nil)
	})
	if rep.Faithful() || len(rep.Divergences) == 0 {
		t.Fatal("an edited prompt replayed faithfully")
	}
	d := rep.Divergences[0]
	if d.Reason != analyze.ReasonSignature || len(d.Diff) == 0 || d.Diff[0].Path != "body.messages[0].content" {
		t.Errorf("divergence %+v, want a signature mismatch at body.messages[0].content", d)
	}
	if got.status != http.StatusBadGateway || !strings.Contains(got.body, "messages[0].content") {
		t.Errorf("the client got %+v, want the divergence", got)
	}
	// Strict: a later request gets the divergence too.
	rep = replay(t, store, runs[0].ID, func(c *client) {
		c.do("POST", "/openai/v1/chat/completions", chatBody("edited", false), nil)
		if e := c.do("POST", "/openai/v1/chat/completions", chatBody("Where is order A-1001?", false), nil); e.status != http.StatusBadGateway {
			t.Errorf("after a divergence: %+v", e)
		}
	}, func(cfg *proxy.Config) { cfg.ReplayMode = replayer.Strict })
	if rep.Faithful() {
		t.Error("faithful after a divergence")
	}
}

func TestClientDisconnectMidStreamIsRecordedAsTheCutStream(t *testing.T) {
	store := t.TempDir()
	fake := fakeapi.New()
	fake.EventDelay = 20 * time.Millisecond
	long := chatBody(strings.Repeat("word ", 60), true)
	cut := func(c *client) {
		req, _ := http.NewRequest("POST", c.base+"/openai/v1/chat/completions", strings.NewReader(long))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 16)
		if _, err := resp.Body.Read(buf); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close() // gone mid-stream
		c.http.CloseIdleConnections()
	}
	runs := record(t, store, fake, cut)
	fake.Close()
	run := storetest.ReadRun(t, store, runs[0].ID)
	if len(run.Records) != 1 {
		t.Fatalf("%d boundaries, want the cut stream", len(run.Records))
	}
	resp := string(run.Records[0].Response)
	if !strings.Contains(resp, `"closed_early":true`) && !strings.Contains(resp, `"body_error"`) {
		t.Errorf("recorded %s, want a stream cut where the client left", resp)
	}
	if strings.Contains(resp, "[DONE]") {
		t.Error("the whole stream was recorded, not the cut")
	}
	requireFaithful(t, replay(t, store, runs[0].ID, cut))
}

func TestAPIKeyIsForwardedButNeverStored(t *testing.T) {
	store := t.TempDir()
	fake := fakeapi.New()
	fake.APIKey = apiKey
	runs := record(t, store, fake, func(c *client) {
		if e := c.do("POST", "/openai/v1/chat/completions", chatBody("hello", true), nil); e.status != 200 {
			t.Errorf("with the key: %+v", e)
		}
		c.do("POST", "/anthropic/v1/messages", `{"model":"claude-x","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`, map[string]string{"Authorization": "", "X-Api-Key": apiKey})
	})
	fake.Close()
	if n := len(fake.Requests()); n != 2 {
		t.Fatalf("upstream got %d requests", n)
	}
	requireFaithful(t, replay(t, store, runs[0].ID, func(c *client) {
		c.do("POST", "/openai/v1/chat/completions", chatBody("hello", true), nil)
		c.do("POST", "/anthropic/v1/messages", `{"model":"claude-x","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`, nil)
	}))
	storetest.NoSecrets(t, store, apiKey, apiKey[len(apiKey)-12:])
}

func TestShutDownProxyRefusesRequests(t *testing.T) {
	srv, err := proxy.New(context.Background(), proxy.Config{Store: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(srv.URL() + "/openai/v1/models"); err == nil {
		t.Error("a closed proxy answered")
	}
}
