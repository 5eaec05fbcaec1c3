package otelrr_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/agentrr/agentrr/internal/storetest"
	"github.com/agentrr/agentrr/rrtest"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

type chatReq struct {
	Messages []msg  `json:"messages"`
	Model    string `json:"model"`
}
type msg struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}
type chatResp struct {
	Text string `json:"text"`
}

// agent is a small agent: llm → tool → clock → rand → id → llm.
type agent struct {
	prompt    string
	llmCalls  atomic.Int64
	toolCalls atomic.Int64
	reorder   bool // read the clock before the first LLM call
	extra     bool // one more tool call at the end
	skipLast  bool // stop before the last LLM call
}

func (a *agent) llm(_ context.Context, r chatReq) (chatResp, error) {
	a.llmCalls.Add(1)
	return chatResp{Text: fmt.Sprintf("answer to %d messages", len(r.Messages))}, nil
}

func (a *agent) lookup(_ context.Context, args map[string]string) (map[string]string, error) {
	a.toolCalls.Add(1)
	if args["order"] == "missing" {
		return nil, errors.New("order missing not found")
	}
	return map[string]string{"status": "shipped", "order": args["order"]}, nil
}

func (a *agent) run(ctx context.Context, tp *otelrr.TracerProvider) (string, error) {
	return runIn(ctx, tp, "test-agent", a.work)
}

// runIn runs work in a run of tp named name, ended with work's error, and
// returns work's result and error, or the error of starting or ending the
// run.
func runIn(ctx context.Context, tp *otelrr.TracerProvider, name string, work func(context.Context) (string, error)) (string, error) {
	ctx, run, err := tp.StartRun(ctx, name)
	if err != nil {
		return "", err
	}
	out, err := work(ctx)
	if endErr := run.End(err); endErr != nil {
		return "", endErr
	}
	return out, err
}

func (a *agent) work(ctx context.Context) (string, error) {
	if a.reorder {
		if _, err := otelrr.Now(ctx); err != nil {
			return "", err
		}
	}
	r1, err := otelrr.LLM(ctx, "fake", "fake-gpt", chatReq{Model: "fake-gpt", Messages: []msg{{"system", a.prompt}, {"user", "where is order 42?"}}}, a.llm)
	if err != nil {
		return "", err
	}
	st, err := otelrr.Tool(ctx, "lookup_order", map[string]string{"order": "42"}, a.lookup)
	if err != nil {
		return "", err
	}
	_, toolErr := otelrr.Tool(ctx, "lookup_order", map[string]string{"order": "missing"}, a.lookup)
	if !a.reorder {
		if _, err := otelrr.Now(ctx); err != nil {
			return "", err
		}
	}
	rng, err := otelrr.Rand(ctx)
	if err != nil {
		return "", err
	}
	id, err := otelrr.NewID(ctx)
	if err != nil {
		return "", err
	}
	out := fmt.Sprintf("%s|%s|%v|%d|%s", r1.Text, st["status"], toolErr, rng.IntN(1000), id)
	if a.skipLast {
		return out, nil
	}
	r2, err := otelrr.LLM(ctx, "fake", "fake-gpt", chatReq{Model: "fake-gpt", Messages: []msg{{"system", a.prompt}, {"user", out}}}, a.llm)
	if err != nil {
		return "", err
	}
	if a.extra {
		if _, err := otelrr.Tool(ctx, "lookup_order", map[string]string{"order": "43"}, a.lookup); err != nil {
			return "", err
		}
	}
	return out + "|" + r2.Text, nil
}

func newTP(t *testing.T, dir string, opts ...otelrr.Option) *otelrr.TracerProvider {
	t.Helper()
	tp, err := otelrr.NewTracerProvider(context.Background(), append([]otelrr.Option{otelrr.WithStore(dir)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return tp
}

// readRun reads run id from the store at dir.

func record(t *testing.T, dir string, a *agent) (traceID, out string) {
	t.Helper()
	traceID, out, err := recordRun(t, dir, "test-agent", a.work)
	if err != nil {
		t.Fatal(err)
	}
	return traceID, out
}

// recordRun runs fn in one run named name of a new provider recording into
// the store at dir, configured further by opts, and returns the run id,
// fn's result and fn's error (the run is ended with it). Unlike rrtest.Run,
// the provider is shut down only when the test ends.
func recordRun(t *testing.T, dir, name string, fn func(context.Context) (string, error), opts ...otelrr.Option) (id, out string, err error) {
	t.Helper()
	tp := newTP(t, dir, opts...)
	ctx, run, startErr := tp.StartRun(context.Background(), name)
	if startErr != nil {
		t.Fatal(startErr)
	}
	out, err = fn(ctx)
	if endErr := run.End(err); endErr != nil {
		t.Fatal(endErr)
	}
	return run.TraceID(), out, err
}

func replay(t *testing.T, dir, id string, a *agent, opts ...replayer.Option) (*analyze.Report, string) {
	t.Helper()
	rec := rrtest.Load(t, dir, id)
	var out string
	rep, err := replayer.Replay(context.Background(), rec, func(ctx context.Context) error {
		tp := newTP(t, dir)
		var err error
		out, err = a.run(ctx, tp)
		return err
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return rep, out
}

func TestRecordReplayFaithful(t *testing.T) {
	dir := t.TempDir()
	rec := &agent{prompt: "You are a helpful support agent."}
	id, want := record(t, dir, rec)
	if rec.llmCalls.Load() != 2 || rec.toolCalls.Load() != 2 {
		t.Fatalf("recording made %d llm and %d tool calls, want 2 and 2", rec.llmCalls.Load(), rec.toolCalls.Load())
	}
	orig := storetest.ReadRun(t, dir, id)
	if orig.Info.Status != spanlog.StatusComplete || len(orig.Records) != 7 {
		t.Fatalf("stored run: status %s, %d boundaries; want complete, 7 (%s)", orig.Info.Status, len(orig.Records), orig.Info.Reason)
	}

	rp := &agent{prompt: rec.prompt}
	rep, got := replay(t, dir, id, rp)
	if !rep.Faithful() {
		t.Fatalf("replay diverged: %+v", rep.Divergences)
	}
	if got != want {
		t.Errorf("replayed output %q, recorded %q", got, want)
	}
	if n := rp.llmCalls.Load() + rp.toolCalls.Load(); n != 0 {
		t.Errorf("replay made %d live LLM/tool calls, want 0", n)
	}
	// The replay is itself recorded, refers to the original, and has the same boundary sequence.
	replayed := storetest.ReadRun(t, dir, rep.ReplayTrace)
	if replayed.Info.ReplayOf != id {
		t.Errorf("replay run replay_of = %q, want %q", replayed.Info.ReplayOf, id)
	}
	if len(replayed.Records) != len(orig.Records) {
		t.Fatalf("replay recorded %d boundaries, original %d", len(replayed.Records), len(orig.Records))
	}
	for i := range orig.Records {
		o, r := orig.Records[i], replayed.Records[i]
		if o.Kind != r.Kind || o.Name != r.Name || o.Signature != r.Signature || string(o.Response) != string(r.Response) || o.Error != r.Error {
			t.Errorf("seq %d: replayed %s %s %.12s, recorded %s %s %.12s", i, r.Kind, r.Name, r.Signature, o.Kind, o.Name, o.Signature)
		}
	}
	if !strings.Contains(want, "order missing not found") {
		t.Errorf("tool error not in output %q", want)
	}
}

func TestEditedPromptDiverges(t *testing.T) {
	dir := t.TempDir()
	id, _ := record(t, dir, &agent{prompt: "You are a helpful support agent."})
	rp := &agent{prompt: "You are a terse support agent."}
	rep, _ := replay(t, dir, id, rp)
	if rep.Faithful() || !rep.Halted {
		t.Fatalf("want a halted divergence, got %+v", rep)
	}
	d := rep.Divergences[0]
	if d.Seq != 0 || d.Reason != analyze.ReasonSignature {
		t.Fatalf("divergence at seq %d (%s), want seq 0 signature mismatch", d.Seq, d.Reason)
	}
	if len(d.Diff) != 1 || d.Diff[0].Path != "messages[0].content" || !strings.Contains(d.Diff[0].Observed, "terse") {
		t.Errorf("diff = %+v, want one change at messages[0].content", d.Diff)
	}
	var de *replayer.DivergenceError
	if !errors.As(errors.New(rep.AgentError), &de) && !strings.Contains(rep.AgentError, "diverged at seq 0") {
		t.Errorf("agent error %q does not carry the divergence", rep.AgentError)
	}
	if rp.llmCalls.Load() != 0 {
		t.Errorf("strict replay made %d live LLM calls", rp.llmCalls.Load())
	}

	// Observe mode does not halt: both LLM calls diverge.
	rep, _ = replay(t, dir, id, &agent{prompt: "You are a terse support agent."}, replayer.WithMode(replayer.Observe))
	if rep.Halted || len(rep.Divergences) != 2 || rep.Divergences[0].Seq != 0 || rep.Divergences[1].Seq != 6 {
		t.Fatalf("observe: %+v", rep.Divergences)
	}
}
