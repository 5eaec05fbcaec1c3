package inspect

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/cmdutil/cmdtest"
	"github.com/agentrr/agentrr/spanlog"
)

func inspect(t *testing.T, dir, id string, seq int64, jsonOut bool) (string, error) {
	t.Helper()
	streams, stdout, _ := cmdtest.Streams()
	err := runInspect(&Options{IO: streams, Store: cmdtest.StoreFunc(dir), TraceID: id, Seq: seq, JSON: jsonOut})
	return stdout.String(), err
}

func TestInspectLLMBoundary(t *testing.T) {
	dir, id := cmdtest.StoreWithRun(t, "You are helpful.")
	out, err := inspect(t, dir, id[:5], 2, false)
	if err != nil {
		t.Fatal(err)
	}
	// The request and response in full, as indented JSON, then the span's
	// attributes without the payloads.
	cmdtest.CheckContains(t, out,
		"kind       llm\n",
		"request:\n{\n  \"messages\": [\n    {\n      \"content\": \"You are helpful.\",\n",
		"response:\n{\n  \"input_tokens\": 12,\n",
		"span:\nname      chat fake-gpt\n",
		"attributes:\n",
		"gen_ai.usage.input_tokens   12\n",
		"gen_ai.request.model        fake-gpt\n",
		"agentrr.seq                 2\n",
	)
	for _, not := range []string{"agentrr.request ", "agentrr.response ", "agentrr.error "} {
		if strings.Contains(out, not) {
			t.Errorf("attributes list the payload %q:\n%s", not, out)
		}
	}
}

func TestInspectFailedCallJSON(t *testing.T) {
	dir, id := cmdtest.StoreWithRun(t, "You are helpful.")
	out, err := inspect(t, dir, id, 4, true)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if doc["status"] != "error" || doc["error"] != "order B-2 not found" || doc["kind"] != "tool" || doc["seq"] != 4.0 {
		t.Errorf("seq 4: %v", doc)
	}
	if _, ok := doc["response"]; ok {
		t.Errorf("a failed call has a response: %v", doc["response"])
	}
	if req, ok := doc["request"].(map[string]any); !ok || req["order_id"] != "B-2" {
		t.Errorf("request %v, want the tool's arguments as a JSON object", doc["request"])
	}
	attrs, _ := doc["attributes"].(map[string]any)
	if attrs["gen_ai.tool.name"] != "lookup_order" || attrs["agentrr.request"] != nil || attrs["agentrr.error"] != nil {
		t.Errorf("attributes %v", attrs)
	}
	for _, k := range []string{"span_id", "span_name", "start", "end", "signature", "payload_sha256"} {
		if s, _ := doc[k].(string); s == "" {
			t.Errorf("%s is empty", k)
		}
	}
}

func TestInspectSeqOutOfRange(t *testing.T) {
	dir, id := cmdtest.StoreWithRun(t, "p")
	_, err := inspect(t, dir, id, 7, false)
	if cmdutil.Code(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), "seq 7 is out of range") || !strings.Contains(err.Error(), "seq 0-6") {
		t.Errorf("seq 7 of 7: %v (exit %d)", err, cmdutil.Code(err))
	}

	store, _ := spanlog.Open(dir)
	bs := cmdtest.SampleBoundaries(4)
	bs[2].Corrupt = true
	bad := cmdtest.AddRun(t, store, spanlog.RunMeta{}, bs, &spanlog.RunEnd{})
	if _, err := inspect(t, dir, bad, 1, false); err != nil {
		t.Errorf("seq 1, before the damage: %v", err)
	}
	_, err = inspect(t, dir, bad, 2, false)
	if cmdutil.Code(err) != cmdutil.ExitDamaged || !strings.Contains(err.Error(), "payload hash mismatch") || !strings.Contains(err.Error(), "boundaries 0-1 can be read") {
		t.Errorf("damaged seq 2: %v (exit %d)", err, cmdutil.Code(err))
	}

	empty := cmdtest.AddRun(t, store, spanlog.RunMeta{}, nil, &spanlog.RunEnd{})
	_, err = inspect(t, dir, empty, 0, false)
	if cmdutil.Code(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), "has no boundaries") {
		t.Errorf("empty run: %v", err)
	}
}

func TestNewCmdInspectFlags(t *testing.T) {
	streams, _, _ := cmdtest.Streams()
	f := &cmdutil.Factory{IO: streams}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"4bf9"}, "--seq is required"},
		{[]string{"4bf9", "--seq", "-1"}, "--seq must be 0 or more"},
		{[]string{"--seq", "1"}, "takes one trace id"},
	} {
		cmd := NewCmdInspect(f, func(*Options) error { t.Errorf("%v: ran", tc.args); return nil })
		cmd.SetArgs(tc.args)
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		err := cmd.Execute()
		if cmdutil.Code(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("inspect %v: %v, want a usage error mentioning %q", tc.args, err, tc.msg)
		}
	}
	var got *Options
	cmd := NewCmdInspect(f, func(o *Options) error { got = o; return nil })
	cmd.SetArgs([]string{"4bf9", "--seq", "0"})
	if err := cmd.Execute(); err != nil || got.Seq != 0 || got.TraceID != "4bf9" {
		t.Errorf("inspect 4bf9 --seq 0: %v %+v", err, got)
	}
}
