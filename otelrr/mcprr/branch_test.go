package mcprr_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentrr/agentrr/internal/storetest"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/rrtest"
)

// TestParallelCallsFollowTheBranchModel makes eight tool calls at once,
// half on a stdio session and half on an HTTP one, each in its own branch
// and with its own progress token: the recording puts each call in its
// branch, with its own progress notifications, and replays with the
// servers gone serve every branch exactly, whatever order the calls
// complete in (chaos on).
func TestParallelCallsFollowTheBranchModel(t *testing.T) {
	stdio := startServer(t, "stdio")
	httpSrv := startServer(t, "http-stateless")
	dir := t.TempDir()
	cities := []string{"Lisbon", "Porto", "Faro", "Braga", "Coimbra", "Evora", "Aveiro", "Sintra"}
	work := func(ctx context.Context) (string, error) {
		var (
			mu       sync.Mutex
			progress = map[string][]string{}
		)
		opts := &mcp.ClientOptions{ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
			mu.Lock()
			tok := fmt.Sprint(r.Params.ProgressToken)
			progress[tok] = append(progress[tok], r.Params.Message)
			mu.Unlock()
		}}
		sessions := make([]*mcp.ClientSession, 2)
		for i, srv := range []*testServer{stdio, httpSrv} {
			cs, err := connect(ctx, srv.transport(), opts)
			if err != nil {
				return "", err
			}
			sessions[i] = cs
		}
		results := make([]string, len(cities))
		errs := make([]error, len(cities))
		var wg sync.WaitGroup
		for i, city := range cities {
			wg.Add(1)
			otelrr.Go(ctx, "call_"+city, func(ctx context.Context) {
				defer wg.Done()
				params := &mcp.CallToolParams{Name: "forecast", Arguments: map[string]any{"city": city}}
				params.SetProgressToken("tok-" + city)
				res, err := sessions[i%2].CallTool(ctx, params)
				if err != nil {
					errs[i] = err
					return
				}
				results[i] = text(res.Content)
			})
		}
		wg.Wait()
		for _, cs := range sessions {
			if err := cs.Close(); err != nil {
				return "", err
			}
		}
		var b strings.Builder
		for i, city := range cities {
			if errs[i] != nil {
				return "", errs[i]
			}
			fmt.Fprintf(&b, "%s: %s %q\n", city, results[i], progress["tok-"+city])
		}
		return b.String(), nil
	}
	id, want, err := rrtest.Run(context.Background(), t, dir, "parallel", work)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(want, `Evora: sunny in Evora, 21°C ["finding Evora" "reading the models"]`) {
		t.Fatalf("recording saw:\n%s", want)
	}
	branches := map[string]string{}
	for _, r := range storetest.ReadRun(t, dir, id).Records {
		if r.Name == "forecast" {
			branches[r.Branch] = string(r.Request)
		}
	}
	for _, city := range cities {
		if !strings.Contains(branches["call_"+city], `"city":"`+city+`"`) {
			t.Errorf("branch call_%s holds %s", city, branches["call_"+city])
		}
	}
	stdio.stop(t)
	httpSrv.stop(t)
	for seed := range uint64(12) {
		rep, got := rrtest.ReplayIn(t, dir, rrtest.Load(t, dir, id), work, replayer.WithChaos(seed))
		faithful(t, rep)
		if got != want {
			t.Fatalf("replay (chaos seed %d) saw:\n%s\nthe recording:\n%s", seed, got, want)
		}
	}
}
