package otelrr_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"
	ooption "github.com/openai/openai-go/v3/option"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/fakeapi"
	"github.com/agentrr/agentrr/internal/storetest"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
)

// TestSDKRetriesReplayWithoutWaiting records the SDK's own retries — a
// 429 with Retry-After: 3, then a 500, then success — as one boundary per
// attempt, and replays them in the same order without the waits.
func TestSDKRetriesReplayWithoutWaiting(t *testing.T) {
	forEachSDK(t, func(t *testing.T, sc sdkCase, srv *fakeapi.Server) {
		srv.Fail(fakeapi.Fault{Status: http.StatusTooManyRequests, RetryAfter: "3"}, fakeapi.Fault{Status: http.StatusInternalServerError})
		dir := t.TempDir()
		rec := &sdkAgent{baseURL: sc.baseURL(srv), apiKey: "test-key", maxRetries: 2}
		start := time.Now()
		id, want, err := sdkRecord(t, dir, sc.run(rec))
		if err != nil || want != sdkWantAnswer {
			t.Fatalf("record: %q, %v", want, err)
		}
		if took := time.Since(start); took < 3*time.Second {
			t.Fatalf("recording took %v: the SDK did not honour Retry-After: 3 (is the test still testing retries?)", took)
		}
		run := storetest.ReadRun(t, dir, id)
		if got := sdkKinds(t, dir, id)[:4]; !slices.Equal(got, []string{"llm " + sc.model, "llm " + sc.model, "llm " + sc.model, "tool lookup_order"}) {
			t.Fatalf("boundaries %q: want the three attempts, then the tool", got)
		}
		var first struct {
			Status int
			Header map[string][]string
		}
		if err := json.Unmarshal(run.Records[0].Response, &first); err != nil || first.Status != 429 || first.Header["Retry-After"][0] != "3" {
			t.Errorf("first attempt recorded as %+v (%v), want the 429 with its Retry-After", first, err)
		}

		srv.Close()
		rp := &sdkAgent{baseURL: rec.baseURL, apiKey: "test-key", maxRetries: 2, httpBase: sdkDialGuard(t)}
		start = time.Now()
		rep, got, err := sdkReplay(t, dir, id, sc.run(rp))
		took := time.Since(start)
		if err != nil || !rep.Faithful() || got != want {
			t.Fatalf("replay: err %v, answer %q, divergences %+v", err, got, rep.Divergences)
		}
		// Loose on purpose (the machine may be busy): a replay that
		// honoured the recorded Retry-After alone would take 3 s.
		if took >= 3*time.Second {
			t.Errorf("replay took %v: it waited for the recorded Retry-After", took)
		}
		replayed := storetest.ReadRun(t, dir, rep.ReplayTrace)
		for i := range 2 {
			if replayed.Records[i].Attributes[boundary.AttrHTTPRetryWaitSkipped] == nil {
				t.Errorf("replayed attempt %d does not say its retry wait was skipped", i)
			}
		}
	})
}

// TestSDKRateLimitErrorReplaysWithItsHeaders: when the SDK gives up (no
// retries left), the agent gets the 429 with its Retry-After header, on
// replay too.
func TestSDKRateLimitErrorReplaysWithItsHeaders(t *testing.T) {
	srv := fakeapi.New()
	defer srv.Close()
	srv.Fail(fakeapi.Fault{Status: http.StatusTooManyRequests, RetryAfter: "30"})
	dir := t.TempDir()
	retryAfter := func(err error) string {
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.Response == nil {
			return "no API error: " + err.Error()
		}
		return apiErr.Response.Header.Get("Retry-After")
	}
	var recorded, replayed string
	rec := &sdkAgent{baseURL: srv.OpenAIBaseURL(), apiKey: "test-key"}
	id, _, err := sdkRecord(t, dir, func(ctx context.Context) (string, error) {
		_, err := rec.openAI(ctx)
		recorded = retryAfter(err)
		return "", err
	})
	if err == nil || recorded != "30" {
		t.Fatalf("record: err %v, Retry-After %q", err, recorded)
	}
	srv.Close()
	rp := &sdkAgent{baseURL: rec.baseURL, apiKey: "test-key", httpBase: sdkDialGuard(t)}
	rep, _, _ := sdkReplay(t, dir, id, func(ctx context.Context) (string, error) {
		_, err := rp.openAI(ctx)
		replayed = retryAfter(err)
		return "", err
	})
	if !rep.Faithful() || replayed != "30" || rep.AgentError != err.Error() {
		t.Errorf("replay: faithful %v, Retry-After %q, agent error %q (recorded %q)", rep.Faithful(), replayed, rep.AgentError, err)
	}
}

// TestSDKCutStreamReplaysAsTheSameCut: a stream the server drops part-way
// replays as the same deltas, then the same error.
func TestSDKCutStreamReplaysAsTheSameCut(t *testing.T) {
	forEachSDK(t, func(t *testing.T, sc sdkCase, srv *fakeapi.Server) {
		srv.EventDelay = time.Millisecond
		srv.Fail(fakeapi.Fault{CutAfter: 4})
		dir := t.TempDir()
		rec := &sdkAgent{baseURL: sc.baseURL(srv), apiKey: "test-key", stream: true, maxRetries: 2}
		id, _, recErr := sdkRecord(t, dir, sc.run(rec))
		if recErr == nil || len(rec.deltas) == 0 {
			t.Fatalf("record: err %v after %d deltas; want some deltas, then an error", recErr, len(rec.deltas))
		}
		var resp struct {
			BodyError string `json:"body_error"`
		}
		if err := json.Unmarshal(storetest.ReadRun(t, dir, id).Records[0].Response, &resp); err != nil || resp.BodyError == "" {
			t.Errorf("the cut is not recorded: %+v %v", resp, err)
		}
		srv.Close()
		rp := &sdkAgent{baseURL: rec.baseURL, apiKey: "test-key", stream: true, maxRetries: 2, httpBase: sdkDialGuard(t)}
		rep, _, err := sdkReplay(t, dir, id, sc.run(rp))
		if !rep.Faithful() || err == nil || err.Error() != recErr.Error() {
			t.Fatalf("replay: faithful %v, err %v; want the recorded error %q", rep.Faithful(), err, recErr)
		}
		if !slices.Equal(rp.deltas, rec.deltas) {
			t.Errorf("replayed deltas %q, recorded %q", rp.deltas, rec.deltas)
		}
	})
}

// TestSDKSecretsNeverStored records with an API key (and one call with a
// wrong key, which the server quotes back): neither key's bytes appear in
// any file of the store, in any decoded boundary, or in any span.
func TestSDKSecretsNeverStored(t *testing.T) {
	const key, wrongKey = "sk-agentrr-TESTSECRET-0123456789", "sk-wrong-TESTSECRET-9876543210"
	forEachSDK(t, func(t *testing.T, sc sdkCase, srv *fakeapi.Server) {
		srv.APIKey = key
		dir := t.TempDir()
		exp := tracetest.NewInMemoryExporter()
		rec := &sdkAgent{baseURL: sc.baseURL(srv), apiKey: key, stream: true}
		wrong := &sdkAgent{baseURL: sc.baseURL(srv), apiKey: wrongKey}
		agent := func(rec, wrong *sdkAgent) func(context.Context) (string, error) {
			return func(ctx context.Context) (string, error) {
				_, err := sc.run(wrong)(ctx)
				if err == nil || !strings.Contains(err.Error(), "401") {
					return "", errors.New("the wrong key was not refused")
				}
				if strings.Contains(sdkErrorMessage(err), wrongKey) {
					return "", errors.New("the agent saw the key in the error: it would not on replay")
				}
				return sc.run(rec)(ctx)
			}
		}
		id, want, err := sdkRecord(t, dir, agent(rec, wrong), otelrr.WithSpanProcessor(sdktrace.NewSimpleSpanProcessor(exp)))
		if err != nil {
			t.Fatal(err)
		}
		if srv.Requests()[0].Header.Get("Authorization") == "" {
			t.Fatal("the key was not sent to the server")
		}
		for _, secret := range []string{key, wrongKey, "TESTSECRET"} {
			storetest.NoSecrets(t, dir, secret)
			for _, r := range storetest.ReadRun(t, dir, id).Records {
				if blob := fmt.Sprint(r.Request, r.Response, r.Error, r.Attributes); strings.Contains(blob, secret) || bytes.Contains(r.Request, []byte(secret)) || bytes.Contains(r.Response, []byte(secret)) {
					t.Errorf("boundary seq %d holds %q", r.Seq, secret)
				}
			}
			for _, s := range exp.GetSpans() {
				if blob := fmt.Sprintf("%v %v %v %v", s.Name, s.Attributes, s.Events, s.Status); strings.Contains(blob, secret) {
					t.Errorf("span %q holds %q", s.Name, secret)
				}
			}
		}
		// Keys are not part of the signature: the run replays with another key.
		srv.Close()
		rp := &sdkAgent{baseURL: rec.baseURL, apiKey: "replay-key", stream: true, httpBase: sdkDialGuard(t)}
		rpWrong := &sdkAgent{baseURL: rec.baseURL, apiKey: "another-wrong-key", httpBase: sdkDialGuard(t)}
		rep, got, err := sdkReplay(t, dir, id, agent(rp, rpWrong))
		if err != nil || !rep.Faithful() || got != want {
			t.Errorf("replay with other keys: err %v, answer %q, divergences %+v", err, got, rep.Divergences)
		}
	})
}

// sdkErrorMessage is the message of an SDK API error (its body's message).
func sdkErrorMessage(err error) string {
	var oe *openai.Error
	if errors.As(err, &oe) {
		return oe.Message + oe.RawJSON()
	}
	var ae *anthropic.Error
	if errors.As(err, &ae) {
		return ae.RawJSON()
	}
	return err.Error()
}

// TestSDKEditedRequestDiverges: a replay whose request differs from the
// recording (another temperature, another question) halts at that call
// with a diff naming the field.
func TestSDKEditedRequestDiverges(t *testing.T) {
	cases := []struct {
		sdk      sdkCase
		edit     func(*sdkAgent)
		wantPath string
	}{
		{sdkCases[0], func(a *sdkAgent) { a.temperature = 0.7 }, "body.temperature"},
		{sdkCases[1], func(a *sdkAgent) { a.question = "Where is my order A-1002?" }, "body.messages[0].content[0].text"},
	}
	for _, c := range cases {
		t.Run(c.sdk.name, func(t *testing.T) {
			t.Parallel()
			srv := fakeapi.New()
			defer srv.Close()
			dir := t.TempDir()
			rec := &sdkAgent{baseURL: c.sdk.baseURL(srv), apiKey: "test-key", temperature: 0.2}
			id, _, err := sdkRecord(t, dir, c.sdk.run(rec))
			if err != nil {
				t.Fatal(err)
			}
			srv.Close()
			rp := &sdkAgent{baseURL: rec.baseURL, apiKey: "test-key", temperature: 0.2, httpBase: sdkDialGuard(t)}
			c.edit(rp)
			var asDivergence bool
			rep, _, err := sdkReplay(t, dir, id, func(ctx context.Context) (string, error) {
				out, err := c.sdk.run(rp)(ctx)
				var de *replayer.DivergenceError
				asDivergence = errors.As(err, &de)
				return out, err
			})
			if err == nil || rep.Faithful() || !asDivergence {
				t.Fatalf("replay: err %v (a DivergenceError through the SDK: %v), faithful %v", err, asDivergence, rep.Faithful())
			}
			d := rep.Divergences[0]
			if d.Seq != 0 || d.Reason != analyze.ReasonSignature {
				t.Fatalf("divergence %+v, want a signature mismatch at seq 0", d)
			}
			var paths []string
			for _, ch := range d.Diff {
				paths = append(paths, ch.Path)
			}
			if !slices.Equal(paths, []string{c.wantPath}) {
				t.Errorf("diff paths %q, want [%s]", paths, c.wantPath)
			}
			if !strings.Contains(err.Error(), c.wantPath) {
				t.Errorf("the agent's error does not name %s: %v", c.wantPath, err)
			}
		})
	}
}

// TestTransportWithoutRunFails: a request whose context has no run fails
// with ErrNoRun, and nothing is sent.
func TestTransportWithoutRunFails(t *testing.T) {
	srv := fakeapi.New()
	defer srv.Close()
	client := openai.NewClient(ooption.WithBaseURL(srv.OpenAIBaseURL()), ooption.WithAPIKey("k"),
		ooption.WithHTTPClient(otelrr.HTTPClient(nil)), ooption.WithMaxRetries(0))
	_, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	if !errors.Is(err, otelrr.ErrNoRun) {
		t.Errorf("err = %v, want ErrNoRun", err)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
}

// TestSDKConnectionErrorReplaysWithTheSameText: a connection error (and
// the SDK's retry of it) replays as the same error text.
func TestSDKConnectionErrorReplaysWithTheSameText(t *testing.T) {
	srv := fakeapi.New()
	base := srv.AnthropicBaseURL()
	srv.Close() // nothing listens there any more
	dir := t.TempDir()
	rec := &sdkAgent{baseURL: base, apiKey: "test-key", maxRetries: 1}
	id, _, recErr := sdkRecord(t, dir, rec.anthropic)
	if recErr == nil || !strings.Contains(recErr.Error(), "connect") {
		t.Fatalf("record err = %v, want a connection error", recErr)
	}
	run := storetest.ReadRun(t, dir, id)
	if len(run.Records) != 2 || !run.Records[0].Failed || run.Records[0].Attributes[boundary.AttrHTTPConnectFailed] != true {
		t.Fatalf("recorded %d boundaries (%+v), want 2 failed attempts whose connection failed", len(run.Records), run.Records)
	}
	rp := &sdkAgent{baseURL: base, apiKey: "test-key", maxRetries: 1, httpBase: sdkDialGuard(t)}
	rep, _, err := sdkReplay(t, dir, id, rp.anthropic)
	if !rep.Faithful() || err == nil || err.Error() != recErr.Error() {
		t.Errorf("replay: faithful %v, err %v; want %q", rep.Faithful(), err, recErr)
	}
}
