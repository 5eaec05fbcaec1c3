package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/agentrr/agentrr/bench/internal/payload"
	"github.com/agentrr/agentrr/internal/benchwork"
	"github.com/agentrr/agentrr/internal/replaylink"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
)

// The BR section: branches (otelrr.Branch, otelrr.Go).
//
//	BR-rec   recording throughput, 8 branches each on its own goroutine vs
//	         one branch, through the whole otelrr stack; beside it bare
//	         Pebble, 8 goroutines vs 1 doing synced 1 KB Sets into one
//	         database (BR-peb), and the same with the stack's CPU spent
//	         before each Set (BR-pebw): the six run interleaved in rounds,
//	         so both sides of each ratio saw the same disk;
//	BR-load, BR-sess, BR-tool
//	         replay cost per boundary of a branched recording (8 branches)
//	         vs a single-branch recording of the same size: Load, the
//	         session alone, and the otelrr helpers in-process.

// cpuTime is the CPU time the process has used so far, all threads, user
// and system (getrusage: on Linux their sum is the scheduler's exact
// runtime, not a tick count).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// branchCount is the number of branches (and goroutines) of the branched side.
const branchCount = 8

// parContender is one side of a throughput comparison: conc goroutines,
// each doing its own sequence of operations.
type parContender struct {
	id, what string
	conc     int
	// open prepares it: op(g, i) is goroutine g's i-th operation.
	open func() (op func(g, i int) error, close func() error, err error)
}

// interleavePar runs slices rounds; in each, every contender runs its conc
// goroutines for per[conc] operations each, one contender after the other
// (the order rotating from round to round). It returns operations per
// second for each: all operations over the time its rounds took.
func interleavePar(slices int, per map[int]int, cs []parContender) (map[string]float64, error) {
	ops := make([]func(g, i int) error, len(cs))
	for k, c := range cs {
		op, closeFn, err := c.open()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.id, err)
		}
		defer closeFn()
		ops[k] = op
	}
	spent := make([]time.Duration, len(cs))
	done := make([]int, len(cs))
	for s := range slices {
		for j := range cs {
			k := (j + s) % len(cs)
			c, n := cs[k], per[cs[k].conc]
			start := time.Now()
			werr := inParallel(c.conc, func(g int) error {
				for i := s * n; i < (s+1)*n; i++ {
					if err := ops[k](g, i); err != nil {
						return err
					}
				}
				return nil
			})
			spent[k] += time.Since(start)
			if werr != nil {
				return nil, fmt.Errorf("%s: %w", c.id, werr)
			}
			done[k] += c.conc * n
		}
	}
	out := map[string]float64{}
	for k, c := range cs {
		out[c.id] = float64(done[k]) / spent[k].Seconds()
	}
	return out, nil
}

// stackBranches records 1 KB tool boundaries through otelrr into one run
// in store dir: on the run's root branch with conc == 1, else goroutine g
// on its own branch (otelrr.Branch, named benchwork.BranchName(g)).
func stackBranches(id, what, dir string, conc int) parContender {
	doc := payload.Text(1024, 1)
	return parContender{id, what, conc, func() (func(int, int) error, func() error, error) {
		ctx, end, err := openRun(dir)
		if err != nil {
			return nil, nil, err
		}
		ctxs := []context.Context{ctx}
		if conc > 1 {
			ctxs = ctxs[:0]
			for g := range conc {
				ctxs = append(ctxs, otelrr.Branch(ctx, benchwork.BranchName(g)))
			}
		}
		return func(g, _ int) error {
			_, err := otelrr.Tool(ctxs[g], "search", doc, search)
			return err
		}, end, nil
	}}
}

// spin keeps the CPU busy for d.
func spin(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); {
	}
}

// stackCPU is the CPU the recording stack spends on a 1 KB boundary outside
// the sync on this machine (P0d: the stack on tmpfs), in round numbers.
const stackCPU = 80 * time.Microsecond

// pebbleBranches does synced 1 KB Sets into one fresh Pebble database in
// dir from conc goroutines, each first spinning for work before each Set.
func pebbleBranches(id, what, dir string, conc int, work time.Duration) parContender {
	return parContender{id, what, conc, func() (func(int, int) error, func() error, error) {
		os.RemoveAll(dir)
		db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
		if err != nil {
			return nil, nil, err
		}
		return func(g, i int) error {
				spin(work)
				var key [13]byte
				key[0] = 'b'
				for j := range 4 {
					key[1+j] = byte(g >> (24 - 8*j))
				}
				for j := range 8 {
					key[5+j] = byte(i >> (56 - 8*j))
				}
				return db.Set(key[:], record1K, pebble.Sync)
			}, func() error {
				err := db.Close()
				os.RemoveAll(dir)
				return err
			}, nil
	}}
}

func branchesSection(c *config, t *table) error {
	if err := branchRecordSection(c, t); err != nil {
		return err
	}
	return branchReplaySection(c, t)
}

func branchRecordSection(c *config, t *table) error {
	// Per round: one goroutine makes per[1] boundaries, each of the eight
	// per[8]; eight rounds per repetition.
	slices, per := 8, map[int]int{1: max(10, c.n/4), branchCount: max(5, c.n/8)}
	cs := []parContender{
		stackBranches("BR-rec-1", "otelrr.Tool 1 KB, 1 branch (the root), 1 goroutine: boundaries/s", filepath.Join(c.data, "br-1"), 1),
		stackBranches("BR-rec-8", fmt.Sprintf("otelrr.Tool 1 KB, %d branches (otelrr.Branch), a goroutine each, one run: boundaries/s", branchCount), filepath.Join(c.data, "br-8"), branchCount),
		pebbleBranches("BR-peb-1", "bare Pebble synced Set, 1 KB, 1 goroutine: Sets/s", filepath.Join(c.data, "br-peb-1"), 1, 0),
		pebbleBranches("BR-peb-8", fmt.Sprintf("bare Pebble synced Set, 1 KB, %d goroutines, one database: Sets/s", branchCount), filepath.Join(c.data, "br-peb-8"), branchCount, 0),
		pebbleBranches("BR-pebw-1", fmt.Sprintf("bare Pebble, 1 goroutine spinning %v (the stack's CPU) before each Set: Sets/s", stackCPU), filepath.Join(c.data, "br-pebw-1"), 1, stackCPU),
		pebbleBranches("BR-pebw-8", fmt.Sprintf("bare Pebble, %d goroutines spinning %v before each Set: Sets/s", branchCount, stackCPU), filepath.Join(c.data, "br-pebw-8"), branchCount, stackCPU),
	}
	for rep := range c.reps {
		progress("branch recording repetition %d/%d", rep+1, c.reps)
		ps, err := interleavePar(slices, per, cs)
		if err != nil {
			return err
		}
		for _, ct := range cs {
			t.add(ct.id, ct.what, "/s", ps[ct.id])
		}
	}
	t.ratio("BR-rec-8/1", fmt.Sprintf("stack: %d branches ÷ 1 branch throughput (group commit)", branchCount), "BR-rec-8", "BR-rec-1")
	t.target("BR-rec-8/1", "≥ 3.5×", func(v float64) bool { return v >= 3.5 })
	t.ratio("BR-peb-8/1", fmt.Sprintf("bare Pebble: %d goroutines ÷ 1 goroutine throughput", branchCount), "BR-peb-8", "BR-peb-1")
	t.ratio("BR-pebw-8/1", fmt.Sprintf("bare Pebble with %v of CPU per Set: %d goroutines ÷ 1 goroutine throughput", stackCPU, branchCount), "BR-pebw-8", "BR-pebw-1")
	t.ratio("BR-rec/peb-1", "stack ÷ bare Pebble throughput, 1 goroutine", "BR-rec-1", "BR-peb-1")
	t.ratio("BR-rec/pebw-8", fmt.Sprintf("stack ÷ bare Pebble with %v of CPU per Set, %d goroutines", stackCPU, branchCount), "BR-rec-8", "BR-pebw-8")
	t.ratio("BR-rec/peb-8", fmt.Sprintf("stack ÷ bare Pebble throughput, %d goroutines", branchCount), "BR-rec-8", "BR-peb-8")
	return nil
}

// recordBranched records a run of n identical 1 KB tool boundaries into
// store dir: from one goroutine on the root branch when branches == 1,
// else on that many branches, a goroutine each, n/branches boundaries each.
func recordBranched(dir string, n, branches int) (recorded, error) {
	os.RemoveAll(dir)
	doc := payload.Text(1024, 1)
	ctx := context.Background()
	tp, err := newProvider(ctx, dir)
	if err != nil {
		return recorded{}, err
	}
	defer tp.Shutdown(ctx)
	ctx, run, err := tp.StartRun(ctx, "bench")
	if err != nil {
		return recorded{}, err
	}
	werr := branchedAgent(ctx, n, branches, true, doc)
	if err := run.End(werr); err != nil {
		return recorded{}, err
	}
	return recorded{store: dir, id: run.TraceID(), n: n}, werr
}

// branchedAgent is the bench agent's body: n tool calls with payload doc,
// spread over branches as benchwork.Spread does.
func branchedAgent(ctx context.Context, n, branches int, concurrent bool, doc payload.Doc) error {
	return benchwork.Spread(ctx, n, branches, concurrent, func(ctx context.Context) error {
		_, err := otelrr.Tool(ctx, "search", doc, search)
		return err
	})
}

// sessionQueries are the queries that replay rec in its seq order, each
// boundary on its own branch. As with the otelrr helpers, all queries of a
// branch carry one string for its path (the helpers' branch holds it), not
// the path string each loaded record has.
func sessionQueries(rec *replayer.Recording) []replaylink.Query {
	qs := make([]replaylink.Query, len(rec.Records))
	paths := map[string]string{}
	for i, r := range rec.Records {
		p, ok := paths[r.Branch]
		if !ok {
			p = strings.Clone(r.Branch)
			paths[r.Branch] = p
		}
		qs[i] = replaylink.Query{Branch: p, Kind: r.Kind, Name: r.Name, Signature: r.Signature, Request: r.Request}
	}
	return qs
}

// sessionPass is the session alone over the whole recording: NewSession,
// then Next and Release for every boundary in seq order, then Finish. It
// returns the CPU time the pass took.
func sessionPass(rec *replayer.Recording, qs []replaylink.Query) (time.Duration, error) {
	start := cpuTime()
	s := replaylink.NewSession(rec, []replayer.Option(nil))
	for _, q := range qs {
		if err := s.Next(q).Err; err != nil {
			return 0, err
		}
		s.Release(q.Branch)
	}
	rep := s.Finish(nil)
	d := cpuTime() - start
	if !rep.Faithful() {
		return 0, fmt.Errorf("session over %s diverged: %+v", rec.TraceID, rep.Divergences)
	}
	return d, nil
}

// sessionPasses runs passes session passes over each recording, the
// recordings taking turns, and returns for each the median pass's CPU time
// in ns per boundary.
func sessionPasses(recs []*replayer.Recording, passes int) ([]float64, error) {
	qs := make([][]replaylink.Query, len(recs))
	times := make([][]float64, len(recs))
	for k, rec := range recs {
		qs[k] = sessionQueries(rec)
	}
	for p := range passes {
		for j := range recs {
			k := (j + p) % len(recs)
			d, err := sessionPass(recs[k], qs[k])
			if err != nil {
				return nil, err
			}
			times[k] = append(times[k], float64(d.Nanoseconds())/float64(len(qs[k])))
		}
	}
	out := make([]float64, len(recs))
	for k := range recs {
		out[k] = median(times[k])
	}
	return out, nil
}

// replayAgent replays rec in-process through the otelrr helpers with the
// bench agent (branchedAgent), recording the replayed run into a fresh
// store under root. It returns the wall time and the CPU time (all
// threads) per boundary of the agent's boundary calls, in µs: from after
// StartRun to before Run.End, so that the per-run costs both sides share
// (opening the store, Run.End's flush) stay out of the comparison.
func replayAgent(root string, rec *replayer.Recording, branches int, concurrent bool) (wallUs, cpuUs float64, err error) {
	dir, err := os.MkdirTemp(root, "replay-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	doc := payload.Text(1024, 1)
	n := len(rec.Records)
	var wall, cpu time.Duration
	rep, err := replayer.Replay(context.Background(), rec, func(ctx context.Context) error {
		return benchwork.InRun(ctx, dir, func(ctx context.Context) error {
			start, cpu0 := time.Now(), cpuTime()
			err := branchedAgent(ctx, n, branches, concurrent, doc)
			wall, cpu = time.Since(start), cpuTime()-cpu0
			return err
		})
	})
	if err != nil {
		return 0, 0, err
	}
	if !rep.Faithful() {
		return 0, 0, fmt.Errorf("replay of %s diverged: %+v", rec.TraceID, rep.Divergences)
	}
	return float64(wall.Nanoseconds()) / 1e3 / float64(n), float64(cpu.Nanoseconds()) / 1e3 / float64(n), nil
}

// groups returns how many of rec's boundaries belong to a concurrency group
// without being its first member (a boundary in flight alone is its own
// group: Group == Index).
func groups(rec *replayer.Recording) int {
	n := 0
	for _, r := range rec.Records {
		if r.Group != r.Index {
			n++
		}
	}
	return n
}

func branchReplaySection(c *config, t *table) error {
	n := 10000
	if c.quick {
		n = 2000
	}
	progress("recording a %d-boundary run on one branch and one on %d branches, to replay", n, branchCount)
	single, err := recordBranched(filepath.Join(c.data, "br-trace-1"), n, 1)
	if err != nil {
		return err
	}
	defer os.RemoveAll(single.store)
	branched, err := recordBranched(filepath.Join(c.data, "br-trace-8"), n, branchCount)
	if err != nil {
		return err
	}
	defer os.RemoveAll(branched.store)
	kn := thousands(float64(n))
	type side struct {
		tr   recorded
		tag  string
		name string
	}
	sides := []side{{single, "1", "1 branch"}, {branched, "8", fmt.Sprintf("%d branches", branchCount)}}
	// The in-process replays, in an order that rotates from repetition to
	// repetition.
	type replayCase struct {
		id, what   string
		rec        *replayer.Recording
		branches   int
		concurrent bool
	}
	for rep := range c.reps {
		progress("branch replay repetition %d/%d", rep+1, c.reps)
		recs := make([]*replayer.Recording, len(sides))
		for j := range sides {
			k := (j + rep) % len(sides) // alternate which side goes first
			rec, us, err := load(sides[k].tr)
			if err != nil {
				return err
			}
			if g := groups(rec); g != 0 {
				return fmt.Errorf("the %s recording has %d boundaries in concurrency groups; want none", sides[k].name, g)
			}
			t.add("BR-load-"+sides[k].tag, fmt.Sprintf("replayer.Load of a %s-boundary run on %s, per boundary", kn, sides[k].name), "µs", us)
			recs[k] = rec
		}
		ns, err := sessionPasses(recs, 21)
		if err != nil {
			return err
		}
		for k, sd := range sides {
			t.add("BR-sess-"+sd.tag, fmt.Sprintf("session alone (NewSession, Next + Release per boundary, Finish), %s: CPU per boundary", sd.name), "ns", ns[k])
		}
		cases := []replayCase{
			{"BR-tool-1", fmt.Sprintf("otelrr.Tool replay in-process, %s boundaries on 1 branch, 1 goroutine: wall time per boundary", kn), recs[0], 1, false},
			{"BR-tool-8s", fmt.Sprintf("  same, on %d branches made one after another by 1 goroutine", branchCount), recs[1], branchCount, false},
			{"BR-tool-8c", fmt.Sprintf("  same, on %d branches, a goroutine each (otelrr.Go): wall time ÷ N", branchCount), recs[1], branchCount, true},
		}
		wall, cpu := make([]float64, len(cases)), make([]float64, len(cases))
		for j := range cases {
			k := (j + rep) % len(cases)
			if wall[k], cpu[k], err = replayAgent(c.data, cases[k].rec, cases[k].branches, cases[k].concurrent); err != nil {
				return err
			}
		}
		for k, rc := range cases {
			t.add(rc.id, rc.what, "µs", wall[k])
		}
		for k, rc := range cases {
			what := "  CPU time per boundary (all threads), " + map[string]string{"BR-tool-1": "1 branch", "BR-tool-8s": fmt.Sprintf("%d branches, 1 goroutine", branchCount), "BR-tool-8c": fmt.Sprintf("%d branches, %d goroutines", branchCount, branchCount)}[rc.id]
			t.add(rc.id+"-cpu", what, "µs", cpu[k])
		}
	}
	unchanged := func(v float64) bool { return v >= 0.9 && v <= 1.1 }
	for _, r := range []struct{ id, what, num, den string }{
		{"BR-load-8/1", "Load per boundary, branched ÷ single-branch", "BR-load-8", "BR-load-1"},
		{"BR-sess-8/1", "session CPU per boundary, branched ÷ single-branch", "BR-sess-8", "BR-sess-1"},
		{"BR-tool-8s/1", "in-process replay, wall per boundary, branched (1 goroutine) ÷ single-branch", "BR-tool-8s", "BR-tool-1"},
		{"BR-tool-8c/1", "in-process replay, wall per boundary, branched (8 goroutines) ÷ single-branch", "BR-tool-8c", "BR-tool-1"},
		{"BR-tool-8s/1-cpu", "in-process replay, CPU per boundary, branched (1 goroutine) ÷ single-branch", "BR-tool-8s-cpu", "BR-tool-1-cpu"},
		{"BR-tool-8c/1-cpu", "in-process replay, CPU per boundary, branched (8 goroutines) ÷ single-branch", "BR-tool-8c-cpu", "BR-tool-1-cpu"},
	} {
		t.ratio(r.id, r.what, r.num, r.den)
		t.target(r.id, "0.9–1.1× (unchanged)", unchanged)
	}
	// Wall times swing with the machine's load more than CPU times do, and
	// branches running on both cores may well take less of it: the target
	// for wall time is not to be slower. The CPU rows hold the cost to ±10%.
	for _, id := range []string{"BR-tool-8s/1", "BR-tool-8c/1"} {
		t.target(id, "≤ 1.1× (no slower)", func(v float64) bool { return v <= 1.1 })
	}
	t.note("BR-sess-1", "CPU time, median of 21 passes per repetition")
	t.note("BR-tool-1", "boundary calls only: provider, StartRun and Run.End not timed")
	t.note("BR-tool-8c/1", "wall time on 2 cores: the branches' CPU work overlaps")
	return nil
}
