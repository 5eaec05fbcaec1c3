package otelrr_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentrr/agentrr/rrtest"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
)

// fanout is an agent that fans out one search per item, each in its own
// goroutine, then summarises the results with one LLM call.
type fanout struct {
	items []string
	// changed, when set, is the item whose search argument the agent now
	// spells differently (an edited agent).
	changed string
	// share makes the goroutines share the run's context (no branches).
	share bool
	// inside starts each branch inside its goroutine instead of before it.
	inside bool
	// clock makes each goroutine read the clock after its search.
	clock bool

	searches atomic.Int64
}

func (f *fanout) search(_ context.Context, args map[string]string) (map[string]string, error) {
	f.searches.Add(1)
	// Tools of different, random durations: the completion order varies.
	time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
	if args["q"] == "fail" {
		return nil, errors.New("search failed")
	}
	return map[string]string{"hit": "result for " + args["q"]}, nil
}

func (f *fanout) work(ctx context.Context) (string, error) {
	results := make([]string, len(f.items))
	errs := make([]error, len(f.items))
	var wg sync.WaitGroup
	for i, item := range f.items {
		bctx := ctx
		if !f.share && !f.inside {
			bctx = otelrr.Branch(ctx, item)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if f.inside {
				bctx = otelrr.Branch(ctx, item)
			}
			q := item
			if item == f.changed {
				q += "!"
			}
			hit, err := otelrr.Tool(bctx, "search", map[string]string{"q": q}, f.search)
			if err != nil {
				errs[i] = err
				return
			}
			results[i] = hit["hit"]
			if f.clock {
				now, err := otelrr.Now(bctx)
				if err != nil {
					errs[i] = err
					return
				}
				results[i] += " at " + now.Format(time.RFC3339Nano)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	msgs := []msg{{"system", "summarise"}}
	for _, r := range results {
		msgs = append(msgs, msg{"tool", r})
	}
	resp, err := otelrr.LLM(ctx, "fake", "fake-gpt", chatReq{Model: "fake-gpt", Messages: msgs}, func(_ context.Context, r chatReq) (chatResp, error) {
		return chatResp{Text: fmt.Sprintf("summary of %d results", len(r.Messages)-1)}, nil
	})
	if err != nil {
		return "", err
	}
	return strings.Join(results, "; ") + " => " + resp.Text, nil
}

func recordFanout(t *testing.T, dir string, f *fanout) (id, out string) {
	t.Helper()
	return recordWork(t, dir, f.work)
}

// recordWork records work as one run into the store dir.
func recordWork(t *testing.T, dir string, work func(context.Context) (string, error)) (id, out string) {
	t.Helper()
	id, out, err := recordRun(t, dir, "fanout", work)
	if err != nil {
		t.Fatal(err)
	}
	return id, out
}

func replayFanout(t *testing.T, dir string, rec *replayer.Recording, f *fanout, opts ...replayer.Option) (*analyze.Report, string) {
	t.Helper()
	var out string
	rep, err := replayer.Replay(context.Background(), rec, func(ctx context.Context) error {
		tp := newTP(t, dir)
		var err error
		out, err = (&agentRun{work: f.work}).run(ctx, tp)
		return err
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return rep, out
}

// agentRun runs work in a run of tp.
type agentRun struct {
	work func(context.Context) (string, error)
}

func (a *agentRun) run(ctx context.Context, tp *otelrr.TracerProvider) (string, error) {
	return runIn(ctx, tp, "fanout", a.work)
}

func loadRecording(t *testing.T, dir, id string) *replayer.Recording {
	t.Helper()
	rec := rrtest.Load(t, dir, id)
	return rec
}

var fanoutItems = []string{"alpha", "beta", "gamma", "delta"}

// Parallel branches replay exactly whatever order the scheduler runs them
// in: GOMAXPROCS varied, chaos on, the answer byte-identical, no tool run.
func TestParallelBranchesReplayExactly(t *testing.T) {
	for _, inside := range []bool{false, true} {
		t.Run(fmt.Sprintf("inside=%t", inside), func(t *testing.T) {
			dir := t.TempDir()
			f := &fanout{items: fanoutItems, clock: true, inside: inside}
			id, want := recordFanout(t, dir, f)
			rec := loadRecording(t, dir, id)
			if len(rec.Records) != 2*len(fanoutItems)+1 {
				t.Fatalf("recorded %d boundaries", len(rec.Records))
			}
			for _, r := range rec.Records {
				if r.Kind == boundary.KindLLM {
					if r.Branch != "" || r.Index != 0 {
						t.Errorf("the summary is at %s, want the root's index 0", boundary.Position(r.Branch, r.Index))
					}
					continue
				}
				if !slices.Contains(fanoutItems, r.Branch) || r.Group != r.Index {
					t.Errorf("seq %d %s %s on branch %q group %d", r.Seq, r.Kind, r.Name, r.Branch, r.Group)
				}
			}
			searches := f.searches.Load()
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
			for i := range 40 {
				runtime.GOMAXPROCS(1 + i%8)
				var opts []replayer.Option
				if i%2 == 1 {
					opts = append(opts, replayer.WithChaos(uint64(i)))
				}
				rep, got := replayFanout(t, dir, rec, f, opts...)
				if !rep.Faithful() {
					t.Fatalf("replay %d diverged: %+v", i, rep.Divergences)
				}
				if got != want {
					t.Fatalf("replay %d answered %q, recorded %q", i, got, want)
				}
			}
			if n := f.searches.Load(); n != searches {
				t.Errorf("replays ran the search tool %d times", n-searches)
			}
		})
	}
}

// A changed argument in one branch: the divergence names that branch and
// its index; in observe mode the other branches are served and fine.
func TestBranchDivergenceNamesTheBranch(t *testing.T) {
	dir := t.TempDir()
	id, _ := recordFanout(t, dir, &fanout{items: fanoutItems})
	rec := loadRecording(t, dir, id)
	edited := &fanout{items: fanoutItems, changed: "gamma"}

	rep, _ := replayFanout(t, dir, rec, edited)
	if rep.Faithful() || !rep.Halted {
		t.Fatalf("strict replay of the edited agent: %+v", rep)
	}
	d := rep.Divergences[0]
	if d.Branch != "gamma" || d.Index != 0 || d.Reason != analyze.ReasonSignature {
		t.Errorf("first divergence at %s (%s), want gamma[0] signature-mismatch", boundary.Position(d.Branch, d.Index), d.Reason)
	}
	if len(d.Diff) != 1 || d.Diff[0].Path != "q" {
		t.Errorf("diff %+v, want q changed", d.Diff)
	}
	if msg := (&replayer.DivergenceError{Divergence: d}).Error(); !strings.Contains(msg, "branch gamma[0]") {
		t.Errorf("message %q does not name the branch", msg)
	}

	// Observe serves gamma the recorded answer, so the summary matches:
	// one divergence, every boundary served.
	rep, _ = replayFanout(t, dir, rec, edited, replayer.WithMode(replayer.Observe))
	if len(rep.Divergences) != 1 || rep.Divergences[0].Branch != "gamma" {
		t.Fatalf("observe: divergences %+v, want gamma's search alone", rep.Divergences)
	}
	if rep.Served != rep.Recorded {
		t.Errorf("observe served %d of %d", rep.Served, rep.Recorded)
	}
}

// captureHandler collects what otel.Handle reports while it is installed.
type captureHandler struct {
	mu   sync.Mutex
	errs []string
}

func (h *captureHandler) Handle(err error) {
	h.mu.Lock()
	h.errs = append(h.errs, err.Error())
	h.mu.Unlock()
}

func (h *captureHandler) text() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.errs, "\n")
}

// Goroutines sharing one branch: the overlapping boundaries are recorded
// as a concurrency group, the recorder says how to fix it, and distinct
// calls replay exactly, matched among themselves by exact request.
func TestUnbranchedFanOutOfDistinctCalls(t *testing.T) {
	h := captureOTelErrors(t)

	dir := t.TempDir()
	f := &fanout{items: fanoutItems, share: true}
	var id, want string
	var rec *replayer.Recording
	// The searches sleep up to 3 ms each, and a boundary is in flight until
	// its synced write is done: they overlap unless the scheduler runs the
	// goroutines one after the other, which a few attempts rule out.
	for range 5 {
		id, want = recordFanout(t, dir, f)
		rec = loadRecording(t, dir, id)
		if slices.ContainsFunc(rec.Records, func(r boundary.Record) bool { return r.Group != r.Index }) {
			break
		}
	}
	groups := map[int64]int{}
	for _, r := range rec.Records {
		if r.Branch != "" {
			t.Errorf("seq %d on branch %q: nothing branched", r.Seq, r.Branch)
		}
		if r.Group != r.Index {
			groups[r.Group]++
		}
	}
	if len(groups) == 0 {
		t.Fatal("no concurrency group recorded for four overlapping searches")
	}
	if msg := h.text(); !strings.Contains(msg, "in flight at once on branch (root)") || !strings.Contains(msg, "otelrr.Go") {
		t.Errorf("the recorder's warning %q does not say what happened and how to fix it", msg)
	}
	for i := range 30 {
		var opts []replayer.Option
		if i%2 == 1 {
			opts = append(opts, replayer.WithChaos(uint64(i)))
		}
		rep, got := replayFanout(t, dir, rec, f, opts...)
		if !rep.Faithful() || got != want {
			t.Fatalf("replay %d: %q, %+v", i, got, rep.Divergences)
		}
	}
}

// Goroutines sharing one branch that each read the clock: two clock reads
// in one concurrency group have the same request and different answers, so
// which goroutine got which is unknowable: replay reports it, never guesses.
func TestUnbranchedClockReadsAreAmbiguous(t *testing.T) {
	dir := t.TempDir()
	f := &fanout{items: fanoutItems, share: true, clock: true}
	var rec *replayer.Recording
	for range 5 {
		id, _ := recordFanout(t, dir, f)
		rec = loadRecording(t, dir, id)
		clocks := map[int64]int{}
		for _, r := range rec.Records {
			if r.Kind == boundary.KindClock {
				clocks[r.Group]++
			}
		}
		if slices.ContainsFunc(slices.Collect(mapValues(clocks)), func(n int) bool { return n > 1 }) {
			break
		}
		rec = nil
	}
	if rec == nil {
		t.Fatal("no two clock reads recorded in flight together in 5 runs")
	}
	// On replay the goroutines run at once: the first boundary of a group
	// that cannot be told apart is reported, as ambiguous (the clock reads)
	// or as an overlap the recording does not have (a search recorded
	// alone, made now while another is in flight), whichever the
	// scheduler reaches first. Never a faithful replay, never a guess.
	for mode, m := range map[string]replayer.Mode{"strict": replayer.Strict, "observe": replayer.Observe} {
		rep, _ := replayFanout(t, dir, rec, f, replayer.WithMode(m))
		if rep.Faithful() {
			t.Fatalf("%s: the replay matched clock reads of goroutines sharing a branch", mode)
		}
		d := rep.Divergences[0]
		if d.Reason != analyze.ReasonAmbiguous && d.Reason != analyze.ReasonConcurrent {
			t.Fatalf("%s: first divergence %s, want ambiguous or unbranched concurrency: %+v", mode, d.Reason, rep.Divergences)
		}
		if !strings.Contains(d.Note, "otelrr.Go") {
			t.Errorf("%s: divergence %+v does not say how to fix it", mode, d)
		}
		if d.Reason == analyze.ReasonAmbiguous && d.ObservedKind != boundary.KindClock {
			t.Errorf("%s: ambiguous %s %s, want the clock", mode, d.ObservedKind, d.ObservedName)
		}
	}
}

func mapValues[K comparable, V any](m map[K]V) func(func(V) bool) {
	return func(yield func(V) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// firstAnswer is a timing-dependent agent: it asks two tools at once and
// goes on with whichever answers first.
type firstAnswer struct{ asks atomic.Int64 }

func (a *firstAnswer) work(ctx context.Context) (string, error) {
	type answer struct {
		text string
		err  error
	}
	first := make(chan answer, 2)
	for _, name := range []string{"fast", "slow"} {
		otelrr.Go(ctx, name, func(ctx context.Context) {
			r, err := otelrr.Tool(ctx, "ask", map[string]string{"who": name}, func(_ context.Context, args map[string]string) (string, error) {
				a.asks.Add(1)
				if args["who"] == "slow" {
					time.Sleep(30 * time.Millisecond)
				}
				return args["who"] + " says hi", nil
			})
			first <- answer{r, err}
		})
	}
	ans := <-first
	if ans.err != nil {
		return "", ans.err
	}
	out, err := otelrr.Tool(ctx, "decide", map[string]string{"on": ans.text}, func(_ context.Context, args map[string]string) (string, error) {
		return "decided on " + args["on"], nil
	})
	<-first
	return out, err
}

// Chaos replay catches an agent that depends on goroutine timing within a
// handful of seeds, and the seed that caught it catches it again.
func TestChaosCatchesTimingDependentAgent(t *testing.T) {
	dir := t.TempDir()
	a := &firstAnswer{}
	id, _ := recordWork(t, dir, a.work)
	rec := loadRecording(t, dir, id)
	replayWith := func(opts ...replayer.Option) *analyze.Report {
		rep, err := replayer.Replay(context.Background(), rec, func(ctx context.Context) error {
			_, err := (&agentRun{work: a.work}).run(ctx, newTP(t, dir))
			return err
		}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	var caught uint64
	for seed := uint64(1); seed <= 8; seed++ {
		rep := replayWith(replayer.WithChaos(seed))
		if rep.Chaos != fmt.Sprintf("seed %d", seed) {
			t.Errorf("report says chaos %q", rep.Chaos)
		}
		if !rep.Faithful() {
			d := rep.Divergences[0]
			if d.ExpectedName != "decide" || d.Branch != "" {
				t.Fatalf("seed %d diverged at %+v, want the decision", seed, d)
			}
			caught = seed
			break
		}
	}
	if caught == 0 {
		t.Fatal("8 chaos seeds did not catch an agent that goes on with whichever tool answers first")
	}
	for range 3 {
		if rep := replayWith(replayer.WithChaos(caught)); rep.Faithful() {
			t.Fatalf("seed %d caught the divergence once, then replayed faithfully", caught)
		}
	}
	if n := a.asks.Load(); n != 2 {
		t.Errorf("the tools ran %d times, want 2 (the recording)", n)
	}
}
