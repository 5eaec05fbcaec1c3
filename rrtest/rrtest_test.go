package rrtest_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/rrtest"
)

// support is a small agent: a tool call whose answer feeds an LLM call.
type support struct {
	prompt string
	tools  atomic.Int64
}

func (a *support) work(ctx context.Context) (string, error) {
	order, err := otelrr.Tool(ctx, "lookup_order", map[string]string{"id": "42"}, func(context.Context, map[string]string) (string, error) {
		a.tools.Add(1)
		return "delayed", nil
	})
	if err != nil {
		return "", err
	}
	return otelrr.LLM(ctx, "fake", "fake-1", map[string]string{"system": a.prompt, "order": order}, func(_ context.Context, r map[string]string) (string, error) {
		return "Your order is " + r["order"] + ".", nil
	})
}

func TestRecordThenReplay(t *testing.T) {
	a := &support{prompt: "be kind"}
	rec, want, err := rrtest.Record(t, "support", a.work)
	if err != nil || want != "Your order is delayed." || len(rec.Records) != 2 {
		t.Fatalf("recorded %q, %v, %d boundaries", want, err, len(rec.Records))
	}
	rep, got := rrtest.Replay(t, rec, a.work)
	rrtest.RequireFaithful(t, rep)
	if got != want || a.tools.Load() != 1 {
		t.Errorf("replayed %q (recorded %q), tool ran %d times", got, want, a.tools.Load())
	}
	// Recorded and replayed by one test binary: the code did not change;
	// and the code-change check never raises a false alarm in a test.
	if rep.CodeChanged {
		t.Errorf("code change reported for a replay in the same test binary: %s", rep.CodeChange)
	}
}

// fakeT records what a test helper reports, to check RequireFaithful's
// failure message.
type fakeT struct {
	testing.TB
	failed string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
}

func TestRequireFaithfulPrintsTheDivergenceTable(t *testing.T) {
	rec, _, err := rrtest.Record(t, "support", (&support{prompt: "be kind"}).work)
	if err != nil {
		t.Fatal(err)
	}
	rep, _ := rrtest.Replay(t, rec, (&support{prompt: "be terse"}).work)
	f := &fakeT{TB: t}
	rrtest.RequireFaithful(f, rep)
	for _, want := range []string{"the replay diverged", "SEQ  KIND  NAME", "system changed", `"be kind" → "be terse"`} {
		if !strings.Contains(f.failed, want) {
			t.Errorf("failure message lacks %q:\n%s", want, f.failed)
		}
	}
}
