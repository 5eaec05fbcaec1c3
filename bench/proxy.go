package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agentrr/agentrr/internal/proxy"
)

// The PX section: agentrr proxy (internal/proxy), recording, against the
// same exchanges sent to the upstream directly, side by side in one
// process on loopback (client, proxy and upstream share the machine).
//
//	PX-sync    one synced write: append 1 KB + fsync, interleaved with the
//	           two below so that all three see the same disk;
//	PX-direct  a non-streamed chat completion, 1 KB request and 1 KB
//	           response, straight to the upstream (keep-alive);
//	PX-proxy   the same through the recording proxy: the exchange is one
//	           boundary, durably stored before the client gets the answer;
//	PX-add     PX-proxy − PX-direct − PX-sync: what the proxy adds beyond
//	           the one synced write it must do (target ≤ 1 ms);
//	PX-ttfb    time to the first SSE chunk of a streamed completion, direct
//	           and through the proxy, and the difference (target ≤ 1 ms);
//	PX-32      32 clients at once, each sending its exchanges one after
//	           the other, through one proxy (one run: group commit), the
//	           ratio to one client's throughput, and that ratio against
//	           bare Pebble's 32 synced writers over one, measured right
//	           after on the same disk (PX-32-scaling).

// pxClients is the number of concurrent clients of PX-32.
const pxClients = 32

// pxUpstream is a fake OpenAI upstream: a 1 KB chat completion, or an SSE
// stream whose first event is sent at once.
type pxUpstream struct {
	srv  *http.Server
	url  string
	body []byte
}

func newPXUpstream() (*pxUpstream, error) {
	content, err := json.Marshal(strings.Repeat("Your order shipped on the second. ", 27))
	if err != nil {
		return nil, err
	}
	u := &pxUpstream{}
	u.body = []byte(fmt.Sprintf(`{"id":"chatcmpl-bench","object":"chat.completion","created":1767225600,"model":"gpt-4o-mini-2026-01-01","choices":[{"index":0,"message":{"role":"assistant","content":%s},"finish_reason":"stop"}],"usage":{"prompt_tokens":200,"completion_tokens":180,"total_tokens":380}}`, content))
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if bytes.Contains(b, []byte(`"stream":true`)) {
			w.Header().Set("Content-Type", "text/event-stream")
			f := w.(http.Flusher)
			for i := range 8 {
				fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"piece %d \"}}]}\n\n", i)
				f.Flush()
			}
			fmt.Fprint(w, "data: [DONE]\n\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(u.body)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u.srv = &http.Server{Handler: mux}
	u.url = "http://" + ln.Addr().String()
	go u.srv.Serve(ln)
	return u, nil
}

// pxRequest is a 1 KB chat completion request; i makes each one distinct.
func pxRequest(i int, stream bool) []byte {
	prompt := strings.Repeat("Where is my order? ", 48)
	return []byte(fmt.Sprintf(`{"model":"gpt-4o-mini","stream":%t,"messages":[{"role":"user","content":"%s #%d"}]}`, stream, prompt, i))
}

func pxClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 256, 128
	return &http.Client{Transport: t}
}

// pxPost sends one request to url and reads the response whole.
func pxPost(c *http.Client, url string, body []byte) error {
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer sk-bench")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// pxFirstChunk sends a streamed request and returns the time to the first
// body byte, then reads the rest.
func pxFirstChunk(c *http.Client, url string, body []byte) (time.Duration, error) {
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("stream ended before its first byte: %w", err)
		}
	}
	ttfb := time.Since(start)
	_, err = io.Copy(io.Discard, resp.Body)
	return ttfb, err
}

func proxySection(c *config, t *table) error {
	up, err := newPXUpstream()
	if err != nil {
		return err
	}
	defer up.srv.Close()
	direct := up.url + "/v1/chat/completions"
	n := c.n
	for rep := range c.reps {
		progress("proxy repetition %d/%d", rep+1, c.reps)
		dir := filepath.Join(c.data, fmt.Sprintf("px%d", rep))
		srv, err := proxy.New(context.Background(), proxy.Config{Store: dir, OpenAIUpstream: up.url})
		if err != nil {
			return err
		}
		via := srv.OpenAIBaseURL() + "/chat/completions"
		client := pxClient()
		// The first request creates the run's database: not part of the
		// steady state being measured.
		if err := pxPost(client, via, pxRequest(-1, false)); err != nil {
			return err
		}
		syncFile, err := os.OpenFile(filepath.Join(c.data, "px-sync.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		cs := []contender{
			{"PX-sync", "one synced write: append 1 KB + fsync", func(int) (func(int) error, func() error, error) {
				return func(int) error {
					if _, err := syncFile.Write(record1K); err != nil {
						return err
					}
					return syncFile.Sync()
				}, syncFile.Close, nil
			}},
			{"PX-direct", "chat completion 1 KB → 1 KB, direct to the upstream", func(int) (func(int) error, func() error, error) {
				return func(i int) error { return pxPost(client, direct, pxRequest(i, false)) }, func() error { return nil }, nil
			}},
			{"PX-proxy", "the same through agentrr proxy, recording (durable before the answer)", func(int) (func(int) error, func() error, error) {
				return func(i int) error { return pxPost(client, via, pxRequest(i, false)) }, func() error { return nil }, nil
			}},
		}
		us, err := interleave(n, 10, cs)
		if err != nil {
			return err
		}
		for _, ct := range cs {
			t.add(ct.id, ct.what, "µs", us[ct.id])
		}
		t.add("PX-add", "PX-proxy − PX-direct − PX-sync: added beyond one synced write", "µs", us["PX-proxy"]-us["PX-direct"]-us["PX-sync"])

		// Time to the first SSE chunk, alternating direct and proxied.
		var dt, pt []float64
		for i := range n {
			d, err := pxFirstChunk(client, direct, pxRequest(i, true))
			if err != nil {
				return err
			}
			p, err := pxFirstChunk(client, via, pxRequest(i, true))
			if err != nil {
				return err
			}
			dt, pt = append(dt, float64(d.Microseconds())), append(pt, float64(p.Microseconds()))
		}
		t.add("PX-ttfb-direct", "time to the first SSE chunk, direct", "µs", median(dt))
		t.add("PX-ttfb-proxy", "time to the first SSE chunk, through the proxy (recording)", "µs", median(pt))
		t.add("PX-ttfb-add", "PX-ttfb-proxy − PX-ttfb-direct", "µs", median(pt)-median(dt))

		// One client, then 32 at once, through the same proxy (one run).
		one, _, err := pxLoad(client, via, 1, 2*n)
		if err != nil {
			return err
		}
		many, p99, err := pxLoad(client, via, pxClients, max(8, 2*n/pxClients*4))
		if err != nil {
			return err
		}
		manyDirect, _, err := pxLoad(client, direct, pxClients, max(8, 2*n/pxClients*4))
		if err != nil {
			return err
		}
		t.add("PX-1", "one client, exchanges one after the other, through the proxy", "/s", one)
		t.add("PX-32-direct", fmt.Sprintf("%d clients at once, direct to the upstream", pxClients), "/s", manyDirect)
		t.add("PX-32", fmt.Sprintf("%d clients at once through one proxy (one run, group commit)", pxClients), "/s", many)
		t.add("PX-32-p99", fmt.Sprintf("%d clients: 99th percentile latency of an exchange", pxClients), "ms", p99)
		t.add("PX-32/PX-1", fmt.Sprintf("%d clients' throughput ÷ one client's", pxClients), "×", many/one)
		// Bare Pebble on the same disk, right after: what group commit
		// gives 32 synced writers over one here and now.
		_, peb1, err := pebbleSets(filepath.Join(c.data, "px-peb1"), n, 1)
		if err != nil {
			return err
		}
		_, peb32, err := pebbleSets(filepath.Join(c.data, "px-peb32"), 4*n, pxClients)
		if err != nil {
			return err
		}
		t.add("PX-peb-32/1", fmt.Sprintf("bare Pebble synced 1 KB Sets: %d goroutines ÷ 1 goroutine throughput, same disk", pxClients), "×", peb32/peb1)
		t.add("PX-32-scaling", "PX-32/PX-1 ÷ PX-peb-32/1: the proxy's share of the group commit bare Pebble gets", "×", (many/one)/(peb32/peb1))

		if _, err := srv.Close(context.Background()); err != nil {
			return err
		}
		client.CloseIdleConnections()
		os.RemoveAll(dir)
	}
	t.target("PX-add", "≤ 1,000 µs", func(v float64) bool { return v <= 1000 })
	t.target("PX-ttfb-add", "≤ 1,000 µs", func(v float64) bool { return v <= 1000 })
	t.target("PX-32/PX-1", "> 1× (syncs shared)", func(v float64) bool { return v > 1 })
	t.target("PX-32-scaling", "≥ 0.8×", func(v float64) bool { return v >= 0.8 })
	return nil
}

// pxLoad runs conc clients, each sending per exchanges one after the
// other, and returns the throughput (exchanges per second) and the 99th
// percentile latency in ms. Any failed exchange is an error.
func pxLoad(client *http.Client, url string, conc, per int) (float64, float64, error) {
	var (
		mu  sync.Mutex
		lat []float64
	)
	start := time.Now()
	werr := inParallel(conc, func(g int) error {
		for i := range per {
			t0 := time.Now()
			if err := pxPost(client, url, pxRequest(g*per+i, false)); err != nil {
				return err
			}
			d := float64(time.Since(t0).Microseconds()) / 1000
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
		}
		return nil
	})
	elapsed := time.Since(start)
	if werr != nil {
		return 0, 0, werr
	}
	slices.Sort(lat)
	return float64(conc*per) / elapsed.Seconds(), lat[min(len(lat)-1, len(lat)*99/100)], nil
}
