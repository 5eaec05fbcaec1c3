// Package exampletest holds what the examples' tests share: a transport
// that fails the test on any dial, reading the run id an example printed,
// and the test that records an example's command and then replays it
// offline.
package exampletest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/internal/handshake"
	"github.com/agentrr/agentrr/otelrr"
)

// DialGuard returns a transport that fails the test on any connection
// attempt.
func DialGuard(t *testing.T) http.RoundTripper {
	return &http.Transport{DialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
		t.Errorf("replay dialed %s %s", network, addr)
		return nil, errors.New("no network during replay")
	}}
}

var runIDLine = regexp.MustCompile(`(?m)^run_id: ([0-9a-f]{32})$`)

// RunID returns the run id of the "run_id: <id>" line an example printed
// in out, failing the test when there is none.
func RunID(t *testing.T, out string) string {
	t.Helper()
	m := runIDLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no run_id line in:\n%s", out)
	}
	return m[1]
}

// AgentLines are the lines of out the agent printed about its work: not
// the run id, nor where it talked, nor the replay's verdict.
func AgentLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "run_id:") && !strings.HasPrefix(l, "talking to") && !strings.HasPrefix(l, "replayed ") {
			lines = append(lines, l)
		}
	}
	return lines
}

// CheckPrinted reports an error for each of wants missing from out, what a
// run printed; what names the run ("recording", "replay").
func CheckPrinted(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("the %s printed:\n%s\nwant %q", what, out, want)
		}
	}
}

// Command runs an example's command once, in-process: its tracer provider
// takes the tracer options (the store), its model client the transport
// (nil: the default) and it prints to out.
type Command func(tracer []otelrr.Option, transport http.RoundTripper, out io.Writer) error

// RecordThenReplay runs cmd as `go run` would, then as `agentrr replay`
// would: first recording into a new store (with the replay hint
// silenced), then replaying the run it printed the id of, with a
// transport that fails the test on any dial. It fails the test when
// either run fails or when the replay printed other agent lines
// (AgentLines) than the recording, and returns the run id and what each
// run printed.
func RecordThenReplay(t *testing.T, cmd Command) (id, rec, rp string) {
	t.Helper()
	tracer := []otelrr.Option{otelrr.WithStore(t.TempDir())}
	t.Setenv("AGENTRR_EXAMPLE_QUIET", "1")
	t.Setenv(handshake.EnvReplay, "")
	var recOut bytes.Buffer
	if err := cmd(tracer, nil, &recOut); err != nil {
		t.Fatalf("record: %v\n%s", err, recOut.String())
	}
	id = RunID(t, recOut.String())

	t.Setenv(handshake.EnvReplay, id)
	var rpOut bytes.Buffer
	if err := cmd(tracer, DialGuard(t), &rpOut); err != nil {
		t.Fatalf("replay: %v\n%s", err, rpOut.String())
	}
	if got, want := AgentLines(rpOut.String()), AgentLines(recOut.String()); !slices.Equal(got, want) {
		t.Errorf("replay printed\n%q\nrecording printed\n%q", got, want)
	}
	return id, recOut.String(), rpOut.String()
}
