package collect_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/cmd/collect"
	"github.com/agentrr/agentrr/internal/cmdutil/cmdtest"
	"github.com/agentrr/agentrr/internal/storetest"
	"github.com/agentrr/agentrr/spanlog"
)

// traces returns a run of two tool boundaries and its root span, as an
// agent in another language sends them.
func traces(trace byte) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "ts-agent")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	tid := pcommon.TraceID{trace, 1, 2, 3}
	root := pcommon.SpanID{trace, 9}
	for seq := range 2 {
		req, resp := []byte(`{"x":1}`), []byte(`"ok"`)
		sp := spans.AppendEmpty()
		sp.SetTraceID(tid)
		sp.SetSpanID(pcommon.SpanID{trace, byte(seq + 1)})
		sp.SetParentSpanID(root)
		sp.SetName("execute_tool t")
		storetest.PutToolAttrs(sp.Attributes(), int64(seq), "t", req, resp)
	}
	sp := spans.AppendEmpty()
	sp.SetTraceID(tid)
	sp.SetSpanID(root)
	sp.SetName("run")
	sp.Attributes().PutStr(boundary.AttrRun, "ts-run")
	sp.Attributes().PutInt(boundary.AttrBoundaries, 2)
	return td
}

func newServer(t *testing.T, maxBytes int64) (*httptest.Server, string) {
	t.Helper()
	dir, store := cmdtest.EmptyStore(t)
	srv := httptest.NewServer(collect.NewReceiver(store, maxBytes, nil))
	t.Cleanup(srv.Close)
	return srv, dir
}

func post(t *testing.T, url, contentType, encoding string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func runStatus(t *testing.T, dir string, trace byte) spanlog.Status {
	t.Helper()
	info, err := storetest.OpenExisting(t, dir).Info(pcommon.TraceID{trace, 1, 2, 3}.String())
	if err != nil {
		return ""
	}
	return info.Status
}

func TestReceiverStoresProtobufAndJSON(t *testing.T) {
	srv, dir := newServer(t, 0)

	body, _ := ptraceotlp.NewExportRequestFromTraces(traces(1)).MarshalProto()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(body)
	zw.Close()
	resp, rb := post(t, srv.URL+"/v1/traces", "application/x-protobuf", "gzip", gz.Bytes())
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-protobuf" {
		t.Fatalf("protobuf+gzip: %s %s", resp.Status, rb)
	}
	if err := ptraceotlp.NewExportResponse().UnmarshalProto(rb); err != nil {
		t.Errorf("answer is not an ExportTraceServiceResponse: %v", err)
	}
	if st := runStatus(t, dir, 1); st != spanlog.StatusComplete {
		t.Errorf("run after the request: %q, want complete", st)
	}

	jbody, _ := ptraceotlp.NewExportRequestFromTraces(traces(2)).MarshalJSON()
	resp, rb = post(t, srv.URL+"/v1/traces", "application/json", "", jbody)
	if resp.StatusCode != http.StatusOK || !json.Valid(rb) {
		t.Fatalf("JSON: %s %s", resp.Status, rb)
	}
	if st := runStatus(t, dir, 2); st != spanlog.StatusComplete {
		t.Errorf("run sent as JSON: %q, want complete", st)
	}
}

func TestReceiverRefusals(t *testing.T) {
	srv, dir := newServer(t, 4096)
	good, _ := ptraceotlp.NewExportRequestFromTraces(traces(3)).MarshalProto()
	noSeq := traces(4)
	noSeq.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(1).Attributes().Remove(boundary.AttrSeq)
	noSeqBody, _ := ptraceotlp.NewExportRequestFromTraces(noSeq).MarshalJSON()
	big := traces(5)
	big.ResourceSpans().At(0).Resource().Attributes().PutStr("padding", strings.Repeat("p", 8192))
	bigBody, _ := ptraceotlp.NewExportRequestFromTraces(big).MarshalProto()

	for _, tc := range []struct {
		name, contentType, encoding string
		body                        []byte
		status                      int
		says                        string
	}{
		{"not OTLP", "application/x-protobuf", "", []byte("\xff\xff\xff"), http.StatusBadRequest, "not an OTLP ExportTraceServiceRequest"},
		{"bad JSON", "application/json", "", []byte(`{"resourceSpans": [`), http.StatusBadRequest, "not an OTLP"},
		{"boundary without seq", "application/json", "", noSeqBody, http.StatusBadRequest, "no agentrr.seq"},
		{"too large", "application/x-protobuf", "", bigBody, http.StatusRequestEntityTooLarge, "over 4096 bytes"},
		{"content type", "text/plain", "", good, http.StatusUnsupportedMediaType, "application/x-protobuf or application/json"},
		{"encoding", "application/x-protobuf", "br", good, http.StatusUnsupportedMediaType, "gzip"},
		{"bad gzip", "application/x-protobuf", "gzip", good, http.StatusBadRequest, "gzip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(t, srv.URL+"/v1/traces", tc.contentType, tc.encoding, tc.body)
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.says) {
				t.Errorf("%s: %s, body %q; want %d saying %q", tc.name, resp.Status, body, tc.status, tc.says)
			}
		})
	}
	for _, trace := range []byte{3, 4, 5} {
		if st := runStatus(t, dir, trace); st != "" {
			t.Errorf("trace %d of a refused request was stored (%s)", trace, st)
		}
	}
	resp, err := http.Get(srv.URL + "/v1/traces")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %s, want 405", resp.Status)
	}
}

func TestCollectCommandListensOnLoopbackAndStops(t *testing.T) {
	io, _, stderr := cmdtest.Streams()
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	opts := &collect.Options{IO: io, StorePath: t.TempDir(), Listen: "127.0.0.1:0", Ready: func(a net.Addr) { addrs <- a }}
	go func() { done <- collect.Run(ctx, opts) }()
	var addr net.Addr
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("collect ended before listening: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("collect did not start listening")
	}
	if !addr.(*net.TCPAddr).IP.IsLoopback() {
		t.Errorf("listening on %s", addr)
	}
	body, _ := ptraceotlp.NewExportRequestFromTraces(traces(6)).MarshalProto()
	resp, _ := post(t, "http://"+addr.String()+"/v1/traces", "application/x-protobuf", "", body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST: %s", resp.Status)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("collect after cancel: %v", err)
	}
	if !strings.Contains(stderr.String(), "stored 2 boundary span(s) of 1 run(s)") {
		t.Errorf("log: %s", stderr)
	}
	if st := runStatus(t, opts.StorePath, 6); st != spanlog.StatusComplete {
		t.Errorf("run: %q", st)
	}
}
