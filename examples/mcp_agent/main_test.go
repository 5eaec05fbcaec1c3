package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/examples/internal/exampletest"
	"github.com/agentrr/agentrr/internal/filetest"
	"github.com/agentrr/agentrr/internal/handshake"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/spanlog"
)

// TestMain lets the test binary be the weather server, as the command is:
// the tests run a copy of it with "serve weather".
func TestMain(m *testing.M) {
	if isServe(os.Args) {
		if err := serveWeather(context.Background()); err != nil {
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// weatherServer copies this test binary to a directory of its own, as the
// weather server's executable, and returns its path and the path of the
// log it appends its tool calls to.
func weatherServer(t *testing.T) (exe, callLog string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	exe = filepath.Join(dir, "weather-server")
	filetest.CopyFile(t, self, exe, 0o755)
	return exe, filepath.Join(dir, "calls.log")
}

// calls is how many tool calls the weather server ran.
func calls(t *testing.T, callLog string) int {
	t.Helper()
	return filetest.CountLines(t, callLog, "")
}

func options(dir, exe, callLog string, out io.Writer) *Options {
	return &Options{
		WeatherServer: exe,
		WeatherArgs:   []string{"serve", "weather"},
		WeatherEnv:    []string{envWeatherLog + "=" + callLog},
		Out:           out,
		TracerOptions: []otelrr.Option{otelrr.WithStore(dir)},
	}
}

// recording is one run of the command, recorded into a store of its own
// with the weather server a copy of this test binary.
type recording struct {
	dir, exe, callLog string
	// printed is what the command printed, outcome what it did.
	printed string
	outcome *Outcome
}

// record runs the command once, recording (with the replay hint silenced).
func record(t *testing.T) *recording {
	t.Helper()
	r := &recording{dir: t.TempDir()}
	r.exe, r.callLog = weatherServer(t)
	t.Setenv("AGENTRR_EXAMPLE_QUIET", "1")
	t.Setenv(handshake.EnvReplay, "")
	var rec bytes.Buffer
	out, err := run(context.Background(), options(r.dir, r.exe, r.callLog, &rec))
	if err != nil {
		t.Fatalf("record: %v\n%s", err, rec.String())
	}
	r.printed, r.outcome = rec.String(), out
	return r
}

// replay runs the command again as a replay of run id, with its options
// edited by edit (when not nil) and a model transport that fails the test
// on any dial, and returns what it printed and did.
func (r *recording) replay(t *testing.T, id string, edit func(*Options)) (string, *Outcome, error) {
	t.Helper()
	t.Setenv(handshake.EnvReplay, id)
	var rp bytes.Buffer
	opts := options(r.dir, r.exe, r.callLog, &rp)
	opts.Transport = exampletest.DialGuard(t)
	if edit != nil {
		edit(opts)
	}
	out, err := run(context.Background(), opts)
	return rp.String(), out, err
}

// TestRecordThenReplayWithTheServersGone records the agent — the model on
// the fake OpenAI server, the weather server a child process over stdio,
// the events server over streamable HTTP — then deletes the weather
// server's executable and replays with no events server, no model and a
// transport that fails on any dial: the replay prints exactly what the
// recording did, is faithful, starts no process and reaches no server.
func TestRecordThenReplayWithTheServersGone(t *testing.T) {
	r := record(t)
	rec, out := r.printed, r.outcome
	id := exampletest.RunID(t, rec)
	exampletest.CheckPrinted(t, "recording", rec,
		"[get_forecast {\"trip_id\":\"TR-2026\"}] Lisbon this weekend: Saturday sunny, 24°C; Sunday cloudy, 21°C.",
		"[find_events {\"trip_id\":\"TR-2026\"}] Saturday: fado night in Alfama",
		"  call_fake_1: locating Lisbon (1/2)\n  call_fake_1: running the forecast model (2/2)",
		"answer: Here is what I found: Lisbon this weekend",
	)
	if !out.WeatherStarted || calls(t, r.callLog) != 1 || out.Events.Calls.Load() != 1 {
		t.Fatalf("recording: weather started %v with %d calls, events %d calls; want started, 1 and 1", out.WeatherStarted, calls(t, r.callLog), out.Events.Calls.Load())
	}

	if err := os.Remove(r.exe); err != nil {
		t.Fatal(err)
	}
	rp, out, err := r.replay(t, id, nil)
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, rp)
	}
	exampletest.CheckPrinted(t, "replay", rp, "replayed "+id+": faithful (weather server started: false, events server requests: 0)")
	if out.WeatherStarted || out.Events != nil || calls(t, r.callLog) != 1 {
		t.Errorf("replay: weather started %v, events server %v, weather calls %d (1 when recording)", out.WeatherStarted, out.Events, calls(t, r.callLog))
	}
	if got, want := exampletest.AgentLines(rp), exampletest.AgentLines(rec); !slices.Equal(got, want) {
		t.Errorf("replay printed\n%q\nrecording printed\n%q", got, want)
	}

	// The store never holds the weather server's key.
	scanned := 0
	_ = filepath.WalkDir(r.dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(path)
			scanned++
			if bytes.Contains(b, []byte(weatherKey)) {
				t.Errorf("%s holds the weather server's key", path)
			}
		}
		return nil
	})
	if scanned == 0 {
		t.Fatal("no store file scanned")
	}

	// And the boundaries are what docs/mcp.md says.
	store, err := spanlog.OpenExisting(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := store.ReadRun(id)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range stored.Records {
		got = append(got, string(b.Kind)+" "+b.Name)
		if b.Name == "get_forecast" && (b.Attributes[boundary.GenAIToolCallID] != "call_fake_1" || b.SpanName != "execute_tool get_forecast") {
			t.Errorf("get_forecast boundary: span %q, attributes %v", b.SpanName, b.Attributes)
		}
	}
	want := []string{
		"mcp connect weather", "mcp server/discover", "mcp connect events", "mcp server/discover",
		"mcp prompts/get travel_desk", "mcp tools/list", "mcp tools/list",
		"llm gpt-4o-mini", "tool get_forecast", "llm gpt-4o-mini", "tool find_events", "llm gpt-4o-mini",
	}
	if !slices.Equal(got, want) {
		t.Errorf("boundaries\n%q\nwant\n%q", got, want)
	}
}

// TestOtherUnitsDivergeAtTheToolCall replays with -units imperial: the
// agent sends get_forecast another argument, and the replay halts at that
// tools/call, naming the argument.
func TestOtherUnitsDivergeAtTheToolCall(t *testing.T) {
	r := record(t)
	_, out, err := r.replay(t, r.outcome.RunID, func(opts *Options) { opts.Units = "imperial" })
	if err == nil || !strings.Contains(err.Error(), "replay diverged") {
		t.Fatalf("replay with other units: %v, want a divergence", err)
	}
	rep := out.Report
	if rep == nil || rep.Faithful() {
		t.Fatalf("replay report: %+v", rep)
	}
	d := rep.Divergences[0]
	if d.Reason != analyze.ReasonSignature || d.ObservedKind != boundary.KindTool || d.ObservedName != "get_forecast" ||
		len(d.Diff) != 1 || d.Diff[0].Path != "params.arguments.units" {
		t.Errorf("divergence: %+v", d)
	}
	if calls(t, r.callLog) != 1 {
		t.Errorf("the weather server ran %d calls, want 1 (when recording)", calls(t, r.callLog))
	}
}
