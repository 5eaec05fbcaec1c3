package main_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/fakeapi"
	"github.com/agentrr/agentrr/internal/storetest"
	"github.com/agentrr/agentrr/spanlog"
)

// forkSetup records examples/openai_agent (against the fake server it
// starts itself) into a new store and returns the store's path, the run id
// and the agent binary.
func forkSetup(t *testing.T) (store, id, agent string) {
	t.Helper()
	agent = filepath.Join(exampleBin(t), "openai_agent")
	store = filepath.Join(t.TempDir(), "store")
	_, id = record(t, store, agent)
	return store, id, agent
}

// forkCommand is `agentrr fork args… -- agent` talking to srv.
func forkCommand(t *testing.T, store string, srv *fakeapi.Server, agent string, args ...string) *exec.Cmd {
	t.Helper()
	agentrr, err := exec.LookPath("agentrr")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(agentrr, append(append([]string{"fork"}, args...), "--", agent)...)
	cmd.Env = append(os.Environ(), "AGENTRR_STORE="+store, "OPENAI_BASE_URL="+srv.OpenAIBaseURL(), "OPENAI_API_KEY="+srv.APIKey, "AGENTRR_EXAMPLE_QUIET=1")
	return cmd
}

// requestBody is the body of a recorded HTTP exchange's request, canonical.
func requestBody(t *testing.T, r boundary.Record) string {
	t.Helper()
	var req struct {
		Body json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(r.Request, &req); err != nil || len(req.Body) == 0 {
		t.Fatalf("seq %d: request %s: %v", r.Seq, r.Request, err)
	}
	return canonical(t, req.Body)
}

func canonical(t *testing.T, b []byte) string {
	t.Helper()
	c, err := boundary.CanonicalizeJSON(b)
	if err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return string(c)
}

var forkTraceLine = regexp.MustCompile(`the fork was recorded as trace ([0-9a-f]{32})`)

// The live tail of a fork is the real thing: the model server gets exactly
// the requests the fork records after its fork point — none for the served
// boundaries before it — with the agent's key, and the fork's run is linked
// to the original.
func TestForkLiveTailAsksTheServerExactlyWhatItRecords(t *testing.T) {
	store, id, agent := forkSetup(t)
	srv := fakeapi.NewWith(func(s *fakeapi.Server) { s.APIKey = "sk-fork-test" })
	defer srv.Close()

	r := runCmd(t, forkCommand(t, store, srv, agent, "--from-trace", id, "--at", "2", "--live-tool", "refund_policy"))
	if r.code != 0 {
		t.Fatalf("fork exited %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	m := forkTraceLine.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no fork trace in:\n%s", r.stdout)
	}
	fork := storetest.ReadRun(t, store, m[1])
	if fork.Info.ReplayOf != id || fork.Info.ReplayMode != "fork" || fork.Info.Status != spanlog.StatusComplete ||
		fork.Info.Ended == nil || fork.Info.Ended.ForkSeq == nil || *fork.Info.Ended.ForkSeq != 2 || fork.Info.Ended.Live != 3 {
		t.Fatalf("fork run %+v ended %+v", fork.Info.RunMeta, fork.Info.Ended)
	}
	var live []boundary.Record
	for _, r := range fork.Records {
		if v, _ := r.Attributes[boundary.AttrLiveBoundary].(bool); v {
			live = append(live, r)
		} else if r.Seq >= 2 {
			t.Errorf("seq %d after the fork point was not live", r.Seq)
		}
	}
	var llm []boundary.Record
	for _, r := range live {
		if r.Kind == boundary.KindLLM {
			llm = append(llm, r)
		}
	}
	reqs := srv.Requests()
	if len(reqs) != len(llm) || len(llm) != 2 {
		t.Fatalf("the server got %d requests; the fork ran %d model calls live, want 2", len(reqs), len(llm))
	}
	for i, r := range llm {
		if got, want := canonical(t, reqs[i].Body), requestBody(t, r); got != want {
			t.Errorf("request %d to the server:\n%s\nthe fork recorded at seq %d:\n%s", i+1, got, r.Seq, want)
		}
		if reqs[i].Header.Get("Authorization") != "Bearer "+srv.APIKey {
			t.Errorf("request %d had no key", i+1)
		}
	}
	// The served prefix is the original's, boundary for boundary.
	orig := storetest.ReadRun(t, store, id)
	for i := range 2 {
		if fork.Records[i].Signature != orig.Records[i].Signature || !bytes.Equal(fork.Records[i].Response, orig.Records[i].Response) {
			t.Errorf("seq %d was not served from the original", i)
		}
	}
}

// A SIGKILL of the agent during the fork's live tail leaves the fork's run
// truncated — a whole prefix, live boundaries included — never holed, and
// the original untouched.
func TestForkKilledDuringTheLiveTail(t *testing.T) {
	store, id, agent := forkSetup(t)
	before := storetest.ReadRun(t, store, id)

	held, release := make(chan struct{}), make(chan struct{})
	var n atomic.Int32
	srv := fakeapi.NewWith(func(s *fakeapi.Server) {
		s.APIKey = "sk-fork-test"
		s.Hold = func(fakeapi.Request) {
			// The second live model call (seq 4): seq 2 and the live
			// refund_policy (seq 3) are stored by then.
			if n.Add(1) == 2 {
				close(held)
				<-release
			}
		}
	})
	defer srv.Close()
	defer close(release) // before srv.Close, deferred earlier

	var out, errOut bytes.Buffer
	cmd := forkCommand(t, store, srv, agent, "--from-trace", id, "--at", "2", "--live-tool", "refund_policy")
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-held:
	case err := <-done:
		t.Fatalf("the fork ended (%v) before its second live model call:\n%s%s", err, out.String(), errOut.String())
	}

	// The agent is blocked in its live call, recording the fork: the one
	// run being recorded (whose header cannot be read until it ends).
	runs := storetest.Runs(t, store)
	var fork spanlog.RunInfo
	for _, r := range runs {
		if r.Status == spanlog.StatusRecording {
			fork = r
		}
	}
	if fork.PID == 0 || fork.PID == cmd.Process.Pid {
		t.Fatalf("no fork being recorded by the agent's process: %+v", runs)
	}
	if err := syscall.Kill(fork.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := <-done
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 4 {
		t.Errorf("agentrr fork exited %v, want 4 (the agent failed):\n%s%s", err, out.String(), errOut.String())
	}

	got := storetest.ReadRun(t, store, fork.TraceID)
	if got.Info.ReplayOf != id || got.Info.ReplayMode != "fork" || got.Info.Status != spanlog.StatusTruncated || len(got.Records) != 4 {
		t.Fatalf("killed fork: %s (%s), %d boundaries; want truncated, 4", got.Info.Status, got.Info.Reason, len(got.Records))
	}
	for i, r := range got.Records {
		live, _ := r.Attributes[boundary.AttrLiveBoundary].(bool)
		if r.Seq != int64(i) || live != (i >= 2) {
			t.Errorf("boundary %d: seq %d, live %t", i, r.Seq, live)
		}
	}
	if v := run(t, store, "agentrr", "verify", fork.TraceID); v.code != 5 {
		t.Errorf("verify of the killed fork exited %d, want 5 (truncated):\n%s%s", v.code, v.stdout, v.stderr)
	}
	after := storetest.ReadRun(t, store, id)
	if after.Info.Status != spanlog.StatusComplete || !reflect.DeepEqual(after.Records, before.Records) || !reflect.DeepEqual(after.Info, before.Info) {
		t.Errorf("the original changed: %s, %d boundaries", after.Info.Status, len(after.Records))
	}
	if v := run(t, store, "agentrr", "verify", id); v.code != 0 {
		t.Errorf("verify of the original exited %d:\n%s%s", v.code, v.stdout, v.stderr)
	}
}
