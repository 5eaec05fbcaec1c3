package otelrr_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// The durability property under test: a boundary helper returns only once
// its boundary is on disk. The child process below records boundaries and,
// after each helper returns, appends a marker line to a file and fsyncs it.
// The parent SIGKILLs the child at various points; afterwards every marker
// must have its boundary in the store, the run must read back as truncated
// (a whole prefix, never damaged) and must replay up to its end.

const (
	envChild   = "AGENTRR_TEST_CHILD"
	envStore   = "AGENTRR_TEST_STORE"
	envMarkers = "AGENTRR_TEST_MARKERS"
	envMode    = "AGENTRR_TEST_MODE" // serial or concurrent
)

const (
	childSerialMax     = 400 // boundaries, serial mode
	childPerGoroutine  = 150 // tool calls per goroutine, concurrent mode
	childGoroutines    = 4
	durabilityToolName = "write_note"
)

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
	ctx := context.Background()
	tp, err := otelrr.NewTracerProvider(ctx, otelrr.WithStore(os.Getenv(envStore)), otelrr.WithServiceName("durability"))
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
	switch os.Getenv(envMode) {
	case "serial":
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
	default:
		die("unknown mode %q", os.Getenv(envMode))
	}
	// Never end the run: block until the parent kills us (or goes away).
	io.Copy(io.Discard, stdin)
	os.Exit(0)
}

// killTrial is one kill point.
type killTrial struct {
	mode  string // serial or concurrent
	after int    // kill once this many markers exist; 0: before the first boundary
}

type trialResult struct {
	markers, records int
}

// liveness bounds how long the parent waits for the child to make progress.
// It is not a timing assertion: a healthy child gets there in milliseconds.
const liveness = 90 * time.Second

func runKillTrial(t *testing.T, tr killTrial) trialResult {
	t.Helper()
	dir := t.TempDir()
	storeDir := filepath.Join(dir, "store")
	markerPath := filepath.Join(dir, "markers")

	cmd := exec.Command(os.Args[0], "-test.run=^TestDurabilityChild$", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), envChild+"=1", envStore+"="+storeDir, envMarkers+"="+markerPath, envMode+"="+tr.mode)
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
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	ids := make(chan string, 1)
	go func() {
		// Read stdout to its end so the child never blocks writing it.
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "run_id: "); ok {
				select {
				case ids <- id:
				default:
				}
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

	var id string
	select {
	case id = <-ids:
	case <-exited:
		t.Fatalf("child exited before starting its run: %v\n%s", waitErr, stderr.String())
	case <-time.After(liveness):
		cmd.Process.Kill()
		<-exited
		t.Fatalf("child did not start its run\n%s", stderr.String())
	}

	if tr.after > 0 {
		if _, err := io.WriteString(stdin, "go\n"); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(liveness)
		for countLines(t, markerPath) < tr.after {
			select {
			case <-exited:
				t.Fatalf("child exited before %d markers: %v\n%s", tr.after, waitErr, stderr.String())
			default:
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				<-exited
				t.Fatalf("child wrote fewer than %d markers\n%s", tr.after, stderr.String())
			}
			time.Sleep(200 * time.Microsecond)
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
	store, err := spanlog.OpenExisting(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	run, err := store.ReadRun(id)
	if err != nil {
		t.Fatalf("read killed run: %v", err)
	}
	info := run.Info
	if info.Status != spanlog.StatusTruncated {
		t.Fatalf("killed run is %s (%s), want truncated", info.Status, info.Reason)
	}
	if info.Ended != nil || info.PID != pid || info.Boundaries != int64(len(run.Records)) {
		t.Errorf("killed run info: ended %v, pid %d (child %d), %d boundaries for %d records", info.Ended, info.PID, pid, info.Boundaries, len(run.Records))
	}
	if len(run.Records) < len(marks) {
		t.Fatalf("%d boundaries stored, %d acknowledged by markers: an acknowledged boundary was lost", len(run.Records), len(marks))
	}
	for i, r := range run.Records {
		if r.Seq != int64(i) {
			t.Fatalf("record %d has seq %d: not a prefix 0..n-1", i, r.Seq)
		}
	}
	if runs, err := store.Runs(); err != nil || len(runs) != 1 || runs[0].Status != spanlog.StatusTruncated {
		t.Errorf("Runs() = %+v, %v; want the one truncated run", runs, err)
	}

	switch tr.mode {
	case "serial":
		checkSerial(t, run.Records, marks)
	case "concurrent":
		checkConcurrent(t, run.Records, marks)
	}

	rec, err := replayer.Load(store, id)
	if err != nil {
		t.Fatalf("Load of the killed run: %v", err)
	}
	if !rec.Truncated || len(rec.Records) != len(run.Records) {
		t.Fatalf("Load: truncated %v, %d records; want true, %d", rec.Truncated, len(rec.Records), len(run.Records))
	}
	if tr.mode == "serial" {
		replayPastTheEnd(t, storeDir, rec)
	}
	return trialResult{markers: len(marks), records: len(run.Records)}
}

func countLines(t *testing.T, path string) int {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte{'\n'})
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

func checkSerial(t *testing.T, recs []boundary.Record, marks []string) {
	t.Helper()
	// Boundary i+1 starts only after marker i is written, so at most one
	// boundary can be stored without its marker.
	if len(recs) > len(marks)+1 {
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

// replayPastTheEnd replays the killed run in-process with the same agent,
// which keeps going past the end of the recording: it must be served every
// recorded boundary and then stopped with a recording-truncated divergence.
func replayPastTheEnd(t *testing.T, storeDir string, rec *replayer.Recording) {
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
		for i := 0; i < childSerialMax+10 && agentErr == nil; i++ {
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
	n := len(rec.Records)
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
	if live.Load() != 0 {
		t.Errorf("replay ran %d tool calls live", live.Load())
	}
}

func TestDurabilityKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns and kills child processes")
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	trials := []killTrial{
		{"serial", 0}, // killed right after run_id, before any boundary
		{"serial", 1},
		{"serial", 3},
		{"serial", 7},
		{"serial", 15},
		{"serial", 40},
		{"serial", 2 + rng.IntN(60)},
		{"serial", 2 + rng.IntN(60)},
		{"concurrent", 1},
		{"concurrent", 10},
		{"concurrent", 40},
		{"concurrent", 2 + rng.IntN(60)},
	}
	t.Logf("random kill points from seed %d", seed)
	for _, tr := range trials {
		t.Run(fmt.Sprintf("%s/after-%d", tr.mode, tr.after), func(t *testing.T) {
			res := runKillTrial(t, tr)
			verdict := "truncated, seqs 0..n-1, every marker's boundary stored, Load ok"
			if tr.mode == "serial" {
				verdict += ", replay diverges recording-truncated at seq n"
			}
			if t.Failed() {
				verdict = "FAILED"
			}
			t.Logf("%s, SIGKILL once %d markers: %d markers, %d boundaries stored: %s", tr.mode, tr.after, res.markers, res.records, verdict)
		})
	}
}
