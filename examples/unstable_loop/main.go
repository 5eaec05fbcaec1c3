// Command unstable_loop is a reference agent that agentrr cannot replay
// faithfully, on purpose. It waits for a deploy by polling a status tool,
// and draws the number of polls from Go's own math/rand and stamps its
// final report with time.Now, neither going through otelrr. Those values
// are not in the recording, so a replay makes a different boundary
// sequence, and agentrr reports the divergence honestly instead of hiding
// it: at the first poll that is one too many or too few (a tool where the
// recording has the model call, or the reverse), or, when the draw happens
// to agree, at the final model call, whose checked_at field differs.
//
//	agentrr record -- go run ./examples/unstable_loop
//	agentrr replay --from-trace <run_id> -- go run ./examples/unstable_loop   # diverges
//
// The fix is to take the draw and the clock from otelrr (otelrr.Intn and
// otelrr.Now), which record them. -fixed does that, and its runs replay
// faithfully (record and replay with the same flags):
//
//	agentrr record -- go run ./examples/unstable_loop -fixed
//	agentrr replay --from-trace <run_id> -- go run ./examples/unstable_loop -fixed
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"time"

	"github.com/agentrr/agentrr/internal/fakeapi/fakellm"
	"github.com/agentrr/agentrr/otelrr"
)

// maxPolls bounds the number of status polls: 1..maxPolls.
const maxPolls = 4

// Agent is the deploy watcher. Draw and Now are its sources of
// nondeterminism: plain Go by default, through otelrr with Fixed.
type Agent struct {
	LLM *fakellm.Client
	// Polls counts the status tool's runs.
	Polls int
	// Draw returns the number of polls, 1..maxPolls; Now the time the
	// final report is stamped with. Nil means math/rand and time.Now,
	// outside the recording.
	Draw func(ctx context.Context) (int, error)
	Now  func(ctx context.Context) (time.Time, error)
}

// Fixed returns an agent whose draw and clock go through otelrr, so that
// its runs replay faithfully.
func Fixed() *Agent {
	return &Agent{
		LLM: &fakellm.Client{},
		Draw: func(ctx context.Context) (int, error) {
			n, err := otelrr.Intn(ctx, maxPolls)
			return n + 1, err
		},
		Now: otelrr.Now,
	}
}

// Unstable returns an agent whose draw and clock bypass otelrr.
func Unstable() *Agent {
	return &Agent{
		LLM:  &fakellm.Client{},
		Draw: func(context.Context) (int, error) { return 1 + rand.IntN(maxPolls), nil },
		Now:  func(context.Context) (time.Time, error) { return time.Now().UTC(), nil },
	}
}

func (a *Agent) checkDeploy(_ context.Context, args map[string]int) (string, error) {
	a.Polls++
	return fmt.Sprintf("deploy 42: attempt %d: rolling out", args["attempt"]), nil
}

// Run watches the deploy inside a run and returns the model's summary.
func (a *Agent) Run(ctx context.Context) (string, error) {
	req := fakellm.Request{
		Model: "fake-gpt-1",
		Messages: []fakellm.Message{
			{Role: "system", Content: "You watch deploys and summarize their state."},
			{Role: "user", Content: "Is deploy 42 done?"},
		},
	}
	if _, err := otelrr.LLM(ctx, "fake", req.Model, req, a.LLM.Complete); err != nil {
		return "", err
	}
	polls, err := a.Draw(ctx)
	if err != nil {
		return "", err
	}
	for i := 1; i <= polls; i++ {
		status, err := otelrr.Tool(ctx, "check_deploy", map[string]int{"attempt": i}, a.checkDeploy)
		if err != nil {
			return "", err
		}
		req.Messages = append(req.Messages, fakellm.Message{Role: "tool", Content: "check_deploy: " + status})
	}
	now, err := a.Now(ctx)
	if err != nil {
		return "", err
	}
	req.Messages = append(req.Messages, fakellm.Message{Role: "user", Content: "checked_at " + now.Format(time.RFC3339Nano)})
	resp, err := otelrr.LLM(ctx, "fake", req.Model, req, a.LLM.Complete)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d polls: %s", polls, resp.Content), nil
}

func main() {
	log.SetFlags(0)
	fixed := flag.Bool("fixed", false, "take the poll count and the clock from otelrr, so that replay is faithful")
	flag.Parse()

	ctx := context.Background()
	tp, err := otelrr.NewTracerProvider(ctx, otelrr.FromEnv(), otelrr.WithServiceName("unstable_loop"))
	if err != nil {
		log.Fatal(err)
	}
	defer tp.Shutdown(ctx)
	ctx, run, err := tp.StartRun(ctx, "unstable_loop")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("run_id: %s\n", run.TraceID())
	agent := Unstable()
	if *fixed {
		agent = Fixed()
	}
	summary, err := agent.Run(ctx)
	if endErr := run.End(err); endErr != nil {
		log.Fatal(endErr)
	}
	if err != nil {
		tp.Shutdown(ctx)
		log.Fatal(err)
	}
	fmt.Println("summary:", summary)
	if os.Getenv("AGENTRR_EXAMPLE_QUIET") == "" && !run.Replaying() {
		fmt.Printf("replay it with: agentrr replay --from-trace %s -- go run ./examples/unstable_loop (it diverges: see the doc comment)\n", run.TraceID())
	}
}
