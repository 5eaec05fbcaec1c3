package mcprr_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/internal/storetest"
	"github.com/agentrr/agentrr/rrtest"
)

// TestServerSecretsNeverStored gives the stdio server a token in its
// environment and a key on its command line, and the HTTP server a token
// in its URL: the connect boundaries show how the servers were reached
// with those values REDACTED, and a result that quotes the token is stored
// (and handed to the agent) masked; no file of the store holds a secret.
func TestServerSecretsNeverStored(t *testing.T) {
	const (
		envSecret  = "wt-secret-0123456789"
		argSecret  = "ak-secret-0123456789"
		flagSecret = "fs-secret-0123456789"
		urlSecret  = "qt-secret-0123456789"
	)
	stdio := newStdioServer(t)
	stdio.env = []string{envToken + "=" + envSecret, "WEATHER_REGION=eu"}
	httpSrv := newHTTPServer(t, true)
	dir := t.TempDir()
	work := func(ctx context.Context) (string, error) {
		cs, err := connect(ctx, &mcp.CommandTransport{Command: stdio.command("--api-key="+argSecret, "--auth-token", flagSecret, "--verbose")}, nil)
		if err != nil {
			return "", err
		}
		defer cs.Close()
		got, err := forecast(ctx, cs, "Token")
		if err != nil {
			return "", err
		}
		hs, err := connect(ctx, &mcp.StreamableClientTransport{Endpoint: httpSrv.URL + "/mcp?token=" + urlSecret + "&units=metric"}, nil)
		if err != nil {
			return "", err
		}
		defer hs.Close()
		other, err := forecast(ctx, hs, "Faro")
		return got + "\n" + other, err
	}
	id, want, err := rrtest.Run(context.Background(), t, dir, "secrets", work)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(want, "(token ********************)") {
		t.Errorf("the agent saw %q, want the token masked", want)
	}
	var connects []map[string]any
	for _, r := range storetest.ReadRun(t, dir, id).Records {
		if strings.HasPrefix(r.Name, "connect ") {
			var info map[string]any
			if err := json.Unmarshal(r.Response, &info); err != nil {
				t.Fatal(err)
			}
			connects = append(connects, info)
		}
	}
	if len(connects) != 2 {
		t.Fatalf("%d connect boundaries, want 2", len(connects))
	}
	cmdline, _ := json.Marshal(connects[0]["command"])
	env, _ := json.Marshal(connects[0]["env"])
	if !strings.Contains(string(cmdline), `"--api-key=REDACTED","--auth-token","REDACTED","--verbose"`) {
		t.Errorf("stored command line %s", cmdline)
	}
	if !strings.Contains(string(env), `"WEATHER_TOKEN":"REDACTED"`) || !strings.Contains(string(env), `"WEATHER_REGION":"eu"`) || strings.Contains(string(env), "PATH") {
		t.Errorf("stored environment %s: want the server's own variables only, the token REDACTED", env)
	}
	if ep := connects[1]["endpoint"]; ep != httpSrv.URL+"/mcp?token=REDACTED&units=metric" {
		t.Errorf("stored endpoint %v", ep)
	}
	replaySame(t, dir, id, want, work)
	if n := stdio.count(t, "start"); n != 1 {
		t.Errorf("the server was started %d times, want once (when recording)", n)
	}
	storetest.NoSecrets(t, dir, envSecret, argSecret, flagSecret, urlSecret)
}

// TestRedactionRulesApplyToMCPPayloads redacts a tool argument, and a
// variable of the server's environment, by key (AGENTRR_REDACT_KEYS): the
// server gets the real values, the store holds tags, the replay with the same value is faithful and one with another
// value diverges at that argument.
func TestRedactionRulesApplyToMCPPayloads(t *testing.T) {
	const password = "hunter2-correct-horse"
	t.Setenv("AGENTRR_REDACT_KEYS", "password,weather_region")
	t.Setenv("AGENTRR_REDACTION_KEY", "mcprr-test-key")
	srv := startServer(t, "stdio")
	srv.stdio.env = []string{"WEATHER_REGION=north-atlantic-7"}
	dir := t.TempDir()
	login := func(pw string) func(ctx context.Context) (string, error) {
		return func(ctx context.Context) (string, error) {
			cs, err := connect(ctx, srv.transport(), nil)
			if err != nil {
				return "", err
			}
			defer cs.Close()
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "login", Arguments: map[string]any{"password": pw, "note": "hi"}})
			if err != nil {
				return "", err
			}
			return text(res.Content), nil
		}
	}
	id, want, err := rrtest.Run(context.Background(), t, dir, "redaction", login(password))
	if err != nil || want != "logged in: hi" {
		t.Fatalf("recording: %q, %v", want, err)
	}
	if n := srv.stdio.count(t, "call login "+password); n != 1 {
		t.Errorf("the server did not get the real password")
	}
	storetest.NoSecrets(t, dir, password, "north-atlantic-7") // the rules apply to the server's environment, as stored, too
	srv.stop(t)
	rep, got := rrtest.ReplayIn(t, dir, rrtest.Load(t, dir, id), login(password))
	faithful(t, rep)
	if got != want {
		t.Errorf("replay saw %q", got)
	}
	rep, _ = rrtest.ReplayIn(t, dir, rrtest.Load(t, dir, id), login("another-password"))
	if rep.Faithful() || rep.Divergences[0].Reason != analyze.ReasonSignature || len(rep.Divergences[0].Diff) != 1 ||
		rep.Divergences[0].Diff[0].Path != "params.arguments.password" {
		t.Fatalf("replay with another password: %+v", rep.Divergences)
	}
}
