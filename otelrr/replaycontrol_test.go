package otelrr_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/internal/handshake"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
)

// ctlAgent makes four boundaries: id, tool, clock, tool. It returns the
// first error a helper gave it.
func ctlAgent(ctx context.Context) error {
	echo := func(_ context.Context, s string) (string, error) { return "echo " + s, nil }
	if _, err := otelrr.NewID(ctx); err != nil {
		return err
	}
	if _, err := otelrr.Tool(ctx, "echo", "one", echo); err != nil {
		return err
	}
	if _, err := otelrr.Now(ctx); err != nil {
		return err
	}
	_, err := otelrr.Tool(ctx, "echo", "two", echo)
	return err
}

// ctlRun runs ctlAgent in one run of a provider built with opts.
func ctlRun(t *testing.T, opts ...otelrr.Option) (id string, rep *analyze.Report, agentErr error) {
	t.Helper()
	ctx := context.Background()
	tp, err := otelrr.NewTracerProvider(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Shutdown(ctx)
	ctx, run, err := tp.StartRun(ctx, "ctl")
	if err != nil {
		t.Fatal(err)
	}
	agentErr = ctlAgent(ctx)
	if err := run.End(agentErr); err != nil {
		t.Fatal(err)
	}
	return run.TraceID(), run.Report(), agentErr
}

func TestReplayUntilFromEnv(t *testing.T) {
	dir := t.TempDir()
	id, _, err := ctlRun(t, otelrr.WithStore(dir))
	if err != nil {
		t.Fatal(err)
	}
	reportPath := filepath.Join(t.TempDir(), "report.json")
	t.Setenv(handshake.EnvReplay, id)
	t.Setenv(handshake.EnvReplayUntil, "1")
	t.Setenv(handshake.EnvReplayReport, reportPath)
	_, rep, agentErr := ctlRun(t, otelrr.WithStore(dir), otelrr.FromEnv())
	if !errors.Is(agentErr, replayer.ErrStopped) {
		t.Fatalf("agent error %v, want the stop", agentErr)
	}
	if rep.Stopped == nil || rep.Stopped.Seq != 2 || rep.Served != 2 || !rep.Faithful() || rep.AgentError != "" {
		t.Errorf("report %+v (stopped %+v)", rep, rep.Stopped)
	}
	// The same report reached the file the CLI reads.
	f, err := os.Open(reportPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fromFile, err := analyze.ReadReport(f)
	if err != nil || fromFile.Stopped == nil || fromFile.Stopped.Kind != "clock" || !strings.Contains(fromFile.CodeChange, "unchanged") {
		t.Errorf("report file: %+v, %v", fromFile, err)
	}
}

func TestMalformedReplayUntil(t *testing.T) {
	t.Setenv(handshake.EnvReplayUntil, "three")
	_, err := otelrr.NewTracerProvider(context.Background(), otelrr.WithStore(t.TempDir()), otelrr.FromEnv())
	if err == nil || !strings.Contains(err.Error(), handshake.EnvReplayUntil) {
		t.Errorf("malformed %s: %v", handshake.EnvReplayUntil, err)
	}
}

// stepServer plays `agentrr step` on a unix socket: it answers each step
// with the next of answers, and sends the steps it got on the channel.
func stepServer(t *testing.T, answers ...replayer.Action) (path string, steps <-chan replayer.Step) {
	t.Helper()
	dir, err := os.MkdirTemp("", "otelrr-step-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path = filepath.Join(dir, "s")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan replayer.Step, 16)
	go func() {
		defer close(ch)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		r := bufio.NewReader(conn)
		for _, a := range answers {
			line, err := r.ReadBytes('\n')
			if err != nil {
				return
			}
			var st replayer.Step
			if err := json.Unmarshal(line, &st); err != nil {
				t.Errorf("step message %q: %v", line, err)
				return
			}
			ch <- st
			b, _ := json.Marshal(handshake.StepReply{Action: string(a)})
			conn.Write(append(b, '\n'))
		}
	}()
	return path, ch
}

func TestReplayStepperOverTheSocket(t *testing.T) {
	dir := t.TempDir()
	id, _, err := ctlRun(t, otelrr.WithStore(dir))
	if err != nil {
		t.Fatal(err)
	}
	sock, steps := stepServer(t, replayer.Next, replayer.Next, replayer.Quit)
	t.Setenv(handshake.EnvReplay, id)
	t.Setenv(handshake.EnvReplayStep, sock)
	_, rep, agentErr := ctlRun(t, otelrr.WithStore(dir), otelrr.FromEnv())
	if !errors.Is(agentErr, replayer.ErrStopped) {
		t.Fatalf("agent error %v, want the stop of a quit", agentErr)
	}
	var got []replayer.Step
	for st := range steps {
		got = append(got, st)
	}
	if len(got) != 3 || got[1].Name != "echo" || string(got[1].Request) != `"one"` ||
		got[1].Recorded == nil || string(got[1].Recorded.Response) != `"echo one"` || got[2].Kind != "clock" {
		t.Errorf("steps %+v", got)
	}
	if rep.Stopped == nil || rep.Stopped.Seq != 2 || rep.Stopped.Reason != "quit while stepping" || rep.Served != 2 {
		t.Errorf("report %+v", rep)
	}
}

func TestReplayStepperWithoutAListener(t *testing.T) {
	dir := t.TempDir()
	id, _, err := ctlRun(t, otelrr.WithStore(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(handshake.EnvReplay, id)
	t.Setenv(handshake.EnvReplayStep, filepath.Join(t.TempDir(), "nobody-listens"))
	_, rep, agentErr := ctlRun(t, otelrr.WithStore(dir), otelrr.FromEnv())
	if !errors.Is(agentErr, replayer.ErrStopped) || rep.Stopped == nil || !strings.Contains(rep.Stopped.Reason, "cannot reach agentrr step") {
		t.Errorf("agent error %v, stop %+v; want a stop naming the unreachable socket", agentErr, rep.Stopped)
	}
}
