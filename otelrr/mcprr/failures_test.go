package mcprr_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentrr/agentrr/internal/storetest"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/otelrr/mcprr"
	"github.com/agentrr/agentrr/rrtest"
)

func connect(ctx context.Context, tr mcp.Transport, opts *mcp.ClientOptions) (*mcp.ClientSession, error) {
	return connectVersion(ctx, tr, opts, "")
}

// connectVersion connects asking for protocol version (the latest when
// empty).
func connectVersion(ctx context.Context, tr mcp.Transport, opts *mcp.ClientOptions, version string) (*mcp.ClientSession, error) {
	return mcp.NewClient(&mcp.Implementation{Name: "mcprr-test-agent", Version: "1.0.0"}, opts).
		Connect(ctx, mcprr.Transport(tr, mcprr.WithServerName("weather")), &mcp.ClientSessionOptions{ProtocolVersion: version})
}

func forecast(ctx context.Context, cs *mcp.ClientSession, city string) (string, error) {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "forecast", Arguments: map[string]any{"city": city}})
	if err != nil {
		return "", err
	}
	return text(res.Content), nil
}

// describeErr is what an agent can tell of an error: its text, whether it
// is a *mcprr.TransportError, and the sentinels it matches.
func describeErr(err error) string {
	if err == nil {
		return "no error"
	}
	var te *mcprr.TransportError
	return fmt.Sprintf("%v [transport error %v, EOF %v, deadline %v, closed %v]", err, errors.As(err, &te),
		errors.Is(err, io.EOF), errors.Is(err, context.DeadlineExceeded), errors.Is(err, mcp.ErrConnectionClosed))
}

// TestMalformedServerMessageReplaysTheSame has the server answer a call
// with a message that is not JSON-RPC: the SDK loses the connection, the
// call fails and so does the next one. The recording holds it, and the
// replay (server gone) fails both calls with the same errors.
func TestMalformedServerMessageReplaysTheSame(t *testing.T) {
	for _, kind := range serverKinds {
		t.Run(kind, func(t *testing.T) {
			srv := startServer(t, kind)
			dir := t.TempDir()
			work := func(ctx context.Context) (string, error) {
				cs, err := connect(ctx, srv.transport(), nil)
				if err != nil {
					return "", err
				}
				defer cs.Close()
				first, err := forecast(ctx, cs, "Lisbon")
				if err != nil {
					return "", err
				}
				_, garbageErr := cs.CallTool(ctx, &mcp.CallToolParams{Name: "garbage"})
				_, nextErr := forecast(ctx, cs, "Porto")
				return fmt.Sprintf("%s\ngarbage: %s\nnext: %s", first, describeErr(garbageErr), describeErr(nextErr)), nil
			}
			id, want, err := rrtest.Run(context.Background(), t, dir, "malformed", work)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(want, "garbage: calling \"tools/call\": ") || !strings.Contains(want, "[transport error true") ||
				!strings.Contains(want, "next: connection closed: ") {
				t.Fatalf("recording saw:\n%s\nwant the garbage call to fail with a TransportError, and the next one with the connection closed", want)
			}
			var lost bool
			for _, r := range storetest.ReadRun(t, dir, id).Records {
				if r.Name == "garbage" && strings.Contains(string(r.Response), `"lost":true`) && r.Attributes["error.type"] == "transport_error" {
					lost = true
				}
			}
			if !lost {
				t.Errorf("the garbage call's boundary does not record the lost connection")
			}
			srv.stop(t)
			replaySame(t, dir, id, want, work)
		})
	}
}

// TestConnectionLostBetweenCalls kills the server between two calls: the
// next call records the lost connection, and replays it.
func TestConnectionLostBetweenCalls(t *testing.T) {
	srv := startServer(t, "stdio")
	dir := t.TempDir()
	var cmd *exec.Cmd
	work := func(ctx context.Context) (string, error) {
		tr := srv.transport().(*mcp.CommandTransport)
		cmd = tr.Command
		cs, err := connect(ctx, tr, nil)
		if err != nil {
			return "", err
		}
		defer cs.Close()
		first, err := forecast(ctx, cs, "Lisbon")
		if err != nil {
			return "", err
		}
		if cmd.Process != nil { // recording
			if err := cmd.Process.Kill(); err != nil {
				return "", err
			}
			_, _ = cmd.Process.Wait()
		}
		_, nextErr := forecast(ctx, cs, "Porto")
		_, lastErr := forecast(ctx, cs, "Faro")
		return fmt.Sprintf("%s\nnext: %s\nlast: %s", first, describeErr(nextErr), describeErr(lastErr)), nil
	}
	id, want, err := rrtest.Run(context.Background(), t, dir, "lost", work)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(want, "next: calling \"tools/call\": ") || !strings.Contains(want, "[transport error true") || !strings.Contains(want, "last: connection closed") {
		t.Fatalf("recording saw:\n%s", want)
	}
	srv.stop(t)
	replaySame(t, dir, id, want, work)
	if cmd.Process != nil {
		t.Errorf("the replay started the server")
	}
}

// TestCallContextEndsFirst: a call whose context's deadline passes before
// the server answers fails with context.DeadlineExceeded, and the session
// goes on; the replay fails it the same way without waiting.
func TestCallContextEndsFirst(t *testing.T) {
	srv := startServer(t, "stdio")
	dir := t.TempDir()
	work := func(ctx context.Context) (string, error) {
		cs, err := connect(ctx, srv.transport(), nil)
		if err != nil {
			return "", err
		}
		defer cs.Close()
		// slow answers only once cancelled (or pinged): the deadline
		// passes first.
		callCtx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		_, slowErr := cs.CallTool(callCtx, &mcp.CallToolParams{Name: "slow"})
		cancel()
		after, err := forecast(ctx, cs, "Lisbon")
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("deadline %v, timeout %v\n%s", errors.Is(slowErr, context.DeadlineExceeded), isTimeout(slowErr), after), nil
	}
	id, want, err := rrtest.Run(context.Background(), t, dir, "deadline", work)
	if err != nil {
		t.Fatal(err)
	}
	if want != "deadline true, timeout true\nsunny in Lisbon, 21°C" {
		t.Fatalf("recording saw %q", want)
	}
	srv.stop(t)
	rep, got := rrtest.ReplayIn(t, dir, rrtest.Load(t, dir, id), func(ctx context.Context) (string, error) {
		// The replay's deadline is far away: the recorded failure is
		// served at once, not waited for.
		return work(ctx)
	})
	faithful(t, rep)
	if got != want {
		t.Errorf("replay saw %q, the recording %q", got, want)
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// TestSDKTimersDoNotFireOnReplay records a session with the SDK's
// keepalive pinging every 20 ms (the SDK pings sessions of
// protocol versions before 2026-07-28), and a call that the server answers
// only after three pings: pings are not boundaries, and on replay
// (server gone) they are answered at once, so the keepalive never closes
// the session, and the call is served without waiting for anything.
func TestSDKTimersDoNotFireOnReplay(t *testing.T) {
	srv := startServer(t, "stdio")
	dir := t.TempDir()
	work := func(ctx context.Context) (string, error) {
		cs, err := connectVersion(ctx, srv.transport(), &mcp.ClientOptions{KeepAlive: 20 * time.Millisecond, KeepAliveFailureThreshold: 1000}, "2025-11-25")
		if err != nil {
			return "", err
		}
		defer cs.Close()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "slow"})
		if err != nil {
			return "", err
		}
		pingErr := cs.Ping(ctx, nil)
		after, err := forecast(ctx, cs, "Lisbon")
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s\nping: %v\n%s", text(res.Content), pingErr, after), nil
	}
	id, want, err := rrtest.Run(context.Background(), t, dir, "keepalive", work)
	if err != nil {
		t.Fatal(err)
	}
	if want != "done after 3 pings\nping: <nil>\nsunny in Lisbon, 21°C" {
		t.Fatalf("recording saw %q", want)
	}
	for _, r := range storetest.ReadRun(t, dir, id).Records {
		if strings.Contains(r.Name, "ping") {
			t.Errorf("a ping was recorded as a boundary: %s %s", r.Kind, r.Name)
		}
	}
	srv.stop(t)
	for range 3 {
		replaySame(t, dir, id, want, work)
	}
}

// TestConnectFailureReplaysTheSameError: a server command that cannot be
// started fails Connect; the replay fails it with the same error.
func TestConnectFailureReplaysTheSameError(t *testing.T) {
	dir := t.TempDir()
	work := func(ctx context.Context) (string, error) {
		_, err := connect(ctx, &mcp.CommandTransport{Command: exec.Command(dir + "/no-such-server")}, nil)
		return describeErr(err), nil
	}
	id, want, _ := rrtest.Run(context.Background(), t, dir, "connect", work)
	if !strings.Contains(want, "no-such-server") {
		t.Fatalf("recording saw %q", want)
	}
	replaySame(t, dir, id, want, work)
}

// TestCallsNeedTheRunsContext: a session connected without a run, and a
// call made without one, fail with errors saying what to pass.
func TestCallsNeedTheRunsContext(t *testing.T) {
	srv := startServer(t, "stdio")
	if _, err := connect(context.Background(), srv.transport(), nil); !errors.Is(err, otelrr.ErrNoRun) || !strings.Contains(err.Error(), "pass the run's context to Client.Connect") {
		t.Errorf("Connect without a run: %v", err)
	}
	if n := srv.stdio.count(t, "start"); n != 0 {
		t.Errorf("the server was started without a run")
	}
	_, _, err := rrtest.Run(context.Background(), t, t.TempDir(), "norun", func(ctx context.Context) (string, error) {
		cs, err := connect(ctx, srv.transport(), nil)
		if err != nil {
			return "", err
		}
		defer cs.Close()
		_, err = forecast(context.Background(), cs, "Lisbon")
		if !errors.Is(err, otelrr.ErrNoRun) || !strings.Contains(err.Error(), "pass the run's context to every call") {
			t.Errorf("a call without a run: %v", err)
		}
		return forecast(ctx, cs, "Lisbon") // the session goes on
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.stdio.count(t, "call forecast"); n != 1 {
		t.Errorf("the server ran forecast %d times, want once", n)
	}
}
