package export_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/internal/cmd/collect"
	"github.com/agentrr/agentrr/internal/cmd/export"
	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/cmdutil/cmdtest"
	"github.com/agentrr/agentrr/internal/storetest"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// A run exported to agentrr collect arrives whole, twice without harm, and
// replays from the other store.
func TestExportToCollectRoundTrip(t *testing.T) {
	src, id := cmdtest.StoreWithRun(t, "be kind")

	dst, store := cmdtest.EmptyStore(t)
	var auth []string
	recv := collect.NewReceiver(store, 0, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = append(auth, r.Header.Get("Authorization"))
		recv.ServeHTTP(w, r)
	}))
	defer srv.Close()

	for i := range 2 {
		io, stdout, _ := cmdtest.Streams()
		opts := &export.Options{IO: io, Store: cmdtest.StoreFunc(src), TraceID: id[:10], Endpoint: srv.URL,
			Headers: map[string]string{"Authorization": "Bearer x"}, PayloadLimit: 1 << 20, JSON: true}
		if err := export.Run(context.Background(), opts); err != nil {
			t.Fatalf("export %d: %v", i, err)
		}
		var res export.Result
		if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		if res.TraceID != id || res.Spans != 8 || res.Boundaries != 7 || res.Requests != 1 || !strings.HasSuffix(res.URL, "/v1/traces") {
			t.Errorf("export %d: %+v", i, res)
		}
	}
	for _, a := range auth {
		if a != "Bearer x" {
			t.Errorf("request without the header: %q", a)
		}
	}

	want, got := storetest.ReadRun(t, src, id), storetest.ReadRun(t, dst, id)
	if got.Info.Status != spanlog.StatusComplete || len(got.Records) != len(want.Records) || got.Info.Name != "support" || got.Info.Service != "cmdtest" {
		t.Fatalf("exported run in the other store: %+v, %d records", got.Info, len(got.Records))
	}
	for i, r := range got.Records {
		w := want.Records[i]
		if r.SpanID != w.SpanID || r.ParentSpanID != w.ParentSpanID || r.Signature != w.Signature || !bytes.Equal(r.Response, w.Response) || r.Error != w.Error {
			t.Errorf("seq %d differs after export", w.Seq)
		}
	}
	_, rep := cmdtest.Replay(t, dst, id, cmdtest.Agent("be kind"))
	if !rep.Faithful() {
		t.Errorf("replay of the exported run: %+v", rep.Divergences)
	}
	rec, err := replayer.Load(store, id)
	if err != nil || len(rec.Records) != 7 {
		t.Fatalf("load: %v", err)
	}
}

func TestExportErrors(t *testing.T) {
	src, id := cmdtest.StoreWithRun(t, "p")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
	}))
	defer srv.Close()
	io, _, _ := cmdtest.Streams()
	err := export.Run(context.Background(), &export.Options{IO: io, Store: cmdtest.StoreFunc(src), TraceID: id, Endpoint: srv.URL})
	if err == nil || !strings.Contains(err.Error(), "413") || !strings.Contains(err.Error(), "request body too large") {
		t.Errorf("export to a refusing endpoint: %v", err)
	}
	err = export.Run(context.Background(), &export.Options{IO: io, Store: cmdtest.StoreFunc(src), TraceID: "ffff", Endpoint: srv.URL})
	if !errors.Is(err, spanlog.ErrNotFound) || cmdutil.Code(err) != cmdutil.ExitUsage {
		t.Errorf("unknown run: %v (exit %d)", err, cmdutil.Code(err))
	}
}

// With no flags, the export goes where OTEL_EXPORTER_OTLP_ENDPOINT says,
// with the headers of OTEL_EXPORTER_OTLP_HEADERS, as for any OpenTelemetry
// SDK exporter: agentrr uses the SDK's.
func TestExportReadsTheStandardEnvironment(t *testing.T) {
	src, id := cmdtest.StoreWithRun(t, "p")
	var auth, tenant []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = append(auth, r.Header.Get("Authorization"))
		tenant = append(tenant, r.Header.Get("X-Tenant"))
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20tok,x-tenant=a")
	io, stdout, _ := cmdtest.Streams()
	if err := export.Run(context.Background(), &export.Options{IO: io, Store: cmdtest.StoreFunc(src), TraceID: id}); err != nil {
		t.Fatal(err)
	}
	if len(auth) != 1 || auth[0] != "Bearer tok" || tenant[0] != "a" {
		t.Errorf("requests %d, headers %q %q", len(auth), auth, tenant)
	}
	if !strings.Contains(stdout.String(), srv.URL+"/v1/traces") {
		t.Errorf("output does not say where the run went:\n%s", stdout)
	}
}

func TestExportCommandFlags(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	io, _, _ := cmdtest.Streams()
	f := &cmdutil.Factory{IO: io}
	var got *export.Options
	run := func(args ...string) error {
		cmd := export.NewCmdExport(f, func(o *export.Options) error { got = o; return nil })
		cmd.SetArgs(args)
		cmd.SetOut(io.Out)
		cmd.SetErr(io.ErrOut)
		return cmd.Execute()
	}
	if err := run("abc"); cmdutil.Code(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), "--otlp-endpoint") {
		t.Errorf("no endpoint: %v", err)
	}
	// With the standard variables set, the OTLP exporter reads them itself.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")
	if err := run("abc"); err != nil {
		t.Fatal(err)
	}
	if got.Endpoint != "" || got.Headers != nil {
		t.Errorf("from the environment: endpoint %q, headers %v; want both left to the exporter", got.Endpoint, got.Headers)
	}
	if err := run("abc", "--otlp-endpoint", "http://j:4318", "--header", "k=v"); err != nil {
		t.Fatal(err)
	}
	if got.Endpoint != "http://j:4318" || len(got.Headers) != 1 || got.Headers["k"] != "v" {
		t.Errorf("flags: %q %v", got.Endpoint, got.Headers)
	}
	if err := run("abc", "--otlp-endpoint", "collector:4318"); cmdutil.Code(err) != cmdutil.ExitUsage {
		t.Errorf("an endpoint that is not a URL: %v", err)
	}
	if err := run("abc", "--otlp-endpoint", "http://j:4318", "--header", "secretvalue"); err == nil || strings.Contains(err.Error(), "secretvalue") {
		t.Errorf("malformed header: %v (must not echo the value)", err)
	}
}

func TestFixtureName(t *testing.T) {
	for _, c := range []struct {
		name, id string
		gzip     bool
		want     string
	}{
		{"deterministic_support", "b11de7340c8fb731ed5b7820eeaadd40", false, "deterministic_support-b11de734.json"},
		{"refund: late order/EU", "4bf92f35aa8c2b4e1bd07f7b8d5c3a1e", true, "refund--late-order-EU-4bf92f35.json.gz"},
		{"../..", "4bf92f35aa8c2b4e1bd07f7b8d5c3a1e", false, "run-4bf92f35.json"},
		{"", "4bf92f35aa8c2b4e1bd07f7b8d5c3a1e", false, "run-4bf92f35.json"},
	} {
		if got := export.FixtureName(c.name, c.id, c.gzip); got != c.want {
			t.Errorf("FixtureName(%q, %q, %v) = %q, want %q", c.name, c.id, c.gzip, got, c.want)
		}
	}
}
