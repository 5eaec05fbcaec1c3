package otelrr_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/agentrr/agentrr/rrtest"

	"github.com/openai/openai-go/v3"
	ooption "github.com/openai/openai-go/v3/option"
	"go.opentelemetry.io/otel/sdk/trace"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/fakeapi"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// The durability gate. A boundary helper returns only once its boundary is
// on disk. The child process below records boundaries and, after each
// helper returns, appends a marker line to a file and fsyncs it: the marker
// is a side effect the agent performed because the boundary returned. The
// parent SIGKILLs the child at random instants; afterwards
//
//   - the run reads back truncated (or complete, if the child got to end
//     it), never damaged: what is stored is a whole prefix, seqs 0..n-1,
//     and every branch a prefix of itself, indices 0..k-1;
//   - every marker has its boundary in the store;
//   - the recording loads for replay, and replaying it serves every stored
//     boundary and then reports the missing tail (recording-truncated),
//     with no network call and no tool run.
//
// Trials: AGENTRR_DURABILITY_TRIALS (default 50; `make durability` runs
// 500), kill instants drawn from AGENTRR_DURABILITY_SEED (default: the
// clock; the seed is logged, so a failure can be run again). Modes:
//
//	serial      one goroutine: tool calls and clock reads, then Run.End
//	concurrent  four goroutines recording into one run at once, on one
//	            branch (the root)
//	branches    a tree of branches (otelrr.Go) recording into one run at
//	            once: six workers, four nested branches below them; every
//	            branch must be a prefix of itself, and replaying serves
//	            every stored boundary and reports each branch's missing tail
//	stream      streamed chat completions through otelrr's HTTP transport
//	            (openai-go against internal/fakeapi), killed mid-stream
//	window      serial, killed inside span.End after the synced write and
//	            before the helper returns (a span processor registered after
//	            the durable one blocks there)

const (
	envChild   = "AGENTRR_TEST_CHILD"
	envStore   = "AGENTRR_TEST_STORE"
	envMarkers = "AGENTRR_TEST_MARKERS"
	envMode    = "AGENTRR_TEST_MODE"   // serial, concurrent, branches, stream or window
	envLLM     = "AGENTRR_TEST_LLM"    // stream: the fake API's OpenAI base URL
	envWindow  = "AGENTRR_TEST_WINDOW" // window: the boundary to stop in

	envTrials = "AGENTRR_DURABILITY_TRIALS"
	envSeed   = "AGENTRR_DURABILITY_SEED"
)

const (
	childSerialMax     = 400 // boundaries, serial mode
	childPerGoroutine  = 150 // tool calls per goroutine, concurrent mode
	childGoroutines    = 4
	childStreamTurns   = 60 // streamed completions, stream mode
	durabilityToolName = "write_note"
	endMarker          = "end" // the child ended its run
)

// streamWords makes each streamed reply about 15 events long.
var streamWords = strings.Repeat("please repeat these words back to me slowly ", 5)

// noteArgs is the request of the child's tool calls: 1 KB of padding, and
// the call's index (and goroutine, in concurrent mode) so that a stored
// boundary can be matched to its marker.
type noteArgs struct {
	G   int    `json:"g"`
	I   int    `json:"i"`
	Pad string `json:"pad"`
}

type noteResult struct {
	G, I int
	OK   bool
}

var notePad = strings.Repeat("abcdefghijklmnop", 64) // 1 KB

func writeNote(_ context.Context, a noteArgs) (noteResult, error) {
	return noteResult{G: a.G, I: a.I, OK: true}, nil
}

// serialStep makes boundary i of the serial agent: a clock read every third
// boundary, a tool call otherwise.
func serialStep(ctx context.Context, i int, tool func(context.Context, noteArgs) (noteResult, error)) error {
	if i%3 == 2 {
		_, err := otelrr.Now(ctx)
		return err
	}
	res, err := otelrr.Tool(ctx, durabilityToolName, noteArgs{I: i, Pad: notePad}, tool)
	if err != nil {
		return err
	}
	if res.I != i || !res.OK {
		return fmt.Errorf("tool call %d answered %+v", i, res)
	}
	return nil
}

// streamClient is the stream agent's openai-go client; base sends its
// requests (the otelrr transport is put over it). Retries are off, so that
// a replay past the end of the recording stops at once.
func streamClient(baseURL string, base http.RoundTripper) openai.Client {
	return openai.NewClient(
		ooption.WithBaseURL(baseURL),
		ooption.WithAPIKey("sk-durability-test"),
		ooption.WithHTTPClient(otelrr.HTTPClient(&http.Client{Transport: base})),
		ooption.WithMaxRetries(0),
	)
}

// streamTurn makes streamed completion i and reads it to its end.
func streamTurn(ctx context.Context, client openai.Client, i int) error {
	stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(fmt.Sprintf("turn %d: %s", i, streamWords))},
	})
	defer stream.Close()
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		return err
	}
	if len(acc.Choices) == 0 || !strings.Contains(acc.Choices[0].Message.Content, fmt.Sprintf("turn %d:", i)) {
		return fmt.Errorf("turn %d: reply %+v", i, acc.Choices)
	}
	return stream.Close()
}

// The branches agent: a tree of branches (otelrr.Go) recording into one run
// at once. Each branch makes its steps one at a time, starts each child after
// the child's step of it returned, then waits for its children and, when they
// all got through, makes one more boundary, its join. The root reads the
// clock, starts six branches named "worker" ("worker", "worker#1", …, in
// program order), three of which start branches "sub" of their own (one of
// those a "leaf"), and joins them.
type branchPlan struct {
	name     string // the name it is started with (otelrr.Go)
	steps    int
	children []branchChild // by after
}

type branchChild struct {
	after int // started after this step of the parent returned
	plan  *branchPlan
}

const (
	childWorkers     = 6
	childWorkerSteps = 90
)

// branchesProgram returns the branches agent's root.
func branchesProgram() *branchPlan {
	root := &branchPlan{steps: 1}
	for g := range childWorkers {
		w := &branchPlan{name: "worker", steps: childWorkerSteps}
		if g%2 == 0 {
			sub := &branchPlan{name: "sub", steps: 40}
			w.children = append(w.children, branchChild{after: 20, plan: sub})
			if g == 0 {
				sub.children = []branchChild{{after: 10, plan: &branchPlan{name: "leaf", steps: 30}}}
				// A second child of the same name: "worker/sub#1".
				w.children = append(w.children, branchChild{after: 50, plan: &branchPlan{name: "sub", steps: 40}})
			}
		}
		root.children = append(root.children, branchChild{after: 0, plan: w})
	}
	return root
}

// length is the number of boundaries the branch makes: its steps, and its
// join when it has children.
func (p *branchPlan) length() int {
	if len(p.children) > 0 {
		return p.steps + 1
	}
	return p.steps
}

// branchNode is one branch of the program, by path.
type branchNode struct {
	plan   *branchPlan
	path   string
	parent *branchNode // nil for the root
	after  int         // the parent's step it is started after
	kids   []*branchNode
}

// branchLayout returns the branches the program makes, by path, and its
// root. Paths are what otelrr.Branch documents: the ancestors' names and
// the branch's own, a second sibling of one name "#1".
func branchLayout(root *branchPlan) (map[string]*branchNode, *branchNode) {
	nodes := map[string]*branchNode{}
	var walk func(n *branchNode)
	walk = func(n *branchNode) {
		nodes[n.path] = n
		seen := map[string]int{}
		for _, c := range n.plan.children {
			k := &branchNode{plan: c.plan, path: boundary.ChildBranch(n.path, c.plan.name, seen[c.plan.name]), parent: n, after: c.after}
			seen[c.plan.name]++
			n.kids = append(n.kids, k)
			walk(k)
		}
	}
	top := &branchNode{plan: root, path: boundary.RootBranch}
	walk(top)
	return nodes, top
}

// branchArgs is the request of the branches agent's tool calls: the branch
// and the step, so that a stored boundary shows which step of which branch
// it is.
type branchArgs struct {
	B   string `json:"b"`
	I   int    `json:"i"`
	Pad string `json:"pad"`
}

type branchResult struct {
	B string
	I int
}

func branchNote(_ context.Context, a branchArgs) (branchResult, error) {
	return branchResult{B: a.B, I: a.I}, nil
}

// branchStepIsClock says whether step i of a branch (its join included) is
// a clock read; the others are tool calls.
func branchStepIsClock(i int) bool { return i%4 == 3 }

// branchStep makes step i of the branch ctx is on.
func branchStep(ctx context.Context, i int, tool func(context.Context, branchArgs) (branchResult, error)) error {
	if branchStepIsClock(i) {
		_, err := otelrr.Now(ctx)
		return err
	}
	path := otelrr.BranchPath(ctx)
	res, err := otelrr.Tool(ctx, durabilityToolName, branchArgs{B: path, I: i, Pad: notePad}, tool)
	if err != nil {
		return err
	}
	if res.B != path || res.I != i {
		return fmt.Errorf("branch %q step %d answered %+v", path, i, res)
	}
	return nil
}

// runBranch runs plan on the branch ctx is on and returns the errors of
// its subtree. mark is called after each boundary returns. A branch stops at
// its first error, but waits for the children it started.
func runBranch(ctx context.Context, plan *branchPlan, tool func(context.Context, branchArgs) (branchResult, error), mark func(branch string, i int)) error {
	path := otelrr.BranchPath(ctx)
	var wg sync.WaitGroup
	errs := make([]error, len(plan.children)+1)
	next := 0
	for i := 0; i < plan.steps; i++ {
		if err := branchStep(ctx, i, tool); err != nil {
			errs[len(plan.children)] = err
			break
		}
		mark(path, i)
		for ; next < len(plan.children) && plan.children[next].after == i; next++ {
			k, c := next, plan.children[next].plan
			wg.Add(1)
			otelrr.Go(ctx, c.name, func(ctx context.Context) {
				defer wg.Done()
				errs[k] = runBranch(ctx, c, tool, mark)
			})
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil || len(plan.children) == 0 {
		return err
	}
	if err := branchStep(ctx, plan.steps, tool); err != nil {
		return err
	}
	mark(path, plan.steps)
	return nil
}

// windowProcessor runs after the durable processor: when boundary stopAt
// ends — stored and synced, its helper not yet returned — it says so on
// stdout and blocks the helper forever.
type windowProcessor struct {
	stopAt int64
	n      atomic.Int64
}

func (p *windowProcessor) OnStart(context.Context, trace.ReadWriteSpan) {}
func (p *windowProcessor) OnEnd(s trace.ReadOnlySpan) {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == boundary.AttrKind {
			if p.n.Add(1)-1 == p.stopAt {
				fmt.Printf("window: %d\n", p.stopAt)
				select {}
			}
			return
		}
	}
}
func (p *windowProcessor) Shutdown(context.Context) error   { return nil }
func (p *windowProcessor) ForceFlush(context.Context) error { return nil }

// TestDurabilityChild is not a test: it is the process TestDurabilityKill
// kills. It returns at once unless AGENTRR_TEST_CHILD=1.
func TestDurabilityChild(t *testing.T) {
	if os.Getenv(envChild) != "1" {
		return
	}
	die := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "durability child: "+format+"\n", args...)
		os.Exit(3)
	}
	mode := os.Getenv(envMode)
	ctx := context.Background()
	opts := []otelrr.Option{otelrr.WithStore(os.Getenv(envStore)), otelrr.WithServiceName("durability")}
	if mode == "window" {
		stopAt, err := strconv.ParseInt(os.Getenv(envWindow), 10, 64)
		if err != nil {
			die("%s: %v", envWindow, err)
		}
		opts = append(opts, otelrr.WithSpanProcessor(&windowProcessor{stopAt: stopAt}))
	}
	tp, err := otelrr.NewTracerProvider(ctx, opts...)
	if err != nil {
		die("%v", err)
	}
	ctx, run, err := tp.StartRun(ctx, "durability")
	if err != nil {
		die("%v", err)
	}
	markers, err := os.OpenFile(os.Getenv(envMarkers), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		die("%v", err)
	}
	fmt.Printf("run_id: %s\n", run.TraceID())
	// Wait for the go-ahead; the parent may kill us here instead.
	stdin := bufio.NewReader(os.Stdin)
	if line, err := stdin.ReadString('\n'); err != nil || line != "go\n" {
		os.Exit(0)
	}
	var mu sync.Mutex
	mark := func(line string) {
		mu.Lock()
		defer mu.Unlock()
		if _, err := markers.WriteString(line); err != nil {
			die("marker: %v", err)
		}
		if err := markers.Sync(); err != nil {
			die("marker sync: %v", err)
		}
	}
	switch mode {
	case "serial", "window":
		for i := range childSerialMax {
			if err := serialStep(ctx, i, writeNote); err != nil {
				die("boundary %d: %v", i, err)
			}
			mark(fmt.Sprintf("%d\n", i))
		}
	case "concurrent":
		var wg sync.WaitGroup
		for g := range childGoroutines {
			wg.Go(func() {
				for i := range childPerGoroutine {
					if i%4 == 3 {
						if _, err := otelrr.Now(ctx); err != nil {
							die("g%d clock %d: %v", g, i, err)
						}
					}
					res, err := otelrr.Tool(ctx, durabilityToolName, noteArgs{G: g, I: i, Pad: notePad}, writeNote)
					if err != nil || res.G != g || res.I != i {
						die("g%d tool %d: %+v %v", g, i, res, err)
					}
					mark(fmt.Sprintf("%d %d\n", g, i))
				}
			})
		}
		wg.Wait()
	case "branches":
		err := runBranch(ctx, branchesProgram(), branchNote, func(branch string, i int) {
			mark(fmt.Sprintf("%q %d\n", branch, i))
		})
		if err != nil {
			die("%v", err)
		}
	case "stream":
		client := streamClient(os.Getenv(envLLM), nil)
		for i := range childStreamTurns {
			if err := streamTurn(ctx, client, i); err != nil {
				die("stream %d: %v", i, err)
			}
			mark(fmt.Sprintf("%d\n", i))
		}
	default:
		die("unknown mode %q", mode)
	}
	if err := run.End(nil); err != nil {
		die("end: %v", err)
	}
	mark(endMarker + "\n")
	// Block until the parent kills us (or goes away).
	io.Copy(io.Discard, stdin)
	os.Exit(0)
}

// killTrial is one kill.
type killTrial struct {
	mode string
	// start: kill right after the run started, before any boundary.
	start bool
	// delay: kill this long after the go-ahead (not for window).
	delay time.Duration
	// window: the boundary to kill inside (window mode).
	window int
}

func (tr killTrial) String() string {
	switch {
	case tr.start:
		return tr.mode + "/before-any-boundary"
	case tr.mode == "window":
		return fmt.Sprintf("window/in-boundary-%d", tr.window)
	}
	return fmt.Sprintf("%s/after-%s", tr.mode, tr.delay.Round(10*time.Microsecond))
}

type trialResult struct {
	markers, records int
	status           spanlog.Status
	midStream        bool // stream mode: a stream was open when the child died
	// branches mode: the branches with boundaries stored, and those whose
	// tail is missing (reported recording-truncated on replay).
	branches, tails int
}

// liveness bounds how long the parent waits for the child to make progress.
// It is not a timing assertion: a healthy child gets there in milliseconds.
const liveness = 90 * time.Second

// durabilityEnv is what every trial shares: the fake LLM API for stream
// mode.
type durabilityEnv struct {
	llm   *fakeapi.Server
	child string // the test binary the child runs (see childBinary)
}

func runKillTrial(t *testing.T, env *durabilityEnv, tr killTrial) trialResult {
	t.Helper()
	dir := t.TempDir()
	storeDir := filepath.Join(dir, "store")
	markerPath := filepath.Join(dir, "markers")

	cmd := exec.Command(env.child, "-test.run=^TestDurabilityChild$", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), envChild+"=1", envStore+"="+storeDir, envMarkers+"="+markerPath, envMode+"="+tr.mode,
		envLLM+"="+env.llm.OpenAIBaseURL(), envWindow+"="+strconv.Itoa(tr.window))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	requestsBefore := len(env.llm.Requests())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	ids, windows := make(chan string, 1), make(chan string, 1)
	go func() {
		// Read stdout to its end so the child never blocks writing it.
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "run_id: "); ok {
				ids <- id
			}
			if w, ok := strings.CutPrefix(sc.Text(), "window: "); ok {
				windows <- w
			}
		}
	}()
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		// os.Process does not signal a process it has already reaped.
		cmd.Process.Kill()
		<-exited
	})
	wait := func(what string, ch <-chan string) string {
		select {
		case v := <-ch:
			return v
		case <-exited:
			t.Fatalf("child exited before %s: %v\n%s", what, waitErr, stderr.String())
		case <-time.After(liveness):
			cmd.Process.Kill()
			<-exited
			t.Fatalf("child did not get to %s\n%s", what, stderr.String())
		}
		return ""
	}

	id := wait("starting its run", ids)
	if !tr.start {
		if _, err := io.WriteString(stdin, "go\n"); err != nil {
			t.Fatal(err)
		}
		if tr.mode == "window" {
			if got := wait("the window", windows); got != strconv.Itoa(tr.window) {
				t.Fatalf("child stopped in boundary %s, want %d", got, tr.window)
			}
		} else {
			select {
			case <-time.After(tr.delay):
			case <-exited:
				t.Fatalf("child exited before it was killed: %v\n%s", waitErr, stderr.String())
			}
		}
	}
	// A real SIGKILL (os.Process.Signal is kill(2), through a pidfd so it
	// cannot hit a reused pid).
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed by SIGKILL: %v\n%s", cmd.ProcessState, stderr.String())
	}

	marks := readMarkers(t, markerPath)
	ended := len(marks) > 0 && marks[len(marks)-1] == endMarker
	if ended {
		marks = marks[:len(marks)-1]
	}
	store, err := spanlog.OpenExisting(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	run, err := store.ReadRun(id)
	if err != nil {
		t.Fatalf("read killed run: %v", err)
	}
	info := run.Info
	switch {
	case info.Status == spanlog.StatusDamaged:
		t.Fatalf("killed run reads back DAMAGED: %s", info.Reason)
	case ended && info.Status != spanlog.StatusComplete:
		t.Fatalf("the child ended its run, yet it reads back %s (%s)", info.Status, info.Reason)
	case info.Status != spanlog.StatusTruncated && info.Status != spanlog.StatusComplete:
		t.Fatalf("killed run is %s (%s), want truncated or complete", info.Status, info.Reason)
	}
	if info.PID != pid || info.Boundaries != int64(len(run.Records)) {
		t.Errorf("killed run info: pid %d (child %d), %d boundaries for %d records", info.PID, pid, info.Boundaries, len(run.Records))
	}
	for i, r := range run.Records {
		if r.Seq != int64(i) {
			t.Fatalf("record %d has seq %d: not a prefix 0..n-1", i, r.Seq)
		}
		// The other agents make every boundary on the run's root branch.
		if tr.mode != "branches" && (r.Branch != boundary.RootBranch || r.Index != r.Seq) {
			t.Fatalf("seq %d is %s, want index %d of the root branch", r.Seq, boundary.Position(r.Branch, r.Index), r.Seq)
		}
	}
	if runs, err := store.Runs(); err != nil || len(runs) != 1 || runs[0].Status != info.Status {
		t.Errorf("Runs() = %+v, %v; want the one %s run", runs, err, info.Status)
	}

	res := trialResult{markers: len(marks), records: len(run.Records), status: info.Status}
	var stored map[string]int // branches mode: boundaries stored per branch
	switch tr.mode {
	case "serial":
		checkSerial(t, run.Records, marks, 1)
	case "window":
		// Killed inside boundary tr.window: stored, its marker never written.
		checkSerial(t, run.Records, marks, 1)
		if len(marks) != tr.window || len(run.Records) != tr.window+1 {
			t.Errorf("killed inside boundary %d: %d markers, %d boundaries stored; want %d and %d", tr.window, len(marks), len(run.Records), tr.window, tr.window+1)
		}
	case "concurrent":
		checkConcurrent(t, run.Records, marks)
	case "branches":
		stored = checkBranches(t, run.Records, marks)
		res.branches = len(stored)
	case "stream":
		checkStream(t, run.Records, marks)
		res.midStream = len(env.llm.Requests())-requestsBefore > len(run.Records)
	}

	rec, err := replayer.Load(store, id)
	if err != nil {
		t.Fatalf("Load of the killed run: %v", err)
	}
	if rec.Truncated != (info.Status == spanlog.StatusTruncated) || len(rec.Records) != len(run.Records) {
		t.Fatalf("Load: truncated %v, %d records; want %v, %d", rec.Truncated, len(rec.Records), info.Status == spanlog.StatusTruncated, len(run.Records))
	}
	switch tr.mode {
	case "serial", "window":
		replaySerial(t, storeDir, rec)
	case "branches":
		res.tails = replayBranches(t, storeDir, rec, stored)
	case "stream":
		replayStream(t, storeDir, rec, env)
	}
	return res
}

// readMarkers returns the complete marker lines.
func readMarkers(t *testing.T, path string) []string {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	var out []string
	for _, l := range lines {
		if strings.HasSuffix(l, "\n") {
			out = append(out, strings.TrimSuffix(l, "\n"))
		}
	}
	return out
}

func toolArgs(t *testing.T, r boundary.Record) noteArgs {
	t.Helper()
	var a noteArgs
	if err := json.Unmarshal(r.Request, &a); err != nil {
		t.Fatalf("seq %d: request %.60s: %v", r.Seq, r.Request, err)
	}
	return a
}

// checkSerial checks a serial run: marker i is boundary i, and at most
// ahead boundaries are stored without their marker.
func checkSerial(t *testing.T, recs []boundary.Record, marks []string, ahead int) {
	t.Helper()
	if len(recs) < len(marks) {
		t.Fatalf("%d boundaries stored, %d acknowledged by markers: an acknowledged boundary was lost", len(recs), len(marks))
	}
	// Boundary i+1 starts only after marker i is written.
	if len(recs) > len(marks)+ahead {
		t.Errorf("%d boundaries stored but only %d markers: the child ran ahead of its markers", len(recs), len(marks))
	}
	for n, m := range marks {
		i, err := strconv.Atoi(m)
		if err != nil || i != n {
			t.Fatalf("marker line %d is %q", n, m)
		}
	}
	for i, r := range recs {
		if i%3 == 2 {
			if r.Kind != boundary.KindClock || r.Name != "now" {
				t.Errorf("seq %d is %s %s, want clock now", i, r.Kind, r.Name)
			}
			continue
		}
		if r.Kind != boundary.KindTool || r.Name != durabilityToolName {
			t.Errorf("seq %d is %s %s, want tool %s", i, r.Kind, r.Name, durabilityToolName)
			continue
		}
		if a := toolArgs(t, r); a.I != i || a.Pad != notePad {
			t.Errorf("seq %d holds the tool call for index %d", i, a.I)
		}
	}
}

func checkConcurrent(t *testing.T, recs []boundary.Record, marks []string) {
	t.Helper()
	stored := map[[2]int]bool{}
	tools := 0
	for _, r := range recs {
		if r.Kind != boundary.KindTool {
			continue
		}
		tools++
		a := toolArgs(t, r)
		if stored[[2]int{a.G, a.I}] {
			t.Errorf("tool call g%d i%d stored twice", a.G, a.I)
		}
		stored[[2]int{a.G, a.I}] = true
	}
	if tools < len(marks) {
		t.Errorf("%d tool calls stored, %d markers", tools, len(marks))
	}
	// At most one tool call per goroutine can be stored without its marker.
	if tools > len(marks)+childGoroutines {
		t.Errorf("%d tool calls stored but only %d markers", tools, len(marks))
	}
	for _, m := range marks {
		var g, i int
		if _, err := fmt.Sscanf(m, "%d %d", &g, &i); err != nil {
			t.Fatalf("marker %q: %v", m, err)
		}
		if !stored[[2]int{g, i}] {
			t.Errorf("marker %q has no stored boundary: an acknowledged tool call was lost", m)
		}
	}
}

// checkBranches checks a branches run and returns how many boundaries each
// branch has stored, by path: every branch is a prefix of itself (indices
// 0..k-1 in seq order) holding the first k boundaries its program makes;
// what a branch did only after another branch's boundary returned is stored
// only with that boundary; and every marker has its boundary stored.
func checkBranches(t *testing.T, recs []boundary.Record, marks []string) map[string]int {
	t.Helper()
	nodes, _ := branchLayout(branchesProgram())
	stored := map[string]int{}
	for _, r := range recs {
		n := nodes[r.Branch]
		if n == nil {
			t.Fatalf("seq %d is on branch %q, which the agent does not make", r.Seq, r.Branch)
		}
		i := stored[r.Branch]
		if r.Index != int64(i) {
			t.Fatalf("seq %d is %s: branch %s is not a prefix of itself (its next stored index should be %d)", r.Seq, boundary.Position(r.Branch, r.Index), boundary.BranchLabel(r.Branch), i)
		}
		stored[r.Branch]++
		if i >= n.plan.length() {
			t.Fatalf("seq %d: branch %s makes %d boundaries, %d are stored", r.Seq, boundary.BranchLabel(r.Branch), n.plan.length(), i+1)
		}
		if r.Group != r.Index {
			t.Errorf("seq %d (%s) is in the concurrency group from index %d, yet its branch makes one boundary at a time", r.Seq, boundary.Position(r.Branch, r.Index), r.Group)
		}
		if branchStepIsClock(i) {
			if r.Kind != boundary.KindClock || r.Name != "now" {
				t.Errorf("%s is %s %s, want clock now", boundary.Position(r.Branch, r.Index), r.Kind, r.Name)
			}
			continue
		}
		var a branchArgs
		if r.Kind != boundary.KindTool || r.Name != durabilityToolName || json.Unmarshal(r.Request, &a) != nil {
			t.Errorf("%s is %s %s %.60s, want tool %s", boundary.Position(r.Branch, r.Index), r.Kind, r.Name, r.Request, durabilityToolName)
			continue
		}
		if a.B != r.Branch || a.I != i || a.Pad != notePad {
			t.Errorf("%s holds the tool call of branch %q step %d", boundary.Position(r.Branch, r.Index), a.B, a.I)
		}
	}
	for path, k := range stored {
		n := nodes[path]
		// A branch starts after its parent's step n.after returned, its
		// join after every child got through: those are stored.
		if p := n.parent; p != nil && stored[p.path] <= n.after {
			t.Errorf("branch %s has %d boundaries stored, yet its parent %s, which started it after its step %d, has %d", boundary.BranchLabel(path), k, boundary.BranchLabel(p.path), n.after, stored[p.path])
		}
		if len(n.kids) > 0 && k == n.plan.length() {
			for _, c := range n.kids {
				if stored[c.path] != c.plan.length() {
					t.Errorf("branch %s's join is stored, yet its child %s has %d of its %d boundaries", boundary.BranchLabel(path), boundary.BranchLabel(c.path), stored[c.path], c.plan.length())
				}
			}
		}
	}
	marked := map[string]int{}
	for _, m := range marks {
		var path string
		var i int
		if _, err := fmt.Sscanf(m, "%q %d", &path, &i); err != nil {
			t.Fatalf("marker %q: %v", m, err)
		}
		if i != marked[path] {
			t.Fatalf("marker %q: branch %s's markers are out of order (want index %d)", m, boundary.BranchLabel(path), marked[path])
		}
		marked[path]++
		if i >= stored[path] {
			t.Errorf("marker %q has no stored boundary: branch %s has %d stored, an acknowledged boundary was lost", m, boundary.BranchLabel(path), stored[path])
		}
	}
	for path, k := range stored {
		// A branch's next boundary starts only after its marker is written.
		if k > marked[path]+1 {
			t.Errorf("branch %s: %d boundaries stored but only %d markers", boundary.BranchLabel(path), k, marked[path])
		}
	}
	return stored
}

// branchTails returns where replaying a branches run that stored the given
// boundaries per branch must report a missing tail: the position of each
// branch the replayed agent runs whose stored prefix it goes past. A branch
// runs its stored prefix, and stops at the boundary after it; its children
// started by then run; its join is made once every child got through.
func branchTails(stored map[string]int) []string {
	_, root := branchLayout(branchesProgram())
	var tails []string
	var visit func(n *branchNode) bool
	visit = func(n *branchNode) bool {
		k := stored[n.path]
		ok := true
		for _, c := range n.kids {
			if c.after < min(k, n.plan.steps) {
				ok = visit(c) && ok
			}
		}
		if k < n.plan.steps || (ok && k < n.plan.length()) {
			tails = append(tails, boundary.Position(n.path, int64(k)))
			return false
		}
		return ok
	}
	visit(root)
	slices.Sort(tails)
	return tails
}

// replayBranches replays a branches run in-process with the same agent,
// twice. In observe mode, every stored boundary is served and each branch
// that goes past its stored prefix is reported there as recording-truncated
// (branchTails), and nothing is missing; in strict mode (the default) the
// replay halts at the first such tail. A complete run replays faithfully
// both ways. No tool runs. It returns the number of tails.
func replayBranches(t *testing.T, storeDir string, rec *replayer.Recording, stored map[string]int) int {
	t.Helper()
	tails := branchTails(stored)
	if !rec.Truncated && len(tails) > 0 {
		t.Fatalf("a complete run with tails missing: %v", tails)
	}
	replay := func(mode replayer.Mode) *analyze.Report {
		var live atomic.Int64
		tool := func(ctx context.Context, a branchArgs) (branchResult, error) {
			live.Add(1)
			return branchNote(ctx, a)
		}
		rep, err := replayer.Replay(context.Background(), rec, func(ctx context.Context) error {
			tp := newTP(t, storeDir)
			ctx, run, err := tp.StartRun(ctx, "durability")
			if err != nil {
				return err
			}
			agentErr := runBranch(ctx, branchesProgram(), tool, func(string, int) {})
			if err := run.End(agentErr); err != nil {
				return err
			}
			return agentErr
		}, replayer.WithMode(mode))
		if err != nil {
			t.Fatal(err)
		}
		if n := live.Load(); n != 0 {
			t.Errorf("%s replay ran %d tool calls live", mode, n)
		}
		return rep
	}
	n := len(rec.Records)
	var at []string
	describe := func(rep *analyze.Report) {
		at = at[:0]
		for _, d := range rep.Divergences {
			at = append(at, boundary.Position(d.Branch, d.Index))
			if d.Reason != analyze.ReasonTruncated {
				t.Errorf("divergence at %s is %s (%s), want %s", boundary.Position(d.Branch, d.Index), d.Reason, d.Note, analyze.ReasonTruncated)
			}
		}
		slices.Sort(at)
	}

	rep := replay(replayer.Observe)
	describe(rep)
	if !slices.Equal(at, tails) || rep.Served != n || rep.Requested != n+len(tails) || rep.RecordingTruncated != rec.Truncated {
		t.Errorf("observe replay: served %d of %d, %d requested, truncated %v, divergences at %v; want every stored boundary served and the tails at %v",
			rep.Served, n, rep.Requested, rep.RecordingTruncated, at, tails)
	}

	rep = replay(replayer.Strict)
	describe(rep)
	switch {
	case len(tails) == 0:
		if !rep.Faithful() || rep.Served != n {
			t.Errorf("strict replay with no tail missing: served %d of %d, divergences at %v", rep.Served, n, at)
		}
	case len(at) != 1 || !slices.Contains(tails, at[0]) || !rep.Halted || rep.Served > n:
		t.Errorf("strict replay: served %d of %d, halted %v, divergences at %v; want a halt at one of %v", rep.Served, n, rep.Halted, at, tails)
	case !strings.Contains(rep.AgentError, "truncated recording"):
		t.Errorf("strict replay: agent error %q", rep.AgentError)
	}
	return len(tails)
}

// checkStream checks a stream run: boundary i is streamed completion i,
// whole (its response holds every chunk the client read), for every marker.
func checkStream(t *testing.T, recs []boundary.Record, marks []string) {
	t.Helper()
	if len(recs) < len(marks) {
		t.Fatalf("%d streams stored, %d acknowledged by markers: an acknowledged stream was lost", len(recs), len(marks))
	}
	if len(recs) > len(marks)+1 {
		t.Errorf("%d streams stored but only %d markers", len(recs), len(marks))
	}
	for i, r := range recs {
		if r.Kind != boundary.KindLLM {
			t.Fatalf("seq %d is %s %s, want an llm boundary", i, r.Kind, r.Name)
		}
		var req struct {
			Body struct {
				Messages []struct{ Content string } `json:"messages"`
			} `json:"body"`
		}
		var resp struct {
			Stream bool   `json:"stream"`
			Body   string `json:"body"`
		}
		if err := json.Unmarshal(r.Request, &req); err != nil || len(req.Body.Messages) != 1 || !strings.HasPrefix(req.Body.Messages[0].Content, fmt.Sprintf("turn %d:", i)) {
			t.Fatalf("seq %d: request %.120s (%v), want turn %d", i, r.Request, err, i)
		}
		if err := json.Unmarshal(r.Response, &resp); err != nil || !resp.Stream || !strings.HasSuffix(strings.TrimSpace(resp.Body), "data: [DONE]") {
			t.Fatalf("seq %d: stored stream is not whole: %.200s (%v)", i, r.Response, err)
		}
	}
}

// replaySerial replays the killed run in-process with the same agent. A
// truncated recording is served to its end, then the agent, which keeps
// going, is stopped with a recording-truncated divergence; a complete one
// replays faithfully. No tool runs.
func replaySerial(t *testing.T, storeDir string, rec *replayer.Recording) {
	t.Helper()
	var live atomic.Int64
	tool := func(ctx context.Context, a noteArgs) (noteResult, error) {
		live.Add(1)
		return writeNote(ctx, a)
	}
	rep, _ := rrtest.ReplayIn(t, storeDir, rec, func(ctx context.Context) (struct{}, error) {
		var err error
		for i := 0; i < childSerialMax && err == nil; i++ {
			err = serialStep(ctx, i, tool)
		}
		return struct{}{}, err
	})
	checkTruncatedReplay(t, rec, rep)
	if live.Load() != 0 {
		t.Errorf("replay ran %d tool calls live", live.Load())
	}
}

// replayStream replays a stream run in-process, its client pointed at a
// transport that fails (and counts) every request that would leave the
// process.
func replayStream(t *testing.T, storeDir string, rec *replayer.Recording, env *durabilityEnv) {
	t.Helper()
	before := len(env.llm.Requests())
	offline := &offlineTransport{}
	rep, _ := rrtest.ReplayIn(t, storeDir, rec, func(ctx context.Context) (struct{}, error) {
		client := streamClient(env.llm.OpenAIBaseURL(), offline)
		var err error
		for i := 0; i < childStreamTurns && err == nil; i++ {
			err = streamTurn(ctx, client, i)
		}
		return struct{}{}, err
	})
	checkTruncatedReplay(t, rec, rep)
	if n := offline.calls.Load(); n != 0 {
		t.Errorf("replay tried to send %d requests", n)
	}
	if n := len(env.llm.Requests()) - before; n != 0 {
		t.Errorf("the LLM server got %d requests during replay", n)
	}
}

// offlineTransport fails every request: what a replay must never use.
type offlineTransport struct{ calls atomic.Int64 }

func (o *offlineTransport) RoundTrip(*http.Request) (*http.Response, error) {
	o.calls.Add(1)
	return nil, errors.New("offlineTransport: replay must not send requests")
}

// checkTruncatedReplay checks the report of replaying rec with an agent
// that makes every boundary of a whole run.
func checkTruncatedReplay(t *testing.T, rec *replayer.Recording, rep *analyze.Report) {
	t.Helper()
	n := len(rec.Records)
	if !rec.Truncated {
		if !rep.Faithful() || rep.Served != n {
			t.Errorf("replay of a complete run: %d divergences %+v, served %d of %d", len(rep.Divergences), rep.Divergences, rep.Served, n)
		}
		return
	}
	if len(rep.Divergences) != 1 {
		t.Fatalf("replay of a run truncated at %d: %d divergences %+v, want 1", n, len(rep.Divergences), rep.Divergences)
	}
	d := rep.Divergences[0]
	if d.Reason != analyze.ReasonTruncated || d.Seq != int64(n) {
		t.Errorf("divergence %s at seq %d, want %s at seq %d", d.Reason, d.Seq, analyze.ReasonTruncated, n)
	}
	if !rep.RecordingTruncated || rep.Served != n || !rep.Halted {
		t.Errorf("report: truncated %v, served %d (want %d), halted %v", rep.RecordingTruncated, rep.Served, n, rep.Halted)
	}
	if !strings.Contains(rep.AgentError, "truncated recording") {
		t.Errorf("agent error %q", rep.AgentError)
	}
}

// durabilityTrials is the number of kill trials: AGENTRR_DURABILITY_TRIALS,
// else 50.
func durabilityTrials(t *testing.T) int {
	v := os.Getenv(envTrials)
	if v == "" {
		return 50
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number of trials", envTrials, v)
	}
	return n
}

// maxDelay bounds the random kill instant of each mode: long enough that
// some trials kill a child that has ended its run, most kill it mid-way.
var maxDelay = map[string]time.Duration{
	"serial":     1500 * time.Millisecond,
	"concurrent": 1200 * time.Millisecond,
	"branches":   1500 * time.Millisecond,
	"stream":     1500 * time.Millisecond,
}

// planTrials draws n trials from rng: the fixed corners first (a kill
// before any boundary, inside boundary 0), then modes in turn with random
// kill instants. Delays are drawn on a log scale, so that the first
// milliseconds of a run (and its first boundaries) are as well covered as
// the rest.
func planTrials(n int, rng *rand.Rand) []killTrial {
	trials := []killTrial{
		{mode: "serial", start: true},
		{mode: "window", window: 0},
		{mode: "stream", delay: 30 * time.Millisecond},
		{mode: "concurrent", delay: 5 * time.Millisecond},
		{mode: "branches", delay: 5 * time.Millisecond},
	}
	modes := []string{"serial", "concurrent", "branches", "stream", "window", "serial", "branches", "stream"}
	for i := 0; len(trials) < n; i++ {
		m := modes[i%len(modes)]
		tr := killTrial{mode: m}
		if m == "window" {
			tr.window = rng.IntN(60)
		} else {
			lo, hi := 50*time.Microsecond, maxDelay[m]
			ratio := float64(hi) / float64(lo)
			tr.delay = time.Duration(float64(lo) * math.Pow(ratio, rng.Float64()))
		}
		trials = append(trials, tr)
	}
	return trials[:n]
}

func TestDurabilityKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns and kills child processes")
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(envSeed); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", envSeed, v, err)
		}
		seed = s
	}
	n := durabilityTrials(t)
	trials := planTrials(n, rand.New(rand.NewPCG(seed, seed>>1)))
	t.Logf("%d kill trials, kill instants from %s=%d", n, envSeed, seed)

	llm := fakeapi.New()
	llm.EventDelay = time.Millisecond
	defer llm.Close()
	env := &durabilityEnv{llm: llm, child: childBinary(t)}

	type tally struct {
		trials, truncated, complete, failed, midStream int
		minRecs, maxRecs                               int
		maxBranches, minTails, maxTails                int
	}
	tallies := map[string]*tally{}
	for _, tr := range trials {
		tl := tallies[tr.mode]
		if tl == nil {
			tl = &tally{minRecs: -1, minTails: -1}
			tallies[tr.mode] = tl
		}
		t.Run(tr.String(), func(t *testing.T) {
			tl.trials++
			// Counted even when a check stops the trial (t.Fatal).
			defer func() {
				if t.Failed() {
					tl.failed++
				}
			}()
			res := runKillTrial(t, env, tr)
			if t.Failed() {
				return
			}
			switch res.status {
			case spanlog.StatusTruncated:
				tl.truncated++
			case spanlog.StatusComplete:
				tl.complete++
			}
			if res.midStream {
				tl.midStream++
			}
			if tl.minRecs < 0 || res.records < tl.minRecs {
				tl.minRecs = res.records
			}
			tl.maxRecs = max(tl.maxRecs, res.records)
			tl.maxBranches = max(tl.maxBranches, res.branches)
			if tl.minTails < 0 || res.tails < tl.minTails {
				tl.minTails = res.tails
			}
			tl.maxTails = max(tl.maxTails, res.tails)
			then := map[spanlog.Status]string{spanlog.StatusTruncated: "reported the missing tail", spanlog.StatusComplete: "ended faithfully"}[res.status]
			stored := fmt.Sprintf("%d boundaries stored", res.records)
			if tr.mode == "branches" {
				stored = fmt.Sprintf("%d boundaries stored on %d branches", res.records, res.branches)
				if res.tails > 0 || res.status == spanlog.StatusTruncated {
					then = fmt.Sprintf("reported the missing tails of %d branches", res.tails)
				}
			}
			t.Logf("SIGKILL %s: %d markers, %s: verify %s, every marker's boundary stored, replay served %d then %s",
				tr, res.markers, stored, res.status, res.records, then)
		})
	}
	modes := slices.Sorted(maps.Keys(tallies))
	var total, failed int
	for _, m := range modes {
		tl := tallies[m]
		total += tl.trials
		failed += tl.failed
		line := fmt.Sprintf("durability %-10s %3d trials: %3d truncated, %3d complete, 0 damaged, %d failed; %d-%d boundaries stored",
			m, tl.trials, tl.truncated, tl.complete, tl.failed, max(tl.minRecs, 0), tl.maxRecs)
		switch m {
		case "stream":
			line += fmt.Sprintf("; %d killed mid-stream", tl.midStream)
		case "branches":
			line += fmt.Sprintf("; up to %d branches stored, %d-%d tails missing", tl.maxBranches, max(tl.minTails, 0), tl.maxTails)
		}
		t.Log(line)
	}
	t.Logf("durability: %d SIGKILL trials, %d failed (seed %d)", total, failed, seed)
}

// childBinary returns the test binary the killed children run: this one,
// unless it was built with the race detector, which slows a child several
// times over and checks nothing a kill test needs (the parent still runs
// under it). Then the package's tests are built once more without it.
func childBinary(t *testing.T) string {
	t.Helper()
	if !raceEnabled {
		return os.Args[0]
	}
	out := filepath.Join(t.TempDir(), "otelrr-child.test")
	start := time.Now()
	cmd := exec.Command("go", "test", "-c", "-o", out, ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Logf("building the child without -race failed, the children run under it: %v\n%s", err, b)
		return os.Args[0]
	}
	t.Logf("built the child test binary without -race in %v", time.Since(start).Round(time.Millisecond))
	return out
}
