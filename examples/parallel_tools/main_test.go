package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/examples/internal/exampletest"
	"github.com/agentrr/agentrr/examples/internal/openaiclient"
	"github.com/agentrr/agentrr/internal/fakeapi"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/rrtest"
	"github.com/agentrr/agentrr/spanlog"
)

// recorded is one run of the agent, recorded in-process against the fake
// server, and what the recording says of it.
type recorded struct {
	dir string
	// replayDir is the store replays record into (dir when empty).
	replayDir string
	rec       *replayer.Recording
	plan      *Plan
	// calls are the tool calls the model returned in its first reply, in
	// its order; results the tools' recorded answers, by call id.
	calls   []toolCallPart
	results map[string]string
}

// toolCallPart is a tool_call part of gen_ai.output.messages.
type toolCallPart struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name"`
}

// record records one run of the agent (streaming its planning replies
// when stream is set) into a new store. The fake server is closed before it
// returns: nothing answers replays but the recording.
func record(t *testing.T, stream bool) *recorded {
	t.Helper()
	srv := fakeapi.New()
	defer srv.Close()
	dir := t.TempDir()
	a := &Agent{Client: openaiclient.New(srv.OpenAIBaseURL(), "fake-key", nil), Stream: stream}
	id, plan, err := rrtest.Run(context.Background(), t, dir, "parallel_tools", a.Run)
	if err != nil {
		t.Fatal(err)
	}
	if n := a.ToolRuns.Load(); n != int64(len(tools)) {
		t.Fatalf("the recording ran %d tools, want %d", n, len(tools))
	}
	srv.Close()
	rec := rrtest.Load(t, dir, id)
	r := &recorded{dir: dir, rec: rec, plan: plan, results: map[string]string{}}
	r.calls = firstToolCalls(t, rec)
	for _, b := range rec.Records {
		if b.Kind == boundary.KindTool {
			var res string
			if err := json.Unmarshal(b.Response, &res); err != nil {
				t.Fatalf("tool %s answered %s: %v", b.Name, b.Response, err)
			}
			r.results[b.Branch] = res
		}
	}
	return r
}

// firstToolCalls returns the tool calls of the run's first model reply, as
// the llm boundary describes them (gen_ai.output.messages).
func firstToolCalls(t *testing.T, rec *replayer.Recording) []toolCallPart {
	t.Helper()
	for _, b := range rec.Records {
		if b.Kind != boundary.KindLLM || b.Branch != boundary.RootBranch || b.Index != 0 {
			continue
		}
		out, _ := b.Attributes[boundary.GenAIOutputMessages].(string)
		var msgs []struct {
			Parts []toolCallPart `json:"parts"`
		}
		if err := json.Unmarshal([]byte(out), &msgs); err != nil || len(msgs) != 1 {
			t.Fatalf("the first reply's output messages %q: %v", out, err)
		}
		var calls []toolCallPart
		for _, p := range msgs[0].Parts {
			if p.Type == "tool_call" {
				calls = append(calls, p)
			}
		}
		return calls
	}
	t.Fatal("no model call at the root's index 0")
	return nil
}

// replay replays r in-process with agent (a fresh one per replay, on a
// client whose every dial fails the test).
func (r *recorded) replay(t *testing.T, agent *Agent, opts ...replayer.Option) (*analyze.Report, *Plan) {
	t.Helper()
	agent.Client = openaiclient.New("", "", exampletest.DialGuard(t))
	var plan *Plan
	rep, err := replayer.Replay(context.Background(), r.rec, func(ctx context.Context) error {
		var err error
		_, plan, err = rrtest.Run(ctx, t, cmp.Or(r.replayDir, r.dir), "parallel_tools", agent.Run)
		return err
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if n := agent.ToolRuns.Load(); n != 0 {
		t.Errorf("replay ran %d tool functions", n)
	}
	return rep, plan
}

// checkShape checks what the recording holds: one model reply with a call
// of every tool; each tool run on the branch named after its call, with a
// clock read after the live ones; the final call on the root with the
// results in the order of the calls; two streamed follow-ups, one per
// branch.
func checkShape(t *testing.T, r *recorded) {
	t.Helper()
	var names []string
	for _, c := range r.calls {
		names = append(names, c.Name)
	}
	var want []string
	for _, tt := range tools {
		want = append(want, tt.name)
	}
	if !slices.Equal(names, want) {
		t.Fatalf("the first reply called %q, want every tool at once: %q", names, want)
	}
	byBranch, err := boundary.BranchIndex(r.rec.Records)
	if err != nil {
		t.Fatal(err)
	}
	if root := byBranch[boundary.RootBranch]; len(root) != 2 || root[0].Kind != boundary.KindLLM || root[1].Kind != boundary.KindLLM {
		t.Errorf("the root branch holds %d boundaries, want the two model calls", len(root))
	}
	for _, c := range r.calls {
		bs := byBranch[c.ID]
		if len(bs) == 0 || bs[0].Kind != boundary.KindTool || bs[0].Name != c.Name {
			t.Errorf("branch %s does not start with the tool %s", c.ID, c.Name)
			continue
		}
		live := tools[toolIndex(c.Name)].live
		if (live && (len(bs) != 2 || bs[1].Kind != boundary.KindClock)) || (!live && len(bs) != 1) {
			t.Errorf("branch %s holds %d boundaries (live tool: %t)", c.ID, len(bs), live)
		}
	}
	for _, name := range []string{"sms", "checklist"} {
		if bs := byBranch[name]; len(bs) != 1 || bs[0].Kind != boundary.KindLLM || bs[0].Attributes[boundary.AttrHTTPStreamOpenedAt] == nil {
			t.Errorf("branch %s: want one streamed model call", name)
		}
	}
	if n := len(r.calls) + 3; len(byBranch) != n {
		t.Errorf("%d branches recorded, want %d", len(byBranch), n)
	}
	at := 0
	for _, c := range r.calls {
		i := strings.Index(r.plan.Answer[at:], r.results[c.ID])
		if r.results[c.ID] == "" || i < 0 {
			t.Fatalf("the answer %q lacks %s's result %q after offset %d: the results are not in the order of the calls", r.plan.Answer, c.Name, r.results[c.ID], at)
		}
		at += i + len(r.results[c.ID])
	}
}

// toolOrder is the order in which the tools of rec completed.
func toolOrder(rec *replayer.Recording) string {
	var order []string
	for _, b := range rec.Records {
		if b.Kind == boundary.KindTool {
			order = append(order, b.Name)
		}
	}
	return strings.Join(order, ",")
}

// scratchStore is a store directory on tmpfs (/dev/shm) when there is one,
// else in t.TempDir(). Each replay is itself recorded as a run; creating a
// run's database costs a few dozen disk syncs (tens of milliseconds on a
// disk whose fsync takes 2 ms), which is not what a test of replay is
// about.
func scratchStore(t *testing.T) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "agentrr-parallel-tools-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

// TestReplaysAreExact records the agent once, then replays it 200 times
// with GOMAXPROCS from 1 to 8 and chaos on, each time with another seed:
// every replay is faithful and answers byte for byte what the recording
// answered, no tool function runs and nothing is dialed. A few replays run
// at once (each its own run, as concurrent tests of one recording would),
// which perturbs the scheduling further and keeps the test short: a replay
// spends most of its time waiting for chaos delays and the store's syncs.
func TestReplaysAreExact(t *testing.T) {
	r := record(t, true)
	checkShape(t, r)
	r.replayDir = scratchStore(t)

	const (
		replays  = 200
		maxProcs = 8
		inFlight = 4 // replays at once
	)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	start := time.Now()
	var mu sync.Mutex
	var replayed []string
	for procs := 1; procs <= maxProcs; procs++ {
		runtime.GOMAXPROCS(procs)
		t.Run(fmt.Sprintf("GOMAXPROCS=%d", procs), func(t *testing.T) {
			seeds := make(chan uint64)
			var wg sync.WaitGroup
			for range inFlight {
				wg.Go(func() {
					for seed := range seeds {
						t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
							rep, plan := r.replay(t, &Agent{Stream: true}, replayer.WithChaos(seed))
							if !rep.Faithful() {
								t.Fatalf("diverged: %+v", rep.Divergences)
							}
							if rep.Served != rep.Recorded || rep.Chaos != fmt.Sprintf("seed %d", seed) {
								t.Fatalf("served %d of %d boundaries, chaos %q", rep.Served, rep.Recorded, rep.Chaos)
							}
							if *plan != *r.plan {
								t.Fatalf("answered\n%+v\nthe recording answered\n%+v", *plan, *r.plan)
							}
							mu.Lock()
							replayed = append(replayed, rep.ReplayTrace)
							mu.Unlock()
						})
					}
				})
			}
			for i := range replays / maxProcs {
				seeds <- uint64((procs-1)*replays/maxProcs + i + 1)
			}
			close(seeds)
			wg.Wait()
		})
	}
	t.Logf("%d replays in %v", replays, time.Since(start).Round(time.Millisecond))
	if len(replayed) != replays {
		t.Fatalf("%d of %d replays were faithful", len(replayed), replays)
	}

	// The replays are recorded too: their tools completed in other
	// orders than the recording's, yet every one was served its own
	// answer.
	store, err := spanlog.OpenExisting(r.replayDir)
	if err != nil {
		t.Fatal(err)
	}
	recorded := toolOrder(r.rec)
	for i, id := range replayed {
		again, err := replayer.Load(store, id)
		if err != nil {
			t.Fatal(err)
		}
		if order := toolOrder(again); order != recorded {
			t.Logf("replay %d completed the tools in the order %s, the recording in %s", i, order, recorded)
			return
		}
	}
	t.Errorf("every chaotic replay completed the tools in the recorded order %s", recorded)
}

// TestChangedArgumentDivergesInItsBranch replays the recording with the
// weather in other units: only the weather tool's arguments change, in its
// own branch. Strict replay halts there and names the branch and its
// index; observe replay serves every boundary and reports that branch
// alone, so the other branches and the final answer are as recorded.
func TestChangedArgumentDivergesInItsBranch(t *testing.T) {
	for _, stream := range []bool{true, false} {
		t.Run(map[bool]string{true: "stream", false: "json"}[stream], func(t *testing.T) {
			r := record(t, stream)
			checkShape(t, r)
			var weather string
			for _, c := range r.calls {
				if c.Name == "weather_forecast" {
					weather = c.ID
				}
			}

			rep, _ := r.replay(t, &Agent{Stream: stream, Units: "imperial"}, replayer.WithChaos(7))
			if rep.Faithful() || !rep.Halted {
				t.Fatalf("strict replay with other units: %+v", rep)
			}
			d := rep.Divergences[0]
			if d.Branch != weather || d.Index != 0 || d.Reason != analyze.ReasonSignature || d.ObservedName != "weather_forecast" {
				t.Errorf("first divergence at %s (%s %s), want %s signature-mismatch",
					boundary.Position(d.Branch, d.Index), d.Reason, d.ObservedName, boundary.Position(weather, 0))
			}
			if len(d.Diff) != 1 || d.Diff[0].Path != "units" {
				t.Errorf("diff %+v, want units changed", d.Diff)
			}
			if msg := (&replayer.DivergenceError{Divergence: d}).Error(); !strings.Contains(msg, "branch "+boundary.Position(weather, 0)) {
				t.Errorf("message %q does not name the branch", msg)
			}

			rep, plan := r.replay(t, &Agent{Stream: stream, Units: "imperial"}, replayer.WithMode(replayer.Observe), replayer.WithChaos(7))
			if len(rep.Divergences) != 1 || rep.Divergences[0].Branch != weather || rep.Divergences[0].Index != 0 {
				t.Fatalf("observe: divergences %+v, want the weather branch's alone", rep.Divergences)
			}
			if rep.Served != rep.Recorded || rep.Halted {
				t.Errorf("observe served %d of %d (halted: %t)", rep.Served, rep.Recorded, rep.Halted)
			}
			if plan == nil || *plan != *r.plan {
				t.Errorf("observe answered %+v, the recording %+v", plan, r.plan)
			}
			// The replayed run, recorded, marks the weather tool alone.
			again := rrtest.Load(t, r.dir, rep.ReplayTrace)
			for _, b := range again.Records {
				if marked := b.Divergence != ""; marked != (b.Branch == weather && b.Index == 0) {
					t.Errorf("replayed %s %s at %s: divergence %q", b.Kind, b.Name, boundary.Position(b.Branch, b.Index), b.Divergence)
				}
			}
		})
	}
}

// TestCommandRecordsThenReplaysOffline runs the command as `go run` would:
// first recording against the fake server it starts, then replaying (as
// under `agentrr replay`) with no server and a transport that fails on any
// dial. The replay prints what the recording printed.
func TestCommandRecordsThenReplaysOffline(t *testing.T) {
	for _, stream := range []bool{true, false} {
		t.Run(map[bool]string{true: "stream", false: "json"}[stream], func(t *testing.T) {
			id, rec, rp := exampletest.RecordThenReplay(t, func(tracer []otelrr.Option, transport http.RoundTripper, out io.Writer) error {
				return run(context.Background(), &Options{Stream: stream, Out: out, Transport: transport, TracerOptions: tracer})
			})
			if stream {
				// The four calls of one streamed reply, each printed as
				// the accumulator finished it, before the answer.
				calls := regexp.MustCompile(`(?m)^\[tool call (\w+) `).FindAllStringSubmatch(rec, -1)
				if len(calls) != len(tools) {
					t.Errorf("the recording printed %d tool calls, want %d:\n%s", len(calls), len(tools), rec)
				}
			}
			exampletest.CheckPrinted(t, "recording", rec, "\nanswer: Here is what I found: ", "\nsms: ", "\nchecklist: ")
			exampletest.CheckPrinted(t, "replay", rp, "replayed "+id+": faithful (tool runs: 0)")
		})
	}
}
