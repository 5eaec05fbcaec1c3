package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/internal/fakeapi/fakellm"
	"github.com/agentrr/agentrr/internal/handshake"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// Scenario is one way a replay can go wrong, and the verdict agentrr must
// reach.
type Scenario struct {
	Name string
	// What is done, and what agentrr must say.
	Does, Want string
	run        func(r *Runner, ctx context.Context) (got string, ok bool, err error)
}

// Scenarios are the negative scenarios, in the order they run.
var Scenarios = []Scenario{
	{
		Name: "edited-prompt",
		Does: "replay a run with the agent's system prompt edited",
		Want: fmt.Sprintf("diverged at seq %d (llm fake-gpt-1): signature mismatch on messages[0].content", seqLLM),
		run:  (*Runner).editedPrompt,
	},
	{
		Name: "renamed-tool",
		Does: "replay a run with the order tool renamed lookup_order → find_order",
		Want: fmt.Sprintf("diverged at seq %d: the recording has tool lookup_order, the agent made tool find_order", seqOrderTool),
		run:  (*Runner).renamedTool,
	},
	{
		Name: "truncated",
		Does: "kill (SIGKILL) the recorder after 3 boundaries, then replay what it left",
		Want: "the run reads back truncated with 3 boundaries; the replay serves them and diverges at seq 3 past the end of the truncated recording",
		run:  (*Runner).truncated,
	},
	{
		Name: "damaged-wal",
		Does: "kill the recorder after its last boundary, before it ends the run, so the run's data is only in its writer slot's write-ahead log; flip bytes on disk in the middle of a payload in that log (*.log)",
		Want: "the run reads back damaged (not truncated: valid boundaries follow the damage) and replay refuses it with a clear error",
		run:  (*Runner).damagedWAL,
	},
	{
		Name: "damaged-sst",
		Does: "flip bytes on disk in the middle of the sealed file of a complete run (runs/<id>.run, an sstable)",
		Want: "the run reads back damaged and replay refuses it with a clear error",
		run:  (*Runner).damagedSST,
	},
}

// Result is what one scenario got.
type Result struct {
	Name string
	OK   bool
	Got  string
}

// Runner runs scenarios against one store.
type Runner struct {
	// Store is the store directory (absolute).
	Store string
	// Self runs this program: Self + "agent" ... runs the agent, Self +
	// "read-run" ... reads a run in a separate process.
	Self []string
	// Out receives the report.
	Out io.Writer

	base    string                 // the complete run edited-prompt and renamed-tool replay
	expect  map[string]spanlog.Run // runs made here that must read back unchanged
	damaged []string               // runs damaged on purpose
}

// Run runs the scenarios named (all when names is empty), then checks
// that every other run made here still reads back whole. It returns the
// results, the last being that check.
func (r *Runner) Run(ctx context.Context, names []string) ([]Result, error) {
	r.expect = map[string]spanlog.Run{}
	var todo []Scenario
	for _, n := range names {
		i := slices.IndexFunc(Scenarios, func(s Scenario) bool { return s.Name == n })
		if i < 0 {
			return nil, fmt.Errorf("unknown scenario %q (want one of: %s)", n, strings.Join(scenarioNames(), ", "))
		}
		todo = append(todo, Scenarios[i])
	}
	if len(todo) == 0 {
		todo = Scenarios
	}
	fmt.Fprintf(r.Out, "store: %s\n", r.Store)
	var results []Result
	for _, s := range todo {
		fmt.Fprintf(r.Out, "\n== %s: %s\nwant: %s\n", s.Name, s.Does, s.Want)
		got, ok, err := s.run(r, ctx)
		if err != nil {
			got, ok = "could not run the scenario: "+err.Error(), false
		}
		fmt.Fprintf(r.Out, "got:  %s\n%s\n", got, verdict(ok))
		results = append(results, Result{Name: s.Name, OK: ok, Got: got})
	}
	fmt.Fprintf(r.Out, "\n== other runs: every run made here, but the damaged ones, reads back as it was stored\n")
	got, ok := r.checkOthers()
	fmt.Fprintf(r.Out, "got:  %s\n%s\n", got, verdict(ok))
	results = append(results, Result{Name: "other-runs", OK: ok, Got: got})
	return results, nil
}

func scenarioNames() []string {
	var out []string
	for _, s := range Scenarios {
		out = append(out, s.Name)
	}
	return out
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "FAIL"
}

// replayBase replays the base run with agent a. The base run is recorded
// once, for the first scenario that replays it.
func (r *Runner) replayBase(ctx context.Context, a *Agent) (*analyze.Report, error) {
	if r.base == "" {
		id, err := r.record(ctx)
		if err != nil {
			return nil, err
		}
		r.base = id
	}
	return r.replay(ctx, r.base, a)
}

func (r *Runner) editedPrompt(ctx context.Context) (string, bool, error) {
	rep, err := r.replayBase(ctx, &Agent{LLM: &fakellm.Client{}, Prompt: "You are a terse support agent for Acme."})
	if err != nil {
		return "", false, err
	}
	d, ok := firstDivergence(rep)
	ok = ok && rep.Halted && d.Seq == seqLLM && d.Reason == analyze.ReasonSignature &&
		len(d.Diff) == 1 && d.Diff[0].Path == "messages[0].content"
	return describe(rep), ok, nil
}

func (r *Runner) renamedTool(ctx context.Context) (string, bool, error) {
	rep, err := r.replayBase(ctx, &Agent{LLM: &fakellm.Client{}, OrderTool: "find_order"})
	if err != nil {
		return "", false, err
	}
	d, ok := firstDivergence(rep)
	ok = ok && rep.Halted && d.Seq == seqOrderTool && d.Reason == analyze.ReasonKind &&
		d.ExpectedName == "lookup_order" && d.ObservedName == "find_order"
	return describe(rep), ok, nil
}

const killAfter = 3

func (r *Runner) truncated(ctx context.Context) (string, bool, error) {
	id, err := r.recordKilled(ctx, killAfter)
	if err != nil {
		return "", false, err
	}
	run, err := r.remember(id)
	if err != nil {
		return "", false, err
	}
	got := fmt.Sprintf("run %s: %s with %d boundaries (%s)", id, run.Info.Status, run.Info.Boundaries, run.Info.Reason)
	if run.Info.Status != spanlog.StatusTruncated || run.Info.Boundaries != killAfter {
		return got, false, nil
	}
	rep, err := r.replay(ctx, id, &Agent{LLM: &fakellm.Client{}})
	if err != nil {
		return got, false, err
	}
	d, ok := firstDivergence(rep)
	ok = ok && rep.RecordingTruncated && rep.Served == killAfter && d.Seq == killAfter && d.Reason == analyze.ReasonTruncated
	return got + "; replay " + describe(rep), ok, nil
}

func (r *Runner) damagedWAL(ctx context.Context) (string, bool, error) {
	id, err := r.recordKilled(ctx, boundaries)
	if err != nil {
		return "", false, err
	}
	return r.damage(ctx, id, ".log")
}

func (r *Runner) damagedSST(ctx context.Context) (string, bool, error) {
	id, err := r.record(ctx)
	if err != nil {
		return "", false, err
	}
	return r.damage(ctx, id, ".run")
}

// damage flips bytes in the middle of the order tool's answer, in a file
// of the run's database ending in ext, then reads the run back in a
// separate process (reading damage must not take this one down).
func (r *Runner) damage(ctx context.Context, id, ext string) (string, bool, error) {
	r.damaged = append(r.damaged, id)
	file, off, err := flipPayload(runData(r.Store, id, ext), ext, []byte(orderStatus))
	if err != nil {
		return "", false, err
	}
	where := fmt.Sprintf("flipped 8 bytes at offset %d of %s", off, filepath.Base(file))
	res, err := r.readInChild(ctx, id)
	if err != nil {
		return where + "; " + err.Error(), false, nil
	}
	got := fmt.Sprintf("%s; run reads back %s", where, res.Status)
	if res.ReadError != "" {
		got = fmt.Sprintf("%s; the run cannot be read: %s", where, res.ReadError)
	}
	if res.Reason != "" {
		got += " (" + res.Reason + ")"
	}
	switch {
	case res.LoadError != "":
		got += "; replay refused: " + res.LoadError
	default:
		got += fmt.Sprintf("; replay would load it (%d boundaries)", res.Boundaries)
	}
	return got, (res.Status == spanlog.StatusDamaged || res.ReadDamaged) && res.LoadDamaged, nil
}

// runData is where run id's files ending in ext are: a sealed run is
// runs/<id>.run; a run whose recorder was killed is in the database of the
// writer slot its marker (runs/<id>.live) names.
func runData(store, id, ext string) string {
	if ext == ".run" {
		return filepath.Join(store, "runs", id)
	}
	var m struct {
		Slot int `json:"slot"`
	}
	if b, err := os.ReadFile(filepath.Join(store, "runs", id+".live")); err == nil && json.Unmarshal(b, &m) == nil {
		return filepath.Join(store, "writers", strconv.Itoa(m.Slot), "db")
	}
	return filepath.Join(store, "runs", id, "db")
}

// flipPayload damages the live data of a run's database db in a file
// ending in ext, with a synced write: it inverts 8 bytes in the middle of
// payload where a live file holds it as is. For ".log" only the newest log
// is live (older ones were flushed and are not read); for ".sst", whose
// blocks may be compressed, it falls back on the middle of the largest
// table, which is payload too. It returns the file and the offset flipped.
func flipPayload(db, ext string, payload []byte) (string, int64, error) {
	pattern := filepath.Join(db, "*"+ext)
	if ext == ".run" {
		pattern = db + ext // the sealed file itself
	}
	files, err := filepath.Glob(pattern)
	if err != nil {
		return "", 0, err
	}
	if len(files) == 0 {
		return "", 0, fmt.Errorf("no %s file under %s (the run's data is elsewhere)", ext, db)
	}
	slices.Sort(files) // Pebble numbers files in creation order
	if ext == ".log" {
		files = files[len(files)-1:]
	}
	largest, largestSize := "", 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", 0, err
		}
		if i := bytes.Index(b, payload); i >= 0 {
			off := int64(i + len(payload)/2)
			return f, off, flipAt(f, b, off)
		}
		if len(b) > largestSize {
			largest, largestSize = f, len(b)
		}
	}
	if ext == ".log" {
		return "", 0, fmt.Errorf("the live log %s does not hold the payload %q", files[0], payload)
	}
	b, err := os.ReadFile(largest)
	if err != nil {
		return "", 0, err
	}
	off := int64(len(b) / 2)
	return largest, off, flipAt(largest, b, off)
}

// flipAt inverts the 8 bytes of file f (whose content is b) at off.
func flipAt(f string, b []byte, off int64) error {
	w, err := os.OpenFile(f, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	flipped := make([]byte, 8)
	for j := range flipped {
		flipped[j] = b[off+int64(j)] ^ 0xff
	}
	_, err = w.WriteAt(flipped, off)
	if err == nil {
		err = w.Sync()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// checkOthers reads back every run made here, but the damaged ones, and
// compares it with what was read when it was made.
func (r *Runner) checkOthers() (string, bool) {
	store, err := spanlog.OpenExisting(r.Store)
	if err != nil {
		return err.Error(), false
	}
	var problems []string
	count := map[spanlog.Status]int{}
	ids := make([]string, 0, len(r.expect))
	for id := range r.expect {
		if !slices.Contains(r.damaged, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		want := r.expect[id]
		got, err := store.ReadRun(id)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s: %v", id, err))
		case got.Info.Status != want.Info.Status || len(got.Records) != len(want.Records):
			problems = append(problems, fmt.Sprintf("%s: %s with %d boundaries, was %s with %d", id, got.Info.Status, len(got.Records), want.Info.Status, len(want.Records)))
		default:
			for i := range got.Records {
				if got.Records[i].PayloadHash != want.Records[i].PayloadHash {
					problems = append(problems, fmt.Sprintf("%s: seq %d changed", id, i))
					break
				}
			}
			count[got.Info.Status]++
		}
	}
	if len(problems) > 0 {
		return strings.Join(problems, "; "), false
	}
	return fmt.Sprintf("%d runs read back whole and unchanged (%d complete, %d truncated)", len(ids), count[spanlog.StatusComplete], count[spanlog.StatusTruncated]), true
}

// remember reads the run and keeps it, to check at the end that it is
// unchanged.
func (r *Runner) remember(id string) (*spanlog.Run, error) {
	store, err := spanlog.OpenExisting(r.Store)
	if err != nil {
		return nil, err
	}
	run, err := store.ReadRun(id)
	if err != nil {
		return nil, err
	}
	r.expect[id] = *run
	return run, nil
}

// record runs the agent with args as a separate process recording into
// the store and returns its run id.
func (r *Runner) record(ctx context.Context, args ...string) (string, error) {
	cmd := r.agentCommand(ctx, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("agent %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	id, err := runID(out)
	if err != nil {
		return "", err
	}
	if !slices.Contains(args, "-attachments") {
		_, err = r.remember(id)
	}
	return id, err
}

// recordKilled runs the agent as a separate process, waits until it has
// made n boundaries (each durable before its helper returned) and kills it
// with SIGKILL.
func (r *Runner) recordKilled(ctx context.Context, n int) (string, error) {
	cmd := r.agentCommand(ctx, "-pause-after", fmt.Sprint(n))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return "", err
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	var out bytes.Buffer
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "paused after ") {
			if err := cmd.Process.Kill(); err != nil {
				return "", err
			}
			cmd.Wait()
			return runID(out.Bytes())
		}
	}
	cmd.Wait()
	return "", fmt.Errorf("the agent exited before pausing: %s%s", out.String(), stderr.String())
}

func (r *Runner) agentCommand(ctx context.Context, args ...string) *exec.Cmd {
	argv := append(append(slices.Clone(r.Self), "agent"), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "AGENTRR_") })
	cmd.Env = append(env, handshake.EnvStore+"="+r.Store)
	return cmd
}

func runID(out []byte) (string, error) {
	for line := range strings.Lines(string(out)) {
		if id, ok := strings.CutPrefix(strings.TrimSpace(line), "run_id: "); ok {
			return id, nil
		}
	}
	return "", fmt.Errorf("the agent printed no run_id: %q", out)
}

// replay replays run id in this process with agent a; the replayed run is
// recorded into the store too.
func (r *Runner) replay(ctx context.Context, id string, a *Agent) (*analyze.Report, error) {
	store, err := spanlog.OpenExisting(r.Store)
	if err != nil {
		return nil, err
	}
	rec, err := replayer.Load(store, id)
	if err != nil {
		return nil, err
	}
	var replayID string
	rep, err := replayer.Replay(ctx, rec, func(ctx context.Context) error {
		tp, err := otelrr.NewTracerProvider(ctx, otelrr.WithStore(r.Store), otelrr.WithServiceName("broken_replay_cases"))
		if err != nil {
			return err
		}
		defer tp.Shutdown(ctx)
		ctx, run, err := tp.StartRun(ctx, "broken_replay_cases")
		if err != nil {
			return err
		}
		replayID = run.TraceID()
		_, err = a.Run(ctx)
		if endErr := run.End(err); endErr != nil {
			return endErr
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if a.ToolRuns.Load() != 0 || a.LLM.Calls() != 0 {
		return nil, fmt.Errorf("the replay ran %d tools and %d model calls: a replay must run none", a.ToolRuns.Load(), a.LLM.Calls())
	}
	if _, err := r.remember(replayID); err != nil {
		return nil, err
	}
	return rep, nil
}

func firstDivergence(rep *analyze.Report) (analyze.Divergence, bool) {
	if len(rep.Divergences) == 0 {
		return analyze.Divergence{}, false
	}
	return rep.Divergences[0], true
}

// describe is the verdict of a replay and the message the agent got.
func describe(rep *analyze.Report) string {
	d, ok := firstDivergence(rep)
	if !ok {
		return fmt.Sprintf("faithful, %d of %d boundaries served", rep.Served, rep.Recorded)
	}
	return fmt.Sprintf("diverged at seq %d: %s", d.Seq, (&replayer.DivergenceError{Divergence: d}).Error())
}

// ReadResult is what `broken_replay_cases read-run` prints.
type ReadResult struct {
	// ReadError is set when the run could not be read at all, and
	// ReadDamaged when that is because it is damaged.
	ReadError   string         `json:"read_error,omitempty"`
	ReadDamaged bool           `json:"read_damaged,omitempty"`
	Status      spanlog.Status `json:"status,omitempty"`
	Reason      string         `json:"reason,omitempty"`
	Boundaries  int64          `json:"boundaries"`
	LoadError   string         `json:"load_error,omitempty"`
	LoadDamaged bool           `json:"load_damaged"`
}

// readInChild reads the run in a separate process.
func (r *Runner) readInChild(ctx context.Context, id string) (*ReadResult, error) {
	argv := append(slices.Clone(r.Self), "read-run", r.Store, id)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if first, _, ok := strings.Cut(msg, "\n"); ok {
			msg = first
		}
		return nil, fmt.Errorf("reading the run killed the reader (%v): %.300s", err, msg)
	}
	var res ReadResult
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("read-run printed %q: %v", out, err)
	}
	return &res, nil
}

// readRunMain is `broken_replay_cases read-run <store> <id>`: it reads the
// run as agentrr does and prints a ReadResult as JSON.
func readRunMain(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: broken_replay_cases read-run <store> <run-id>")
		return 2
	}
	store, err := spanlog.OpenExisting(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var res ReadResult
	run, err := store.ReadRun(args[1])
	if err != nil {
		res.ReadError, res.ReadDamaged = err.Error(), errors.Is(err, spanlog.ErrDamaged)
	} else {
		res.Status, res.Reason, res.Boundaries = run.Info.Status, run.Info.Reason, run.Info.Boundaries
	}
	if _, err := replayer.Load(store, args[1]); err != nil {
		res.LoadError = err.Error()
		res.LoadDamaged = errors.Is(err, replayer.ErrDamaged) || errors.Is(err, spanlog.ErrDamaged)
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	return 0
}
