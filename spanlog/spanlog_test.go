package spanlog_test

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/storetest"
	"github.com/agentrr/agentrr/spanlog"
)

func newTraceID(t testing.TB) string {
	t.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	b[0] |= 1 // never all zeros
	return hex.EncodeToString(b[:])
}

// spanBytes encodes one whole boundary span of trace id at seq: a tool call
// named name with request {"payload": payload} and response {"ok": payload}.
func spanBytes(traceID string, seq int64, name, payload string) ([]byte, error) {
	tid, err := spanlog.ParseTraceID(traceID)
	if err != nil {
		return nil, err
	}
	req, err := boundary.Canonical(map[string]string{"payload": payload})
	if err != nil {
		return nil, err
	}
	resp, err := boundary.Canonical(map[string]string{"ok": payload})
	if err != nil {
		return nil, err
	}
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID(tid))
	var sid [8]byte
	binary.BigEndian.PutUint64(sid[:], uint64(seq)+1)
	sp.SetSpanID(pcommon.SpanID(sid))
	sp.SetName("execute_tool " + name)
	storetest.PutToolAttrs(sp.Attributes(), seq, name, req, resp)
	return (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
}

func openStore(t testing.TB) (*spanlog.Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	s, err := spanlog.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

// writeRun records a run of n boundaries with payloads p0..p(n-1); finish
// says whether it ends (Finish) or is only closed.
func writeRun(t testing.TB, s *spanlog.Store, id string, n int, finish bool) {
	t.Helper()
	w, err := s.CreateRun(spanlog.RunMeta{TraceID: id, Name: "test", Start: time.Now().UTC(), PID: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		seq, err := w.Append(func(seq int64) ([]byte, error) { return spanBytes(id, seq, "echo", fmt.Sprintf("p%d", i)) })
		if err != nil {
			t.Fatal(err)
		}
		if seq != int64(i) {
			t.Fatalf("Append #%d got seq %d", i, seq)
		}
	}
	if finish {
		if err := w.Finish(spanlog.RunEnd{End: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
	} else if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func payloadOf(t testing.TB, r boundary.Record) string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(r.Request, &m); err != nil {
		t.Fatalf("seq %d request %s: %v", r.Seq, r.Request, err)
	}
	return m["payload"]
}

func TestCompleteRun(t *testing.T) {
	s, _ := openStore(t)
	id := newTraceID(t)
	w, err := s.CreateRun(spanlog.RunMeta{TraceID: id, Name: "my-agent", Service: "svc", Start: time.Now().UTC(), PID: 4242})
	if err != nil {
		t.Fatal(err)
	}
	if w.TraceID() != id || w.Next() != 0 {
		t.Fatalf("new writer: id %s next %d", w.TraceID(), w.Next())
	}
	for i := range 5 {
		if _, err := w.Append(func(seq int64) ([]byte, error) { return spanBytes(id, seq, "echo", fmt.Sprintf("p%d", i)) }); err != nil {
			t.Fatal(err)
		}
	}
	// Finish fills in the boundary count itself.
	if err := w.Finish(spanlog.RunEnd{End: time.Now().UTC(), Boundaries: 99, Error: "agent failed"}); err != nil {
		t.Fatal(err)
	}
	// The run is closed: later writes fail, Close is a no-op.
	if _, err := w.Append(func(seq int64) ([]byte, error) { return spanBytes(id, seq, "echo", "late") }); !errors.Is(err, spanlog.ErrRunClosed) {
		t.Errorf("Append after Finish: %v, want ErrRunClosed", err)
	}
	if err := w.Finish(spanlog.RunEnd{}); !errors.Is(err, spanlog.ErrRunClosed) {
		t.Errorf("second Finish: %v, want ErrRunClosed", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close after Finish: %v", err)
	}

	run, err := s.ReadRun(id)
	if err != nil {
		t.Fatal(err)
	}
	info := run.Info
	if info.Status != spanlog.StatusComplete || info.Reason != "" {
		t.Fatalf("status %s (%s), want complete", info.Status, info.Reason)
	}
	if info.TraceID != id || info.Name != "my-agent" || info.Service != "svc" || info.PID != 4242 {
		t.Errorf("header = %+v", info.RunMeta)
	}
	if info.Ended == nil || info.Ended.Boundaries != 5 || info.Ended.Error != "agent failed" || info.Boundaries != 5 {
		t.Errorf("end = %+v, boundaries %d; want 5 boundaries and the agent error", info.Ended, info.Boundaries)
	}
	if len(run.Records) != 5 {
		t.Fatalf("%d records, want 5", len(run.Records))
	}
	for i, r := range run.Records {
		if r.Seq != int64(i) || payloadOf(t, r) != fmt.Sprintf("p%d", i) {
			t.Errorf("record %d: seq %d payload %q", i, r.Seq, payloadOf(t, r))
		}
	}
	// Info agrees without decoding.
	if in, err := s.Info(id); err != nil || in.Status != spanlog.StatusComplete || in.Boundaries != 5 {
		t.Errorf("Info = %+v, %v", in, err)
	}
	// A run id can be recorded only once.
	if _, err := s.CreateRun(spanlog.RunMeta{TraceID: id}); err == nil {
		t.Error("CreateRun of an existing run succeeded")
	}
}

func TestCloseWithoutFinishIsTruncated(t *testing.T) {
	s, _ := openStore(t)
	id := newTraceID(t)
	writeRun(t, s, id, 3, false)
	run, err := s.ReadRun(id)
	if err != nil {
		t.Fatal(err)
	}
	if run.Info.Status != spanlog.StatusTruncated || run.Info.Ended != nil || len(run.Records) != 3 {
		t.Fatalf("status %s (%s), ended %v, %d records; want truncated with 3", run.Info.Status, run.Info.Reason, run.Info.Ended, len(run.Records))
	}
	if !strings.Contains(run.Info.Reason, "did not end") {
		t.Errorf("reason %q does not say the run did not end", run.Info.Reason)
	}
	// An empty run that was never ended is listed too.
	empty := newTraceID(t)
	writeRun(t, s, empty, 0, false)
	if in, err := s.Info(empty); err != nil || in.Status != spanlog.StatusTruncated || in.Boundaries != 0 {
		t.Errorf("empty unfinished run: %+v, %v", in, err)
	}
}

func TestConcurrentAppend(t *testing.T) {
	s, _ := openStore(t)
	id := newTraceID(t)
	w, err := s.CreateRun(spanlog.RunMeta{TraceID: id, Name: "concurrent", Start: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 8, 40
	seqs := make([][]int64, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				payload := fmt.Sprintf("g%d-%d", g, i)
				seq, err := w.Append(func(seq int64) ([]byte, error) { return spanBytes(id, seq, "echo", payload) })
				if err != nil {
					t.Error(err)
					return
				}
				seqs[g] = append(seqs[g], seq)
			}
		})
	}
	wg.Wait()
	if err := w.Finish(spanlog.RunEnd{End: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	var all []int64
	for g := range goroutines {
		if !slices.IsSorted(seqs[g]) {
			t.Errorf("goroutine %d got seqs out of order: %v", g, seqs[g])
		}
		all = append(all, seqs[g]...)
	}
	slices.Sort(all)
	for i, seq := range all {
		if seq != int64(i) {
			t.Fatalf("seqs handed out are not 0..%d: %v", goroutines*each-1, all)
		}
	}

	run, err := s.ReadRun(id)
	if err != nil {
		t.Fatal(err)
	}
	if run.Info.Status != spanlog.StatusComplete || len(run.Records) != goroutines*each {
		t.Fatalf("status %s (%s), %d records; want complete, %d", run.Info.Status, run.Info.Reason, len(run.Records), goroutines*each)
	}
	seen := map[string]int64{}
	for i, r := range run.Records {
		if r.Seq != int64(i) {
			t.Fatalf("record %d has seq %d", i, r.Seq)
		}
		seen[payloadOf(t, r)] = r.Seq
	}
	for g := range goroutines {
		for i := range each {
			p := fmt.Sprintf("g%d-%d", g, i)
			seq, ok := seen[p]
			if !ok {
				t.Errorf("payload %s missing", p)
			} else if seq != seqs[g][i] {
				t.Errorf("payload %s stored at seq %d, Append returned %d", p, seq, seqs[g][i])
			}
		}
	}
}

func TestResolve(t *testing.T) {
	s, dir := openStore(t)
	ids := []string{
		"abc00000000000000000000000000001",
		"abc10000000000000000000000000002",
		"abd00000000000000000000000000003",
		"f0000000000000000000000000000004",
	}
	for _, id := range ids {
		writeRun(t, s, id, 0, true)
	}
	// Not runs: ignored by listing and resolving.
	os.MkdirAll(filepath.Join(dir, "runs", "not-a-trace-id"), 0o700)
	os.WriteFile(filepath.Join(dir, "runs", "fffffffffffffffffffffffffffffff5"), nil, 0o600)

	got, err := s.TraceIDs()
	if err != nil || !slices.Equal(got, ids) {
		t.Errorf("TraceIDs = %v, %v; want %v", got, err, ids)
	}

	for prefix, want := range map[string]string{
		ids[0]:             ids[0], // exact
		"abd":              ids[2], // unique prefix
		"ABC1":             ids[1], // case-insensitive
		" f ":              ids[3], // white space trimmed
		"abc0000000000000": ids[0],
	} {
		if got, err := s.Resolve(prefix); err != nil || got != want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", prefix, got, err, want)
		}
	}

	_, err = s.Resolve("abc")
	var amb *spanlog.AmbiguousError
	if !errors.As(err, &amb) {
		t.Fatalf("Resolve(abc) = %v, want *AmbiguousError", err)
	}
	if amb.Prefix != "abc" || !slices.Equal(amb.Candidates, ids[:2]) {
		t.Errorf("AmbiguousError = %+v, want candidates %v", amb, ids[:2])
	}
	for _, id := range ids[:2] {
		if !strings.Contains(err.Error(), id) {
			t.Errorf("ambiguity message %q does not list %s", err, id)
		}
	}
	if errors.Is(err, spanlog.ErrNotFound) {
		t.Error("an ambiguous prefix is reported as not found")
	}

	for _, p := range []string{"0", "abe", "abc00000000000000000000000000009"} {
		if _, err := s.Resolve(p); !errors.Is(err, spanlog.ErrNotFound) {
			t.Errorf("Resolve(%q) = %v, want ErrNotFound", p, err)
		}
	}
	for _, p := range []string{"", "  ", "xyz", "abc-", "g", strings.Repeat("a", 33)} {
		_, err := s.Resolve(p)
		if err == nil || errors.Is(err, spanlog.ErrNotFound) || errors.As(err, &amb) {
			t.Errorf("Resolve(%q) = %v, want a malformed-id error", p, err)
		}
	}
	if _, err := s.ReadRun("abc"); err == nil {
		t.Error("ReadRun takes a prefix; it wants a full trace id")
	}
	if _, err := s.ReadRun("00000000000000000000000000000000"); err == nil {
		t.Error("ReadRun of the all-zero trace id succeeded")
	}
	if _, err := s.ReadRun("0123456789abcdef0123456789abcdef"); !errors.Is(err, spanlog.ErrNotFound) {
		t.Errorf("ReadRun of an unknown run: %v, want ErrNotFound", err)
	}
}

func TestOpenExisting(t *testing.T) {
	base := t.TempDir()

	missing := filepath.Join(base, "nope")
	_, err := spanlog.OpenExisting(missing)
	if !errors.Is(err, spanlog.ErrNoStore) {
		t.Fatalf("missing dir: %v, want ErrNoStore", err)
	}
	if !strings.Contains(err.Error(), missing) {
		t.Errorf("error %q does not name %s", err, missing)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("OpenExisting created the store")
	}

	file := filepath.Join(base, "file")
	os.WriteFile(file, []byte("x"), 0o600)
	if _, err := spanlog.OpenExisting(file); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("file: %v, want a not-a-directory error", err)
	}

	// A directory that is not a store at all.
	plain := filepath.Join(base, "plain")
	os.Mkdir(plain, 0o700)
	if _, err := spanlog.OpenExisting(plain); !errors.Is(err, spanlog.ErrNoStore) {
		t.Errorf("plain dir: %v, want ErrNoStore", err)
	}

	future := filepath.Join(base, "future")
	os.MkdirAll(filepath.Join(future, "runs"), 0o700)
	os.WriteFile(filepath.Join(future, "FORMAT"), []byte("agentrr-store 99\n"), 0o600)
	if _, err := spanlog.OpenExisting(future); !errors.Is(err, spanlog.ErrFutureFormat) {
		t.Errorf("format 99: %v, want ErrFutureFormat", err)
	}
	if _, err := spanlog.Open(future); !errors.Is(err, spanlog.ErrFutureFormat) {
		t.Errorf("Open on format 99: %v, want ErrFutureFormat", err)
	}

	garbage := filepath.Join(base, "garbage")
	os.MkdirAll(filepath.Join(garbage, "runs"), 0o700)
	os.WriteFile(filepath.Join(garbage, "FORMAT"), []byte("something else\n"), 0o600)
	if _, err := spanlog.OpenExisting(garbage); err == nil {
		t.Error("unreadable FORMAT accepted")
	}

	// Open creates a store that OpenExisting then accepts, FORMAT and all.
	fresh := filepath.Join(base, "fresh")
	if _, err := spanlog.Open(fresh); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(fresh, "FORMAT")); err != nil || string(b) != "agentrr-store 2\n" {
		t.Errorf("FORMAT = %q, %v", b, err)
	}
	s, err := spanlog.OpenExisting(fresh)
	if err != nil {
		t.Fatal(err)
	}
	if ids, err := s.TraceIDs(); err != nil || len(ids) != 0 {
		t.Errorf("fresh store lists %v, %v", ids, err)
	}
}

func TestRemove(t *testing.T) {
	s, _ := openStore(t)
	a, b, c := newTraceID(t), newTraceID(t), newTraceID(t)
	writeRun(t, s, a, 2, true)
	writeRun(t, s, b, 3, true)
	writeRun(t, s, c, 1, false)
	if err := s.Remove(b); err != nil {
		t.Fatal(err)
	}
	ids, _ := s.TraceIDs()
	want := []string{a, c}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("after Remove: %v, want %v", ids, want)
	}
	if _, err := s.ReadRun(b); !errors.Is(err, spanlog.ErrNotFound) {
		t.Errorf("removed run: %v, want ErrNotFound", err)
	}
	if err := s.Remove(b); !errors.Is(err, spanlog.ErrNotFound) {
		t.Errorf("second Remove: %v, want ErrNotFound", err)
	}
	if err := s.Remove("ab"); err == nil {
		t.Error("Remove with a prefix succeeded; it wants a full id")
	}
	for id, n := range map[string]int{a: 2, c: 1} {
		run, err := s.ReadRun(id)
		if err != nil || len(run.Records) != n {
			t.Errorf("run %s after removing another: %v", id, err)
		}
	}

	// A run being recorded cannot be removed.
	live := newTraceID(t)
	w, err := s.CreateRun(spanlog.RunMeta{TraceID: live})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(live); !errors.Is(err, spanlog.ErrRecording) {
		t.Errorf("Remove of a live run: %v, want ErrRecording", err)
	}
	w.Close()
	if err := s.Remove(live); err != nil {
		t.Errorf("Remove after Close: %v", err)
	}
}

func TestRunsListsNewestFirst(t *testing.T) {
	s, _ := openStore(t)
	var ids []string
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		id := newTraceID(t)
		ids = append(ids, id)
		w, err := s.CreateRun(spanlog.RunMeta{TraceID: id, Name: fmt.Sprint(i), Start: start.Add(time.Duration(i) * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			w.Close()
		} else {
			w.Finish(spanlog.RunEnd{})
		}
	}
	runs, err := s.Runs()
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 || runs[0].TraceID != ids[2] || runs[1].TraceID != ids[1] || runs[2].TraceID != ids[0] {
		t.Fatalf("Runs = %+v, want newest first", runs)
	}
	if runs[1].Status != spanlog.StatusTruncated || runs[0].Status != spanlog.StatusComplete {
		t.Errorf("statuses %s %s %s", runs[0].Status, runs[1].Status, runs[2].Status)
	}
}

// TestRecordingChild is not a test: it is the other process of
// TestRunRecordedByAnotherProcess. It creates a run in the store named by
// SPANLOG_TEST_STORE, appends three boundaries, prints its trace id and
// "ready", then waits for stdin to close and closes the run.
func TestRecordingChild(t *testing.T) {
	if os.Getenv("SPANLOG_TEST_CHILD") != "1" {
		return // only runs as the child process of TestRunRecordedByAnotherProcess
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	s, err := spanlog.Open(os.Getenv("SPANLOG_TEST_STORE"))
	if err != nil {
		fail(err)
	}
	id := newTraceID(t)
	w, err := s.CreateRun(spanlog.RunMeta{TraceID: id, Name: "child", Start: time.Now().UTC(), PID: os.Getpid()})
	if err != nil {
		fail(err)
	}
	for i := range 3 {
		if _, err := w.Append(func(seq int64) ([]byte, error) { return spanBytes(id, seq, "echo", fmt.Sprintf("p%d", i)) }); err != nil {
			fail(err)
		}
	}
	if os.Getenv("SPANLOG_TEST_FINISH_EXIT") == "1" {
		// The run ends (sealed) and the process exits at once, without
		// closing the store, as an agent that returns from main does.
		if err := w.Finish(spanlog.RunEnd{End: time.Now().UTC()}); err != nil {
			fail(err)
		}
		fmt.Printf("trace: %s\nready\n", id)
		os.Exit(0)
	}
	fmt.Printf("trace: %s\nready\n", id)
	if os.Getenv("SPANLOG_TEST_KILL") == "1" {
		// Gone without closing, as a killed recorder is: the run stays in
		// the writer slot's write-ahead log.
		os.Exit(0)
	}
	// Block until the parent closes stdin; a read error or EOF both mean go.
	bufio.NewReader(os.Stdin).ReadString('\n')
	if err := w.Close(); err != nil {
		fail(err)
	}
	os.Exit(0)
}

// killedRun records a run of three boundaries in a child process that
// exits without closing it, as a killed recorder does, and returns its id.
func killedRun(t *testing.T, dir string) string {
	t.Helper()
	return childRun(t, dir, "SPANLOG_TEST_KILL=1")
}

// childRun records a run of three boundaries in the store dir in a child
// process (TestRecordingChild) whose environment also has mode set, which
// says how the child leaves the run, and returns the run's id once the
// child has exited.
func childRun(t *testing.T, dir, mode string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRecordingChild$", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), "SPANLOG_TEST_CHILD=1", mode, "SPANLOG_TEST_STORE="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "trace: "); ok {
			return v
		}
	}
	t.Fatalf("child printed no trace id: %q", out)
	return ""
}

// A run removed stays removed, also when the process that recorded it
// exited right after it ended, leaving its copy in the writer slot (the
// delete that follows sealing is not synced).
func TestRemovedRunStaysRemoved(t *testing.T) {
	s, dir := openStore(t)
	var ids []string
	for range 3 {
		ids = append(ids, childRun(t, dir, "SPANLOG_TEST_FINISH_EXIT=1"))
	}
	for _, id := range ids {
		if err := s.Remove(id); err != nil {
			t.Fatalf("remove %s: %v", id, err)
		}
		runs, err := s.Runs()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			if r.TraceID == id {
				t.Errorf("run %s is listed again after it was removed, as %s", id, r.Status)
			}
		}
		if _, err := s.ReadRun(id); !errors.Is(err, spanlog.ErrNotFound) {
			t.Errorf("read of removed run %s: %v, want ErrNotFound", id, err)
		}
	}
}

func TestRunRecordedByAnotherProcess(t *testing.T) {
	s, dir := openStore(t)
	done := newTraceID(t)
	writeRun(t, s, done, 2, true)

	cmd := exec.Command(os.Args[0], "-test.run=^TestRecordingChild$", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), "SPANLOG_TEST_CHILD=1", "SPANLOG_TEST_STORE="+dir)
	cmd.Stderr = os.Stderr
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
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	var id string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "trace: "); ok {
			id = v
		}
		if line == "ready" {
			break
		}
	}
	if id == "" {
		t.Fatalf("child did not report ready (scan error %v)", sc.Err())
	}
	pid := cmd.Process.Pid

	// Listing does not hang and shows the live run with its recorder's pid.
	runs, err := s.Runs()
	if err != nil {
		t.Fatal(err)
	}
	var live, other *spanlog.RunInfo
	for i := range runs {
		switch runs[i].TraceID {
		case id:
			live = &runs[i]
		case done:
			other = &runs[i]
		}
	}
	if live == nil || other == nil {
		t.Fatalf("Runs = %+v, want both runs", runs)
	}
	if live.Status != spanlog.StatusRecording || live.PID != pid {
		t.Errorf("live run listed as %s pid %d (%s), want recording pid %d", live.Status, live.PID, live.Reason, pid)
	}
	if other.Status != spanlog.StatusComplete {
		t.Errorf("finished run listed as %s (%s) while another is recording", other.Status, other.Reason)
	}

	// Reading it fails at once with *RecordingError; it does not wait.
	for _, read := range []func() error{
		func() error { _, err := s.ReadRun(id); return err },
		func() error { _, err := s.Info(id); return err },
		func() error { return s.Remove(id) },
	} {
		err := read()
		var rec *spanlog.RecordingError
		if !errors.As(err, &rec) {
			t.Fatalf("reading a live run: %v, want *RecordingError", err)
		}
		if rec.PID != pid || rec.TraceID != id || !errors.Is(err, spanlog.ErrRecording) {
			t.Errorf("RecordingError = %+v, want pid %d trace %s", rec, pid, id)
		}
	}
	// The finished run stays readable meanwhile.
	if run, err := s.ReadRun(done); err != nil || len(run.Records) != 2 {
		t.Errorf("finished run while another records: %v", err)
	}

	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	run, err := s.ReadRun(id)
	if err != nil {
		t.Fatal(err)
	}
	if run.Info.Status != spanlog.StatusTruncated || len(run.Records) != 3 || run.Info.PID != pid {
		t.Errorf("after the recorder closed: status %s (%s), %d records, pid %d; want truncated, 3, pid %d",
			run.Info.Status, run.Info.Reason, len(run.Records), run.Info.PID, pid)
	}
}

// rawDB opens a sealed run's file for editing, as something that damages a
// store behind agentrr's back would: Get, Set and Delete work on the run's
// documented keys, and Close writes the file back (a standalone sstable,
// as spanlog writes it).
func rawDB(t *testing.T, storeDir, id string) *sealedFile {
	t.Helper()
	path := filepath.Join(storeDir, "runs", id+".run")
	f, err := vfs.Default.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	opts := &pebble.Options{}
	opts.EnsureDefaults()
	it, err := pebble.NewExternalIter(opts, &pebble.IterOptions{}, [][]sstable.ReadableFile{{f}})
	if err != nil {
		t.Fatal(err)
	}
	sf := &sealedFile{t: t, path: path, kv: map[string][]byte{}}
	for valid := it.First(); valid; valid = it.Next() {
		sf.kv[string(it.Key())] = slices.Clone(it.Value())
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	return sf
}

type sealedFile struct {
	t    *testing.T
	path string
	kv   map[string][]byte
}

func (f *sealedFile) Get(key []byte) ([]byte, io.Closer, error) {
	v, ok := f.kv[string(key)]
	if !ok {
		return nil, nil, pebble.ErrNotFound
	}
	return v, io.NopCloser(nil), nil
}

func (f *sealedFile) Set(key, val []byte, _ *pebble.WriteOptions) error {
	f.kv[string(key)] = slices.Clone(val)
	return nil
}

func (f *sealedFile) Delete(key []byte, _ *pebble.WriteOptions) error {
	delete(f.kv, string(key))
	return nil
}

func (f *sealedFile) Close() error {
	f.t.Helper()
	out, err := vfs.Default.Create(f.path+".edit", vfs.WriteCategoryUnspecified)
	if err != nil {
		f.t.Fatal(err)
	}
	w := sstable.NewWriter(objstorageprovider.NewFileWritable(out), sstable.WriterOptions{TableFormat: pebble.FormatValueSeparation.MaxTableFormat()})
	for _, k := range slices.Sorted(maps.Keys(f.kv)) {
		if err := w.Set([]byte(k), f.kv[k]); err != nil {
			f.t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Rename(f.path+".edit", f.path); err != nil {
		f.t.Fatal(err)
	}
	return nil
}

// boundaryKey is the documented key of boundary seq (empty branch).
func boundaryKey(t *testing.T, id string, seq int64) []byte {
	tid, err := spanlog.ParseTraceID(id)
	if err != nil {
		t.Fatal(err)
	}
	k := append([]byte{'b'}, tid[:]...)
	k = binary.AppendUvarint(k, 0)
	return binary.BigEndian.AppendUint64(k, uint64(seq))
}

// editedRun writes a complete run of n boundaries into a new store, hands
// the run's sealed file to edit, writes the file back and returns the store
// and the run's id.
func editedRun(t *testing.T, n int, edit func(db *sealedFile, id string)) (*spanlog.Store, string) {
	t.Helper()
	s, dir := openStore(t)
	id := newTraceID(t)
	writeRun(t, s, id, n, true)
	db := rawDB(t, dir, id)
	edit(db, id)
	db.Close()
	return s, id
}

func TestDamageDetection(t *testing.T) {
	t.Run("hole", func(t *testing.T) {
		s, id := editedRun(t, 5, func(db *sealedFile, id string) {
			key := boundaryKey(t, id, 2)
			if _, closer, err := db.Get(key); err != nil {
				t.Fatalf("documented key layout: seq 2 not found: %v", err)
			} else {
				closer.Close()
			}
			if err := db.Delete(key, pebble.Sync); err != nil {
				t.Fatal(err)
			}
		})

		run, err := s.ReadRun(id)
		if err != nil {
			t.Fatal(err)
		}
		if run.Info.Status != spanlog.StatusDamaged || !strings.Contains(run.Info.Reason, "seq 2 missing") {
			t.Errorf("status %s (%s), want damaged naming seq 2", run.Info.Status, run.Info.Reason)
		}
		if len(run.Records) != 2 {
			t.Errorf("%d records, want the whole prefix before the hole (2)", len(run.Records))
		}
		if in, err := s.Info(id); err != nil || in.Status != spanlog.StatusDamaged {
			t.Errorf("Info = %s (%s), %v; want damaged", in.Status, in.Reason, err)
		}
	})

	t.Run("altered response", func(t *testing.T) {
		s, id := editedRun(t, 5, func(db *sealedFile, id string) {
			key := boundaryKey(t, id, 3)
			val, closer, err := db.Get(key)
			if err != nil {
				t.Fatal(err)
			}
			td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(slices.Clone(val))
			closer.Close()
			if err != nil {
				t.Fatal(err)
			}
			attrs := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes()
			old, _ := attrs.Get(boundary.AttrResponse)
			altered := strings.Replace(old.Str(), "p3", "p9", 1) // same length
			if altered == old.Str() {
				t.Fatalf("response %q not altered", old.Str())
			}
			attrs.PutStr(boundary.AttrResponse, altered)
			b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Set(key, b, pebble.Sync); err != nil {
				t.Fatal(err)
			}
		})

		run, err := s.ReadRun(id)
		if err != nil {
			t.Fatal(err)
		}
		if run.Info.Status != spanlog.StatusDamaged || !strings.Contains(run.Info.Reason, "payload hash") || !strings.Contains(run.Info.Reason, "seq 3") {
			t.Errorf("status %s (%s), want damaged: payload hash of seq 3", run.Info.Status, run.Info.Reason)
		}
		if len(run.Records) != 3 {
			t.Errorf("%d records, want the 3 before the damage", len(run.Records))
		}
	})

	for _, tc := range []struct {
		name string
		n    int // boundaries in the run
		edit func(t *testing.T, db *sealedFile, id string)
		// reason is what the damage reason must name.
		reason string
	}{
		{"span that does not decode", 3, func(t *testing.T, db *sealedFile, id string) {
			if err := db.Set(boundaryKey(t, id, 1), []byte("\xff\xffnot a span"), pebble.Sync); err != nil {
				t.Fatal(err)
			}
		}, "seq 1"},
		{"span stored under the wrong seq", 3, func(t *testing.T, db *sealedFile, id string) {
			b, err := spanBytes(id, 0, "echo", "p1")
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Set(boundaryKey(t, id, 1), b, pebble.Sync); err != nil {
				t.Fatal(err)
			}
		}, "says seq 0"},
		{"lost tail of an ended run", 4, func(t *testing.T, db *sealedFile, id string) {
			if err := db.Delete(boundaryKey(t, id, 3), pebble.Sync); err != nil {
				t.Fatal(err)
			}
		}, "4 boundaries, 3 stored"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, id := editedRun(t, tc.n, func(db *sealedFile, id string) { tc.edit(t, db, id) })
			run, err := s.ReadRun(id)
			if err != nil {
				t.Fatal(err)
			}
			if run.Info.Status != spanlog.StatusDamaged || !strings.Contains(run.Info.Reason, tc.reason) {
				t.Errorf("status %s (%s), want damaged naming %q", run.Info.Status, run.Info.Reason, tc.reason)
			}
		})
	}

	t.Run("future run format", func(t *testing.T) {
		s, id := editedRun(t, 1, func(db *sealedFile, _ string) {
			if err := db.Set([]byte{'v'}, []byte{99}, pebble.Sync); err != nil {
				t.Fatal(err)
			}
		})
		if _, err := s.ReadRun(id); !errors.Is(err, spanlog.ErrFutureFormat) {
			t.Errorf("run format 99: %v, want ErrFutureFormat", err)
		}
	})
}

// A recorder killed while creating its run leaves a run directory with no
// database, or with an empty database directory: the run is listed and reads
// back as truncated and empty (what spanlog's errNoDatabase is for), not as
// an error or as damaged.
func TestRunWithoutDatabase(t *testing.T) {
	for name, layout := range map[string][]string{
		"no db directory":    nil,
		"empty db directory": {"db"},
	} {
		t.Run(name, func(t *testing.T) {
			s, dir := openStore(t)
			good := newTraceID(t)
			writeRun(t, s, good, 1, true)
			id := newTraceID(t)
			if err := os.MkdirAll(filepath.Join(dir, "runs", id), 0o700); err != nil {
				t.Fatal(err)
			}
			for _, sub := range layout {
				if err := os.MkdirAll(filepath.Join(dir, "runs", id, sub), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			run, err := s.ReadRun(id)
			if err != nil {
				t.Fatalf("ReadRun: %v; want a truncated, empty run", err)
			}
			if run.Info.Status != spanlog.StatusTruncated || len(run.Records) != 0 {
				t.Errorf("%s (%s), %d records; want truncated, 0", run.Info.Status, run.Info.Reason, len(run.Records))
			}
			runs, err := s.Runs()
			if err != nil || len(runs) != 2 {
				t.Fatalf("Runs = %+v, %v", runs, err)
			}
			for _, r := range runs {
				if r.TraceID == id && r.Status != spanlog.StatusTruncated {
					t.Errorf("listed as %s (%s), want truncated", r.Status, r.Reason)
				}
			}
			if err := s.Remove(id); err != nil {
				t.Errorf("Remove: %v", err)
			}
		})
	}
}

func TestDir(t *testing.T) {
	t.Setenv(spanlog.EnvStore, "")
	if got := spanlog.Dir(""); got != spanlog.DefaultDir {
		t.Errorf("Dir() = %q, want %q", got, spanlog.DefaultDir)
	}
	t.Setenv(spanlog.EnvStore, "/elsewhere")
	if got := spanlog.Dir(""); got != "/elsewhere" {
		t.Errorf("Dir() with %s = %q", spanlog.EnvStore, got)
	}
	if got := spanlog.Dir("given"); got != "given" {
		t.Errorf("Dir(given) = %q", got)
	}
}

func TestParseTraceID(t *testing.T) {
	if _, err := spanlog.ParseTraceID("0123456789abcdef0123456789ABCDEF"); err != nil {
		t.Errorf("valid id: %v", err)
	}
	for _, bad := range []string{"", "abc", strings.Repeat("0", 32), strings.Repeat("g", 32), strings.Repeat("a", 34)} {
		if _, err := spanlog.ParseTraceID(bad); err == nil {
			t.Errorf("ParseTraceID(%q) succeeded", bad)
		}
	}
}

// TestStoreRemovedWhileSlotIdle records into a store, removes it while this
// process still keeps its writer slot idle (slotGrace), and records into a
// new store at the same path: the run goes into a slot of the new store,
// and a log rotation (more than a memtable of data) does not find its
// database gone.
func TestStoreRemovedWhileSlotIdle(t *testing.T) {
	s, dir := openStore(t)
	writeRun(t, s, newTraceID(t), 2, true)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	s, err := spanlog.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	id := newTraceID(t)
	w, err := s.CreateRun(spanlog.RunMeta{TraceID: id, Name: "again", Start: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 64<<10)
	const n = 80 // 5 MB: past the slot's 4 MB memtable
	for i := range n {
		if _, err := w.Append(func(seq int64) ([]byte, error) { return spanBytes(id, seq, "echo", big+fmt.Sprint(i)) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Finish(spanlog.RunEnd{End: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	run, err := s.ReadRun(id)
	if err != nil {
		t.Fatal(err)
	}
	if run.Info.Status != spanlog.StatusComplete || len(run.Records) != n {
		t.Fatalf("status %s (%s), %d records; want complete with %d", run.Info.Status, run.Info.Reason, len(run.Records), n)
	}
	if _, err := os.Stat(filepath.Join(dir, "writers", "0", "db")); err != nil {
		t.Errorf("the new store has no writer slot: %v", err)
	}
}
