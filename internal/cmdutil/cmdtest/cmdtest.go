// Package cmdtest holds what the tests of agentrr's commands share: I/O
// streams that write to buffers, a small agent recorded in-process with
// otelrr, and hand-made runs in the states a well-behaved recorder does not
// leave behind (truncated, damaged, still recording).
package cmdtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/rrtest"
	"github.com/agentrr/agentrr/spanlog"
)

// Streams returns I/O streams whose output goes to the returned buffers and
// whose input is empty.
func Streams() (io *cmdutil.IOStreams, stdout, stderr *bytes.Buffer) {
	stdout, stderr = new(bytes.Buffer), new(bytes.Buffer)
	return &cmdutil.IOStreams{In: strings.NewReader(""), Out: stdout, ErrOut: stderr}, stdout, stderr
}

// StoreFunc returns a function opening the existing store at dir, as
// cmdutil.Factory.Store does.
func StoreFunc(dir string) func() (*spanlog.Store, error) {
	return func() (*spanlog.Store, error) { return spanlog.OpenExisting(dir) }
}

// Message is one chat message of the test agent's model.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ChatRequest is the test agent's LLM request.
type ChatRequest struct {
	Model    string    `json:"model"`
	Messages []Message `json:"messages"`
}

// ChatResponse is the test agent's LLM response; it reports token usage.
type ChatResponse struct {
	Text         string `json:"text"`
	InputTokens  int64  `json:"input_tokens"`
	OutputTokens int64  `json:"output_tokens"`
}

// Usage makes otelrr set the GenAI usage attributes.
func (r ChatResponse) Usage() (int64, int64) { return r.InputTokens, r.OutputTokens }

// Model is the test agent's model name.
const Model = "fake-gpt"

// Agent returns a small support agent whose system prompt is prompt. It
// makes 7 boundaries: seq 0 id, 1 clock, 2 llm (12 in / 5 out tokens),
// 3 tool lookup_order, 4 tool lookup_order that fails ("order B-2 not
// found"; the agent carries on), 5 rand, 6 llm (20 in / 9 out tokens).
func Agent(prompt string) func(ctx context.Context) error {
	chat := func(_ context.Context, req ChatRequest) (ChatResponse, error) {
		n := int64(len(req.Messages))
		return ChatResponse{Text: fmt.Sprintf("answer to %d messages", n), InputTokens: 8*n - 4, OutputTokens: 4*n - 3}, nil
	}
	lookup := func(_ context.Context, args map[string]string) (string, error) {
		if args["order_id"] != "A-1001" {
			return "", fmt.Errorf("order %s not found", args["order_id"])
		}
		return "delayed at the depot", nil
	}
	return func(ctx context.Context) error {
		if _, err := otelrr.NewID(ctx); err != nil {
			return err
		}
		if _, err := otelrr.Now(ctx); err != nil {
			return err
		}
		msgs := []Message{{"system", prompt}, {"user", "Where is my order A-1001?"}}
		if _, err := otelrr.LLM(ctx, "fake", Model, ChatRequest{Model, msgs}, chat); err != nil {
			return err
		}
		status, err := otelrr.Tool(ctx, "lookup_order", map[string]string{"order_id": "A-1001"}, lookup)
		if err != nil {
			return err
		}
		if _, err := otelrr.Tool(ctx, "lookup_order", map[string]string{"order_id": "B-2"}, lookup); err == nil {
			return errors.New("lookup of B-2 succeeded")
		}
		if _, err := otelrr.Rand(ctx); err != nil {
			return err
		}
		msgs = append(msgs, Message{"tool", status})
		_, err = otelrr.LLM(ctx, "fake", Model, ChatRequest{Model, msgs}, chat)
		return err
	}
}

// Record runs agent inside one run named name, recorded with otelrr into
// the store at dir (created if need be), and returns the run's trace id.
// The agent's error is recorded with the run, not returned.
func Record(t testing.TB, dir, name string, agent func(context.Context) error, opts ...otelrr.Option) string {
	t.Helper()
	return record(context.Background(), t, dir, name, agent, opts...)
}

func record(ctx context.Context, t testing.TB, dir, name string, agent func(context.Context) error, opts ...otelrr.Option) string {
	t.Helper()
	id, _, _ := rrtest.Run(ctx, t, dir, name, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, agent(ctx)
	}, append([]otelrr.Option{otelrr.WithServiceName("cmdtest")}, opts...)...)
	return id
}

// Replay replays run id from the store at dir in-process with agent (the
// replayed run is itself recorded there) and returns the replayed run's
// trace id and the report.
func Replay(t testing.TB, dir, id string, agent func(context.Context) error, opts ...replayer.Option) (string, *analyze.Report) {
	t.Helper()
	store, err := spanlog.OpenExisting(dir)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := replayer.Load(store, id)
	if err != nil {
		t.Fatal(err)
	}
	var replayID string
	rep, err := replayer.Replay(context.Background(), rec, func(ctx context.Context) error {
		replayID = record(ctx, t, dir, rec.Info.Name, agent)
		return nil
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return replayID, rep
}

// NewTraceID returns a random trace id.
func NewTraceID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Boundary is one boundary of a hand-made run (see WriteRun).
type Boundary struct {
	Kind boundary.Kind
	Name string
	// Request and Response are stored as their canonical JSON.
	Request, Response any
	// Error makes the boundary a failed call with this error text
	// (Response is then ignored).
	Error string
	// Corrupt stores a wrong payload hash: the run reads back damaged at
	// this boundary.
	Corrupt bool
	// Branch is the path of the branch that made the boundary ("" for the
	// run's root branch).
	Branch string
}

// SampleBoundaries returns n boundaries of assorted kinds.
func SampleBoundaries(n int) []Boundary {
	out := make([]Boundary, n)
	for i := range out {
		switch i % 3 {
		case 0:
			out[i] = Boundary{Kind: boundary.KindClock, Name: "now", Request: map[string]any{}, Response: time.Date(2025, 1, 1, 0, 0, i, 0, time.UTC)}
		case 1:
			out[i] = Boundary{Kind: boundary.KindLLM, Name: Model, Request: ChatRequest{Model, []Message{{"user", fmt.Sprint("question ", i)}}}, Response: ChatResponse{Text: "answer"}}
		default:
			out[i] = Boundary{Kind: boundary.KindTool, Name: "lookup_order", Request: map[string]string{"order_id": fmt.Sprint(i)}, Response: "shipped"}
		}
	}
	return out
}

// WriteRun stores a run made by hand with the boundaries bs, bypassing
// otelrr, so tests can make runs in any state: with end nil the run is left
// without an end record (it reads back truncated, as if its recorder had
// been killed); with a Corrupt boundary it reads back damaged. meta.TraceID
// must be set; a zero meta.Start is set to now.
func WriteRun(s *spanlog.Store, meta spanlog.RunMeta, bs []Boundary, end *spanlog.RunEnd) error {
	w, err := StartRecording(s, meta, bs)
	if err != nil {
		return err
	}
	if end == nil {
		return w.Close()
	}
	return w.Finish(*end)
}

// StartRecording is WriteRun without the ending: it returns the run's open
// writer, and until the writer is closed the run reads back as being
// recorded by this process.
func StartRecording(s *spanlog.Store, meta spanlog.RunMeta, bs []Boundary) (*spanlog.RunWriter, error) {
	trace, err := spanlog.ParseTraceID(meta.TraceID)
	if err != nil {
		return nil, err
	}
	if meta.Start.IsZero() {
		meta.Start = time.Now().UTC()
	}
	w, err := s.CreateRun(meta)
	if err != nil {
		return nil, err
	}
	for _, b := range bs {
		_, err := w.AppendBranch(b.Branch, func(pos spanlog.Pos) ([]byte, error) { return encode(trace, meta.Start, pos, b) })
		if err != nil {
			w.Close()
			return nil, err
		}
	}
	return w, nil
}

func encode(trace [16]byte, start time.Time, pos spanlog.Pos, b Boundary) ([]byte, error) {
	seq := pos.Seq
	req, err := boundary.Canonical(b.Request)
	if err != nil {
		return nil, err
	}
	var resp []byte
	if b.Error == "" {
		if resp, err = boundary.Canonical(b.Response); err != nil {
			return nil, err
		}
	}
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID(trace))
	sp.SetSpanID(pcommon.SpanID{0, 0, 0, 0, 0, 0, byte(seq >> 8), byte(seq) + 1})
	sp.SetName(string(b.Kind) + " " + b.Name)
	t0 := start.Add(time.Duration(seq) * time.Millisecond)
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(250 * time.Microsecond)))
	a := sp.Attributes()
	a.PutStr(boundary.AttrKind, string(b.Kind))
	a.PutInt(boundary.AttrSeq, seq)
	a.PutInt(boundary.AttrBranchIndex, pos.Index)
	if b.Branch != "" {
		a.PutStr(boundary.AttrBranch, b.Branch)
	}
	a.PutStr(boundary.AttrName, b.Name)
	a.PutStr(boundary.AttrRequest, string(req))
	a.PutInt(boundary.AttrRequestLength, int64(len(req)))
	a.PutStr(boundary.AttrSignature, boundary.Signature(b.Kind, b.Name, req))
	if b.Error != "" {
		a.PutStr(boundary.AttrError, b.Error)
	} else {
		a.PutStr(boundary.AttrResponse, string(resp))
		a.PutInt(boundary.AttrResponseLength, int64(len(resp)))
	}
	hash := boundary.PayloadHash(req, resp, b.Error)
	if b.Corrupt {
		hash = strings.Repeat("0", len(hash))
	}
	a.PutStr(boundary.AttrPayloadHash, hash)
	return (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
}
