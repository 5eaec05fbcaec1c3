package collect_test

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/agentrr/agentrr/internal/cmd/collect"
	"github.com/agentrr/agentrr/internal/cmdutil/cmdtest"
)

// The receiver takes OTLP/HTTP bodies from any sender on the network: it
// must answer every body with an OTLP status — never panic, never store
// half a batch — and what it stores must read back as runs (seqs 0..n-1,
// whole boundaries) or be reported damaged or truncated, never crash a
// reader.
func FuzzReceiver(f *testing.F) {
	exp := ptraceotlp.NewExportRequestFromTraces(traces(7))
	pb, err := exp.MarshalProto()
	if err != nil {
		f.Fatal(err)
	}
	js, err := exp.MarshalJSON()
	if err != nil {
		f.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(pb)
	zw.Close()
	f.Add(pb, uint8(0), false)
	f.Add(js, uint8(1), false)
	f.Add(gz.Bytes(), uint8(0), true)
	f.Add([]byte{}, uint8(0), false)
	f.Add([]byte(`{"resourceSpans":[{}]}`), uint8(1), false)
	f.Add([]byte{0x0a, 0x02, 0x12, 0x00}, uint8(0), false)
	f.Add(pb, uint8(2), false)

	f.Fuzz(func(t *testing.T, body []byte, ct uint8, zipped bool) {
		_, store := cmdtest.EmptyStore(t)
		// A small cap, so that a body inflating past it is refused.
		recv := collect.NewReceiver(store, 1<<20, nil)
		req := httptest.NewRequest(http.MethodPost, collect.TracesPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", []string{"application/x-protobuf", "application/json", "text/plain"}[int(ct)%3])
		if zipped {
			req.Header.Set("Content-Encoding", "gzip")
		}
		rec := httptest.NewRecorder()
		recv.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body.Bytes())
		}
		ids, err := store.TraceIDs()
		if err != nil {
			t.Fatal(err)
		}
		if rec.Code != http.StatusOK && len(ids) > 0 {
			t.Fatalf("refused with %d but stored %d run(s): %s", rec.Code, len(ids), rec.Body.Bytes())
		}
		for _, id := range ids {
			run, err := store.ReadRun(id)
			if err != nil {
				t.Fatalf("stored run %s does not read: %v", id, err)
			}
			for i, r := range run.Records {
				if r.Seq != int64(i) {
					t.Fatalf("run %s: record %d has seq %d", id, i, r.Seq)
				}
				if err := r.Check(); err != nil {
					t.Fatalf("run %s: stored a boundary that is not whole: %v", id, err)
				}
			}
		}
	})
}
