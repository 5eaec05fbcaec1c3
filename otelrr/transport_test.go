package otelrr_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/storetest"
	"github.com/agentrr/agentrr/otelrr"
)

// sdkRawExchange is what a plain HTTP client saw of one exchange.
type sdkRawExchange struct {
	Status int
	Header http.Header
	Reads  []string // each Read's bytes
	End    string   // the error the body ended with
}

// sdkDoRaw sends req through client and reads the body n bytes at a time.
func sdkDoRaw(client *http.Client, req *http.Request, n int) (*sdkRawExchange, error) {
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	ex := &sdkRawExchange{Status: resp.StatusCode, Header: resp.Header}
	buf := make([]byte, n)
	for {
		k, err := resp.Body.Read(buf)
		if k > 0 {
			ex.Reads = append(ex.Reads, string(buf[:k]))
		}
		if err != nil {
			ex.End = err.Error()
			return ex, nil
		}
	}
}

func TestTransportPlainHTTPExchange(t *testing.T) {
	var hits atomic.Int64
	binary := []byte{0, 1, 2, 0xff, 0xfe, 'x'}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Set-Cookie", "session=s3cr3t-session-value; Path=/")
		w.Header().Set("X-Request-Id", "req-1")
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(http.StatusAccepted)
		w.Write(binary)
	}))
	defer srv.Close()
	dir := t.TempDir()
	agent := func(base http.RoundTripper, got **sdkRawExchange) func(context.Context) (string, error) {
		return func(ctx context.Context) (string, error) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/items?limit=2&api_key=query-secret-123", nil)
			req.Header.Set("Authorization", "Bearer header-secret-456")
			ex, err := sdkDoRaw(otelrr.HTTPClient(&http.Client{Transport: base}), req, 4)
			*got = ex
			return "", err
		}
	}
	var rec, rp *sdkRawExchange
	id, _, err := sdkRecord(t, dir, agent(nil, &rec))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Header.Get("Set-Cookie") != "" {
		t.Errorf("the client got Set-Cookie while recording; it will not on replay")
	}
	run := storetest.ReadRun(t, dir, id)
	r := run.Records[0]
	if r.Kind != boundary.KindHTTP || r.Name != "GET /v1/items" || r.SpanName != "GET /v1/items" {
		t.Errorf("boundary %s %q span %q, want http \"GET /v1/items\"", r.Kind, r.Name, r.SpanName)
	}
	if want := `{"method":"GET","path":"/v1/items","query":{"api_key":["REDACTED"],"limit":["2"]}}`; string(r.Request) != want {
		t.Errorf("request %s, want %s", r.Request, want)
	}
	for _, s := range []string{"query-secret-123", "header-secret-456", "s3cr3t-session-value"} {
		if strings.Contains(fmt.Sprint(r.Attributes), s) {
			t.Errorf("the boundary holds the secret %q", s)
		}
	}

	srv.Close()
	rep, _, err := sdkReplay(t, dir, id, agent(sdkDialGuard(t), &rp))
	if err != nil || !rep.Faithful() {
		t.Fatalf("replay: %v %+v", err, rep.Divergences)
	}
	rec.Header.Del("Date")
	rp.Header.Del("Date")
	if rp.Status != http.StatusAccepted || strings.Join(rp.Reads, "") != string(binary) || rp.End != "EOF" ||
		rp.Header.Get("X-Request-Id") != "req-1" || rp.Header.Get("Set-Cookie") != "" {
		t.Errorf("replayed %+v, recorded %+v", rp, rec)
	}
	if hits.Load() != 1 {
		t.Errorf("the server was hit %d times, want 1", hits.Load())
	}
}

// TestTransportStreamChunksReplayExactly: a streamed body replays in the
// same pieces as the client's reads saw when recording.
func TestTransportStreamChunksReplayExactly(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 5 {
			fmt.Fprintf(w, "event: tick\ndata: {\"n\":%d,\"text\":\"héllo wörld\"}\n\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(2 * time.Millisecond)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	agent := func(base http.RoundTripper, got **sdkRawExchange) func(context.Context) (string, error) {
		return func(ctx context.Context) (string, error) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/stream", strings.NewReader(`{"b":1, "a":2}`))
			req.Header.Set("Content-Type", "application/json")
			ex, err := sdkDoRaw(otelrr.HTTPClient(&http.Client{Transport: base}), req, 7) // 7 bytes: splits runes too
			*got = ex
			return "", err
		}
	}
	var rec, rp *sdkRawExchange
	id, _, err := sdkRecord(t, dir, agent(nil, &rec))
	if err != nil {
		t.Fatal(err)
	}
	if r := storetest.ReadRun(t, dir, id).Records[0]; string(r.Request) != `{"body":{"a":2,"b":1},"method":"POST","path":"/stream"}` {
		t.Errorf("request %s: the JSON body is not canonical", r.Request)
	}
	srv.Close()
	rep, _, err := sdkReplay(t, dir, id, agent(sdkDialGuard(t), &rp))
	if err != nil || !rep.Faithful() {
		t.Fatalf("replay: %v %+v", err, rep.Divergences)
	}
	if !slices.Equal(rp.Reads, rec.Reads) || rp.End != rec.End {
		t.Errorf("replayed reads %q (%s), recorded %q (%s)", rp.Reads, rp.End, rec.Reads, rec.End)
	}
}

// TestTransportDoesNotBufferStreams: while recording, the client gets the
// first event before the server sends the second; the boundary is stored
// only when the stream ends (and before the client sees that end).
func TestTransportDoesNotBufferStreams(t *testing.T) {
	release := make(chan struct{})
	var releasedInTime atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
			releasedInTime.Store(true)
		case <-time.After(10 * time.Second): // only if the transport buffers
		}
		fmt.Fprint(w, "data: second\n\n")
	}))
	defer srv.Close()
	exp := tracetest.NewInMemoryExporter()
	boundarySpans := func() int {
		n := 0
		for _, s := range exp.GetSpans() {
			for _, kv := range s.Attributes {
				if kv.Key == boundary.AttrKind {
					n++
				}
			}
		}
		return n
	}
	_, _, err := sdkRecord(t, t.TempDir(), func(ctx context.Context) (string, error) {
		resp, err := getThrough(ctx, nil, srv.URL+"/events")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		buf := make([]byte, 64)
		n, err := resp.Body.Read(buf)
		if err != nil || string(buf[:n]) != "data: first\n\n" {
			return "", fmt.Errorf("first read %q, %v", buf[:n], err)
		}
		if got := boundarySpans(); got != 0 {
			return "", fmt.Errorf("%d boundary spans stored before the stream ended", got)
		}
		close(release)
		rest, err := io.ReadAll(resp.Body)
		if err != nil || string(rest) != "data: second\n\n" {
			return "", fmt.Errorf("rest %q, %v", rest, err)
		}
		if got := boundarySpans(); got != 1 {
			return "", fmt.Errorf("%d boundary spans stored once the stream ended, want 1", got)
		}
		return "", nil
	}, otelrr.WithSpanProcessor(sdktrace.NewSimpleSpanProcessor(exp)))
	if err != nil {
		t.Fatal(err)
	}
	if !releasedInTime.Load() {
		t.Error("the server had to give up waiting: the client did not get the first event before the rest was sent")
	}
}

// TestTransportStoresWholeResponsesBeforeReturning: a JSON response is
// durable before the client gets it.
func TestTransportStoresWholeResponsesBeforeReturning(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":true}`)
	}))
	defer srv.Close()
	exp := tracetest.NewInMemoryExporter()
	_, _, err := sdkRecord(t, t.TempDir(), func(ctx context.Context) (string, error) {
		resp, err := getThrough(ctx, nil, srv.URL+"/x")
		if err != nil {
			return "", err
		}
		resp.Body.Close()
		if len(exp.GetSpans()) != 1 {
			return "", errors.New("the boundary was not stored when the client got the response")
		}
		return "", nil
	}, otelrr.WithSpanProcessor(sdktrace.NewSimpleSpanProcessor(exp)))
	if err != nil {
		t.Fatal(err)
	}
}

// getThrough sends a GET of url in ctx's run with otelrr.HTTPClient over
// base (http.DefaultTransport when nil).
func getThrough(ctx context.Context, base http.RoundTripper, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return otelrr.HTTPClient(&http.Client{Transport: base}).Do(req)
}

// TestTransportBoundaryDuringStream: a boundary the agent makes while a
// stream is open is recorded before the stream (which is stored when it
// ends), and replays in the same order.
func TestTransportBoundaryDuringStream(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, d := range []string{"one", "two"} {
			fmt.Fprintf(w, "data: %s\n\n", d)
			w.(http.Flusher).Flush()
			time.Sleep(2 * time.Millisecond)
		}
	}))
	defer srv.Close()
	agent := func(base http.RoundTripper, clockMidStream bool) func(context.Context) (string, error) {
		return func(ctx context.Context) (string, error) {
			resp, err := getThrough(ctx, base, srv.URL+"/events")
			if err != nil {
				return "", err
			}
			defer resp.Body.Close()
			var out bytes.Buffer
			buf := make([]byte, 5)
			for i := 0; ; i++ {
				n, err := resp.Body.Read(buf)
				out.Write(buf[:n])
				if i == 1 && clockMidStream {
					now, cerr := otelrr.Now(ctx)
					if cerr != nil {
						return "", cerr
					}
					fmt.Fprintf(&out, "[%s]", now.Format(time.RFC3339Nano))
				}
				if err == io.EOF {
					return out.String(), nil
				}
				if err != nil {
					return out.String(), err
				}
			}
		}
	}
	dir := t.TempDir()
	id, want, err := sdkRecord(t, dir, agent(nil, true))
	if err != nil {
		t.Fatal(err)
	}
	if got := sdkKinds(t, dir, id); !slices.Equal(got, []string{"clock now", "http GET /events"}) {
		t.Fatalf("recorded %q, want the clock read first, then the stream", got)
	}
	srv.Close()
	rep, got, err := sdkReplay(t, dir, id, agent(sdkDialGuard(t), true))
	if err != nil || !rep.Faithful() || got != want {
		t.Fatalf("replay: err %v, output %q (recorded %q), divergences %+v", err, got, want, rep.Divergences)
	}
	if kinds := sdkKinds(t, dir, rep.ReplayTrace); !slices.Equal(kinds, []string{"clock now", "http GET /events"}) {
		t.Errorf("the replayed run recorded %q", kinds)
	}
	// Without the clock read, the stream's end is where the replay diverges:
	// the recording has the clock read there.
	rep, _, err = sdkReplay(t, dir, id, agent(sdkDialGuard(t), false))
	if rep.Faithful() || err == nil || len(rep.Divergences) == 0 {
		t.Fatalf("replay without the clock read: faithful %v, err %v", rep.Faithful(), err)
	}
	if d := rep.Divergences[0]; d.Seq != 0 || d.ExpectedKind != boundary.KindClock || d.ObservedKind != boundary.KindHTTP {
		t.Errorf("divergence %+v, want seq 0: recorded clock, observed http", d)
	}
}

// TestTransportClosedEarlyStream: a stream the client closed part-way
// replays the same part; reading further fails, naming the recording's end.
func TestTransportClosedEarlyStream(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 50 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	readSome := func(base http.RoundTripper, more bool) func(context.Context) (string, error) {
		return func(ctx context.Context) (string, error) {
			resp, err := getThrough(ctx, base, srv.URL+"/events")
			if err != nil {
				return "", err
			}
			buf := make([]byte, 9)
			n, err := io.ReadFull(resp.Body, buf)
			if more {
				_, err = io.ReadAll(resp.Body)
			}
			if cerr := resp.Body.Close(); cerr != nil && err == nil {
				err = cerr
			}
			return string(buf[:n]), err
		}
	}
	dir := t.TempDir()
	id, want, err := sdkRecord(t, dir, readSome(nil, false))
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	rep, got, err := sdkReplay(t, dir, id, readSome(sdkDialGuard(t), false))
	if err != nil || !rep.Faithful() || got != want {
		t.Fatalf("replay: %v, %q (want %q), %+v", err, got, want, rep.Divergences)
	}
	_, _, err = sdkReplay(t, dir, id, readSome(sdkDialGuard(t), true))
	if err == nil || !strings.Contains(err.Error(), "the recording ends here") {
		t.Errorf("reading past the recorded part: err %v", err)
	}
}

// TestTransportConnectFailureTellsTraceHooks: a recorded connection
// failure replays with the same httptrace hooks called (GetConn, no
// GotConn), which SDKs consult to decide whether a retry is safe.
func TestTransportConnectFailureTellsTraceHooks(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/x"
	srv.Close()
	agent := func(base http.RoundTripper, hooks *[]string) func(context.Context) (string, error) {
		return func(ctx context.Context) (string, error) {
			ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
				GetConn: func(string) { *hooks = append(*hooks, "GetConn") },
				GotConn: func(httptrace.GotConnInfo) { *hooks = append(*hooks, "GotConn") },
			})
			_, err := getThrough(ctx, base, url)
			return "", err
		}
	}
	dir := t.TempDir()
	var recHooks, rpHooks []string
	id, _, recErr := sdkRecord(t, dir, agent(nil, &recHooks))
	if recErr == nil || !slices.Equal(recHooks, []string{"GetConn"}) {
		t.Fatalf("record: err %v, hooks %q", recErr, recHooks)
	}
	rep, _, err := sdkReplay(t, dir, id, agent(sdkDialGuard(t), &rpHooks))
	if !rep.Faithful() || err == nil || err.Error() != recErr.Error() || !slices.Equal(rpHooks, recHooks) {
		t.Errorf("replay: err %v (want %v), hooks %q (want %q)", err, recErr, rpHooks, recHooks)
	}
}

// TestTransportMultipartUploadReplays: the random boundary of a multipart
// body does not count in the signature.
func TestTransportMultipartUploadReplays(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	agent := func(base http.RoundTripper) func(context.Context) (string, error) {
		return func(ctx context.Context) (string, error) {
			var body bytes.Buffer
			mw := multipart.NewWriter(&body) // a random boundary each time
			fw, _ := mw.CreateFormFile("file", "notes.txt")
			fw.Write([]byte("hello"))
			mw.Close()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/files", &body)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			resp, err := otelrr.HTTPClient(&http.Client{Transport: base}).Do(req)
			if err != nil {
				return "", err
			}
			defer resp.Body.Close()
			return fmt.Sprintf("%d %v", resp.StatusCode, resp.Body == http.NoBody), nil
		}
	}
	dir := t.TempDir()
	id, want, err := sdkRecord(t, dir, agent(nil))
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	rep, got, err := sdkReplay(t, dir, id, agent(sdkDialGuard(t)))
	if err != nil || !rep.Faithful() || got != want {
		t.Errorf("replay: %v, %q (want %q), %+v", err, got, want, rep.Divergences)
	}
}
