package otelrr_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// lookupAnswer is a response that describes itself on its span: an error
// reported in the payload, as a JSON-RPC error response is.
type lookupAnswer struct {
	Found  bool   `json:"found"`
	Detail string `json:"detail"`
}

func (a lookupAnswer) DescribeSpan() ([]attribute.KeyValue, string) {
	attrs := []attribute.KeyValue{attribute.String("example.detail", a.Detail), attribute.String(boundary.AttrSignature, "forged")}
	if !a.Found {
		return append(attrs, attribute.String("error.type", "not_found")), "not found: " + a.Detail
	}
	return attrs, ""
}

// TestCallMakesBoundariesOfAnyShape records boundaries of a chosen kind,
// name, span name and attributes with otelrr.Call, then replays them:
// the span is described the same both times, from the response alone
// where the SpanDescriber says so, with redaction applied and agentrr's
// own attributes left alone.
func TestCallMakesBoundariesOfAnyShape(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AGENTRR_REDACTION_KEY", "integration-test-key")
	var calls atomic.Int64
	work := func(ctx context.Context) (string, error) {
		var out []string
		for _, key := range []string{"a@example.com", "missing"} {
			ans, err := otelrr.Call(ctx, otelrr.Spec{
				Kind:       boundary.KindMCP,
				Name:       "lookup",
				SpanName:   "lookup " + key,
				SpanKind:   trace.SpanKindClient,
				Attributes: []attribute.KeyValue{attribute.String("example.key", key)},
			}, map[string]string{"key": key}, func(_ context.Context, req map[string]string) (lookupAnswer, error) {
				calls.Add(1)
				return lookupAnswer{Found: req["key"] != "missing", Detail: "key " + req["key"]}, nil
			})
			if err != nil {
				return "", err
			}
			out = append(out, ans.Detail)
		}
		_, err := otelrr.Call(ctx, otelrr.Spec{Kind: boundary.KindTool, Name: "broken"}, 1, func(context.Context, int) (int, error) {
			calls.Add(1)
			return 0, context.DeadlineExceeded
		})
		var re *otelrr.RecordedError
		if !errors.As(err, &re) || !errors.Is(err, context.DeadlineExceeded) {
			return "", errors.New("want a RecordedError matching context.DeadlineExceeded, got " + err.Error())
		}
		return strings.Join(out, ", "), nil
	}
	email := regexp.MustCompile(`[a-z]+@example\.com`)
	tp := newTP(t, dir, otelrr.WithRedaction(otelrr.RedactPattern(email)))
	ctx, run, err := tp.StartRun(context.Background(), "call")
	if err != nil {
		t.Fatal(err)
	}
	want, err := work(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := run.End(nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(want, "a@example.com") || calls.Load() != 3 {
		t.Fatalf("recording: %q after %d calls; want the redacted answer after 3", want, calls.Load())
	}
	id := run.TraceID()

	calls.Store(0)
	var got string
	rep, err := replayer.Replay(context.Background(), loadRecording(t, dir, id), func(ctx context.Context) error {
		tp := newTP(t, dir, otelrr.WithRedaction(otelrr.RedactPattern(email)))
		var err error
		got, err = (&agentRun{work: work}).run(ctx, tp)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Faithful() || got != want || calls.Load() != 0 {
		t.Fatalf("replay: %+v, %q after %d calls; want faithful, %q, no call", rep.Divergences, got, calls.Load(), want)
	}

	store, err := spanlog.OpenExisting(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, rid := range []string{id, rep.ReplayTrace} {
		r, err := store.ReadRun(rid)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Records) != 3 {
			t.Fatalf("run %s has %d boundaries, want 3", rid, len(r.Records))
		}
		found, missing := r.Records[0], r.Records[1]
		if found.Kind != boundary.KindMCP || found.Name != "lookup" || !strings.HasPrefix(found.SpanName, "lookup [redacted") {
			t.Errorf("boundary 0: %s %s span %q", found.Kind, found.Name, found.SpanName)
		}
		if v := found.Attributes["example.key"]; v == "a@example.com" || !strings.HasPrefix(v.(string), "[redacted") {
			t.Errorf("example.key = %v, want it redacted", v)
		}
		if v := found.Attributes["example.detail"]; !strings.HasPrefix(v.(string), "key [redacted") {
			t.Errorf("example.detail = %v, want it redacted", v)
		}
		if found.Attributes[boundary.AttrSignature] != found.Signature || found.Attributes["error.type"] != nil {
			t.Errorf("boundary 0 attributes: %v", found.Attributes)
		}
		if missing.Attributes["error.type"] != "not_found" || missing.Failed {
			t.Errorf("boundary 1: error.type %v, failed %v; want not_found, not failed", missing.Attributes["error.type"], missing.Failed)
		}
		if b := r.Records[2]; b.Kind != boundary.KindTool || b.SpanName != "tool broken" || !b.Failed {
			t.Errorf("boundary 2: %s %q failed %v", b.Kind, b.SpanName, b.Failed)
		}
	}
}

func TestCallRefusesBadSpecs(t *testing.T) {
	tp := newTP(t, t.TempDir())
	ctx, run, err := tp.StartRun(context.Background(), "call")
	if err != nil {
		t.Fatal(err)
	}
	defer run.End(nil)
	fn := func(context.Context, int) (int, error) { t.Error("fn called for a bad spec"); return 0, nil }
	for _, tc := range []struct {
		spec otelrr.Spec
		want string
	}{
		{otelrr.Spec{Kind: "rpc", Name: "x"}, `unknown boundary kind "rpc"`},
		{otelrr.Spec{Kind: boundary.KindTool}, "needs a name"},
		{otelrr.Spec{Kind: boundary.KindTool, Name: "x", Attributes: []attribute.KeyValue{attribute.Int64(boundary.AttrSeq, 3)}}, "agentrr.seq is agentrr's own"},
	} {
		if _, err := otelrr.Call(ctx, tc.spec, 1, fn); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error saying %q", tc.spec, err, tc.want)
		}
	}
	if _, err := otelrr.Call(context.Background(), otelrr.Spec{Kind: boundary.KindTool, Name: "x"}, 1, fn); !errors.Is(err, otelrr.ErrNoRun) {
		t.Errorf("without a run: %v", err)
	}
}
