package otelrr_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/rrtest"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/internal/fakeapi"
	"github.com/agentrr/agentrr/internal/otlptest"
	"github.com/agentrr/agentrr/internal/storetest"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
)

// scanForwarded fails the test if a request forwarded to sink holds
// secret; it returns how many requests it scanned.
func scanForwarded(t *testing.T, sink *otlptest.Sink, secret string) int {
	t.Helper()
	bodies := sink.Bodies()
	for i, b := range bodies {
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("forwarded OTLP request %d holds %q", i, secret)
		}
	}
	return len(bodies)
}

// scanRun fails the test if any decoded boundary of run id holds secret.
func scanRun(t *testing.T, dir, id, secret string) {
	t.Helper()
	for _, r := range storetest.ReadRun(t, dir, id).Records {
		if blob := fmt.Sprint(string(r.Request), string(r.Response), r.Error, r.Attributes); strings.Contains(blob, secret) {
			t.Errorf("boundary seq %d holds %q", r.Seq, secret)
		}
	}
}

var emailPattern = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`)

// account is what the redaction agent's tool looks up: a password, a
// session token it returns, an e-mail address in free text.
type account struct {
	User     string `json:"user"`
	Password string `json:"password"`
	Note     string `json:"note"`
}

type session struct {
	Token string `json:"token"`
	Hello string `json:"hello"`
}

// loginAgent logs in with a tool and sends the session to an LLM; tool
// reports what the real tool received.
func loginAgent(password string, sawPassword *string, gotToken *string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		s, err := otelrr.Tool(ctx, "login", account{User: "alice", Password: password, Note: "reach me at alice@example.com"},
			func(_ context.Context, a account) (session, error) {
				*sawPassword = a.Password
				return session{Token: "tok-LIVE-SESSION-777", Hello: "welcome alice@example.com"}, nil
			})
		if err != nil {
			return err
		}
		*gotToken = s.Token
		_, err = otelrr.LLM(ctx, "fake", "m-1", map[string]any{"messages": []map[string]string{{"role": "user", "content": "my token is " + s.Token}}},
			func(context.Context, map[string]any) (string, error) { return "ok", nil })
		return err
	}
}

var redactionRules = otelrr.WithRedaction(
	otelrr.RedactKey("password", "token"),
	otelrr.RedactPath("messages[0].content"),
	otelrr.RedactPattern(emailPattern),
)

func TestRedactedValuesNeverStoredNorForwarded(t *testing.T) {
	t.Setenv("AGENTRR_REDACTION_KEY", "test-redaction-key")
	const password = "hunter2-CORRECT-HORSE"
	dir := t.TempDir()
	fwd := otlptest.NewSink(t)
	tp, err := otelrr.NewTracerProvider(context.Background(), otelrr.WithStore(dir), redactionRules,
		otelrr.WithForwarding(otelrr.ForwardEndpoint(fwd.URL)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, run, err := tp.StartRun(context.Background(), "login")
	if err != nil {
		t.Fatal(err)
	}
	var saw, token string
	if err := loginAgent(password, &saw, &token)(ctx); err != nil {
		t.Fatal(err)
	}
	if err := run.End(nil); err != nil {
		t.Fatal(err)
	}
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if saw != password {
		t.Errorf("the real tool got password %q: redaction must only change what is stored", saw)
	}
	if !regexp.MustCompile(`^\[redacted:hmac:[0-9a-f]{16}\]$`).MatchString(token) {
		t.Errorf("the agent got token %q while recording; want the redacted value replay will give it", token)
	}
	for _, secret := range []string{password, "tok-LIVE-SESSION-777", "alice@example.com", "test-redaction-key"} {
		storetest.NoSecrets(t, dir, secret)
		scanRun(t, dir, run.TraceID(), secret)
		if n := scanForwarded(t, fwd, secret); n == 0 {
			t.Fatal("nothing was forwarded")
		}
	}
	rec := storetest.ReadRun(t, dir, run.TraceID()).Records
	if !strings.Contains(string(rec[0].Request), `"password":"[redacted:hmac:`) || !strings.Contains(string(rec[0].Response), `"token":"[redacted:hmac:`) ||
		!strings.Contains(string(rec[1].Request), `"content":"[redacted:hmac:`) {
		t.Errorf("stored payloads:\n%s\n%s\n%s", rec[0].Request, rec[0].Response, rec[1].Request)
	}
}

// A redacted value still counts: replayed with the same secret the run is
// faithful; with another one it diverges at that boundary, naming the
// field. Without the key the stored value is a plain marker and a changed
// secret goes unnoticed (the documented trade-off).
func TestRedactedValuesStillCountOnReplay(t *testing.T) {
	record := func(t *testing.T, key string) (dir, id string) {
		t.Setenv("AGENTRR_REDACTION_KEY", key)
		dir = t.TempDir()
		tp := newTP(t, dir, redactionRules)
		ctx, run, err := tp.StartRun(context.Background(), "login")
		if err != nil {
			t.Fatal(err)
		}
		var saw, tok string
		if err := loginAgent("pw-ONE-1111", &saw, &tok)(ctx); err != nil {
			t.Fatal(err)
		}
		run.End(nil)
		return dir, run.TraceID()
	}
	replay := func(t *testing.T, dir, id, key, password string) (*analyze.Report, bool) {
		t.Setenv("AGENTRR_REDACTION_KEY", key)
		rec := rrtest.Load(t, dir, id)
		ran := false
		rep, err := replayer.Replay(context.Background(), rec, func(ctx context.Context) error {
			tp := newTP(t, dir, redactionRules)
			ctx, run, err := tp.StartRun(ctx, "login")
			if err != nil {
				return err
			}
			var saw, tok string
			agentErr := loginAgent(password, &saw, &tok)(ctx)
			ran = saw != ""
			run.End(agentErr)
			return agentErr
		})
		if err != nil {
			t.Fatal(err)
		}
		return rep, ran
	}

	t.Run("with the key", func(t *testing.T) {
		dir, id := record(t, "k-1")
		if rep, ran := replay(t, dir, id, "k-1", "pw-ONE-1111"); !rep.Faithful() || ran {
			t.Errorf("same secret: faithful %v (%+v), tool ran %v", rep.Faithful(), rep.Divergences, ran)
		}
		rep, _ := replay(t, dir, id, "k-1", "pw-TWO-2222")
		if rep.Faithful() || rep.Divergences[0].Seq != 0 || rep.Divergences[0].Reason != analyze.ReasonSignature {
			t.Fatalf("another secret: %+v, want a signature mismatch at seq 0", rep.Divergences)
		}
		if d := rep.Divergences[0].Diff; len(d) != 1 || d[0].Path != "password" {
			t.Errorf("diff %+v, want the one change at password", d)
		}
		if rep, _ := replay(t, dir, id, "", "pw-ONE-1111"); rep.Faithful() {
			t.Error("a replay without the key matched a recording made with it")
		}
	})
	t.Run("without a key", func(t *testing.T) {
		dir, id := record(t, "")
		if rep, _ := replay(t, dir, id, "", "pw-TWO-2222"); !rep.Faithful() {
			t.Errorf("without a key a changed secret is not detected (documented); got %+v", rep.Divergences)
		}
	})
}

// AGENTRR_REDACT_KEYS adds key names without a code change.
func TestRedactKeysFromTheEnvironment(t *testing.T) {
	t.Setenv("AGENTRR_REDACT_KEYS", " ssn , Card ")
	t.Setenv("AGENTRR_REDACTION_KEY", "k")
	dir := t.TempDir()
	tp := newTP(t, dir)
	ctx, run, err := tp.StartRun(context.Background(), "env")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := otelrr.Tool(ctx, "pay", map[string]string{"ssn": "123-45-6789", "card": "4111111111111111", "amount": "10"},
		func(context.Context, map[string]string) (string, error) { return "paid", nil }); err != nil {
		t.Fatal(err)
	}
	run.End(nil)
	for _, s := range []string{"123-45-6789", "4111111111111111"} {
		scanRun(t, dir, run.TraceID(), s)
	}
	if r := storetest.ReadRun(t, dir, run.TraceID()).Records[0]; !strings.Contains(string(r.Request), `"amount":"10"`) {
		t.Errorf("request %s", r.Request)
	}
}

// Through the HTTP transport: the rules apply to the API's own request and
// response bodies (and the GenAI attributes derived from them), JSON and
// streamed; the server gets the real request; API keys never reach the
// store or a forwarded span. Replayed with the server gone, the run is
// faithful.
func TestRedactionThroughTheHTTPTransport(t *testing.T) {
	const apiKey = "sk-agentrr-FORWARDSECRET-0123456789"
	const email = "bob99@example.com" // the fake model copies it into its tool call
	for _, sc := range sdkCases {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stream=%v", sc.name, stream), func(t *testing.T) {
				t.Setenv("AGENTRR_REDACTION_KEY", "transport-key")
				srv := fakeapi.New()
				defer srv.Close()
				srv.APIKey = apiKey
				dir := t.TempDir()
				fwd := otlptest.NewSink(t)
				rules := otelrr.WithRedaction(otelrr.RedactPattern(emailPattern))
				tp := newTP(t, dir, rules, otelrr.WithForwarding(otelrr.ForwardEndpoint(fwd.URL)))
				ctx, run, err := tp.StartRun(context.Background(), "sdk")
				if err != nil {
					t.Fatal(err)
				}
				a := &sdkAgent{baseURL: sc.baseURL(srv), apiKey: apiKey, stream: stream, question: "Contact " + email + " about order A-1001."}
				want, agentErr := sc.run(a)(ctx)
				if err := run.End(agentErr); err != nil || agentErr != nil {
					t.Fatalf("record: %v %v", agentErr, err)
				}
				tp.Shutdown(context.Background())
				reqs := srv.Requests()
				if len(reqs) == 0 {
					t.Fatal("no request reached the server")
				}
				for _, secret := range []string{apiKey, "FORWARDSECRET", email} {
					storetest.NoSecrets(t, dir, secret)
					scanRun(t, dir, run.TraceID(), secret)
					if n := scanForwarded(t, fwd, secret); n == 0 {
						t.Fatal("nothing was forwarded")
					}
				}
				rp := &sdkAgent{baseURL: a.baseURL, apiKey: "replay-key", stream: stream, question: a.question, httpBase: sdkDialGuard(t)}
				rep, got, err := sdkReplayOn(t, dir, run.TraceID(), []otelrr.Option{rules}, nil, sc.run(rp))
				if err != nil || !rep.Faithful() || got != want {
					t.Errorf("replay: %v, answer %q (recorded %q), divergences %+v", err, got, want, rep.Divergences)
				}
			})
		}
	}
}

// errors.Is still works for the agent, for a registered sentinel, whether
// or not a pattern changes the error's text.
func TestRedactionLeavesOtherErrorsAlone(t *testing.T) {
	t.Setenv("AGENTRR_REDACTION_KEY", "k")
	dir := t.TempDir()
	sentinel := errors.New("not found")
	tp := newTP(t, dir, redactionRules, otelrr.WithError("not_found", sentinel))
	ctx, run, err := tp.StartRun(context.Background(), "errs")
	if err != nil {
		t.Fatal(err)
	}
	_, err = otelrr.Tool(ctx, "find", map[string]int{"id": 1}, func(context.Context, map[string]int) (string, error) { return "", sentinel })
	if !errors.Is(err, sentinel) {
		t.Errorf("error %v lost its identity", err)
	}
	_, err = otelrr.Tool(ctx, "find", map[string]int{"id": 2}, func(context.Context, map[string]int) (string, error) {
		return "", fmt.Errorf("no account for carol@example.com: %w", sentinel)
	})
	if err == nil || strings.Contains(err.Error(), "carol@example.com") || !strings.Contains(err.Error(), "no account for [redacted:hmac:") {
		t.Errorf("error %v: want the address redacted, as replay will return it", err)
	}
	if !errors.Is(err, sentinel) {
		t.Errorf("redacted error %v lost its identity", err)
	}
	run.End(nil)
	scanRun(t, dir, run.TraceID(), "carol@example.com")
}
