package otelrr_test

import (
	"context"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/rrtest"
)

// promptAgent asks the model with one of two prompts. marked is the agent
// after an intentional change: a version marker chooses the prompt.
type promptAgent struct {
	marked bool
	min    int
}

func (a *promptAgent) work(ctx context.Context) (string, error) {
	prompt := "You are a helpful support agent."
	if a.marked {
		v, err := otelrr.Version(ctx, "terse-prompt", a.min, 1)
		if err != nil {
			return "", err
		}
		if v >= 1 {
			prompt = "You are a terse support agent."
		}
	}
	return otelrr.LLM(ctx, "fake", "fake-1", map[string]string{"system": prompt}, func(_ context.Context, r map[string]string) (string, error) {
		return "answer to: " + r["system"], nil
	})
}

// The workflow of an intentional change: recordings made before it keep
// replaying on the changed code (the marker gives them DefaultVersion and
// the old path), recordings made after take the new path, and raising the
// oldest supported version retires the old recordings with a clear message.
func TestVersionMarkers(t *testing.T) {
	old, oldAnswer, err := rrtest.Record(t, "support", (&promptAgent{}).work)
	if err != nil {
		t.Fatal(err)
	}
	marked := &promptAgent{marked: true, min: otelrr.DefaultVersion}

	// The old recording on the new code: faithful, the old prompt.
	rep, got := rrtest.Replay(t, old, marked.work)
	rrtest.RequireFaithful(t, rep)
	if got != oldAnswer || rep.Served != 1 {
		t.Errorf("old recording on the marked agent answered %q (recorded %q), served %d", got, oldAnswer, rep.Served)
	}

	// A new recording takes the new path, records the marker, and replays.
	fresh, freshAnswer, err := rrtest.Record(t, "support", marked.work)
	if err != nil || !strings.Contains(freshAnswer, "terse") {
		t.Fatalf("new recording: %q, %v", freshAnswer, err)
	}
	if r := fresh.Records[0]; r.Kind != boundary.KindVersion || r.Name != "terse-prompt" || string(r.Response) != "1" {
		t.Errorf("the marker was recorded as %s %s = %s", r.Kind, r.Name, r.Response)
	}
	rep, got = rrtest.Replay(t, fresh, marked.work)
	rrtest.RequireFaithful(t, rep)
	if got != freshAnswer {
		t.Errorf("new recording replayed %q, recorded %q", got, freshAnswer)
	}

	// Old recordings retired: version 1 is now the oldest supported.
	retired := &promptAgent{marked: true, min: 1}
	rep, _ = rrtest.Replay(t, old, retired.work)
	if rep.Faithful() {
		t.Fatal("a recording older than the oldest supported version replayed faithfully")
	}
	d := rep.Divergences[0]
	if d.Reason != analyze.ReasonVersion || !strings.Contains(d.Note, `predates the oldest supported version of change "terse-prompt"`) {
		t.Errorf("divergence %+v", d)
	}
	rep, _ = rrtest.Replay(t, fresh, retired.work)
	rrtest.RequireFaithful(t, rep)
}

func TestVersionArguments(t *testing.T) {
	for _, c := range []struct {
		id       string
		min, max int
	}{{"", 0, 1}, {"x", 2, 1}, {"x", -2, 1}, {"x", -1, -1}} {
		_, _, err := rrtest.Record(t, "v", func(ctx context.Context) (int, error) { return otelrr.Version(ctx, c.id, c.min, c.max) })
		if err == nil {
			t.Errorf("Version(%q, %d, %d) accepted", c.id, c.min, c.max)
		}
	}
}
