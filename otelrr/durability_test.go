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
//     it), never damaged: what is stored is a whole prefix, seqs 0..n-1;
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
//	concurrent  four goroutines recording into one run at once
//	stream      streamed chat completions through otelrr's HTTP transport
//	            (openai-go against internal/fakeapi), killed mid-stream
//	window      serial, killed inside span.End after the synced write and
//	            before the helper returns (a span processor registered after
//	            the durable one blocks there)

const (
	envChild   = "AGENTRR_TEST_CHILD"
	envStore   = "AGENTRR_TEST_STORE"
	envMarkers = "AGENTRR_TEST_MARKERS"
	envMode    = "AGENTRR_TEST_MODE"   // serial, concurrent, stream or window
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
	}
	if runs, err := store.Runs(); err != nil || len(runs) != 1 || runs[0].Status != info.Status {
		t.Errorf("Runs() = %+v, %v; want the one %s run", runs, err, info.Status)
	}

	res := trialResult{markers: len(marks), records: len(run.Records), status: info.Status}
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
	rep, err := replayer.Replay(context.Background(), rec, func(ctx context.Context) error {
		tp := newTP(t, storeDir)
		ctx, run, err := tp.StartRun(ctx, "durability")
		if err != nil {
			return err
		}
		var agentErr error
		for i := 0; i < childSerialMax && agentErr == nil; i++ {
			agentErr = serialStep(ctx, i, tool)
		}
		if err := run.End(agentErr); err != nil {
			return err
		}
		return agentErr
	})
	if err != nil {
		t.Fatal(err)
	}
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
	rep, err := replayer.Replay(context.Background(), rec, func(ctx context.Context) error {
		tp := newTP(t, storeDir)
		ctx, run, err := tp.StartRun(ctx, "durability")
		if err != nil {
			return err
		}
		client := streamClient(env.llm.OpenAIBaseURL(), offline)
		var agentErr error
		for i := 0; i < childStreamTurns && agentErr == nil; i++ {
			agentErr = streamTurn(ctx, client, i)
		}
		if err := run.End(agentErr); err != nil {
			return err
		}
		return agentErr
	})
	if err != nil {
		t.Fatal(err)
	}
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
	}
	modes := []string{"serial", "concurrent", "stream", "window", "serial", "stream"}
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
	}
	tallies := map[string]*tally{}
	for _, tr := range trials {
		tl := tallies[tr.mode]
		if tl == nil {
			tl = &tally{minRecs: -1}
			tallies[tr.mode] = tl
		}
		t.Run(tr.String(), func(t *testing.T) {
			res := runKillTrial(t, env, tr)
			tl.trials++
			if t.Failed() {
				tl.failed++
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
			t.Logf("SIGKILL %s: %d markers, %d boundaries stored: verify %s, every marker's boundary stored, replay served %d then %s",
				tr, res.markers, res.records, res.status, res.records,
				map[spanlog.Status]string{spanlog.StatusTruncated: "reported the missing tail", spanlog.StatusComplete: "ended faithfully"}[res.status])
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
		if m == "stream" {
			line += fmt.Sprintf("; %d killed mid-stream", tl.midStream)
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
