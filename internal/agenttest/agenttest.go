// Package agenttest records and replays an agent in-process, the
// way a go test of a recorded production failure would: the agent's own code
// runs inside a run of an otelrr provider, once for real and once against
// the recording through replayer.Replay.
package agenttest

import (
	"context"
	"testing"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// Run runs work inside one run named name of a provider recording into the
// store dir, configured further by opts. When ctx carries a replayer
// session the run replays instead. It returns the run id, work's output and
// work's error (recorded with the run); a failure to set up or end the run
// fails t.
func Run[T any](ctx context.Context, t testing.TB, dir, name string, work func(context.Context) (T, error), opts ...otelrr.Option) (id string, out T, err error) {
	t.Helper()
	tp, err := otelrr.NewTracerProvider(ctx, append([]otelrr.Option{otelrr.WithStore(dir)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Shutdown(ctx)
	ctx, run, err := tp.StartRun(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	out, err = work(ctx)
	if endErr := run.End(err); endErr != nil {
		t.Fatal(endErr)
	}
	return run.TraceID(), out, err
}

// Replay replays the run id stored in dir with work, in-process, and returns
// the report and work's output from the replay.
func Replay[T any](t testing.TB, dir, id, name string, work func(context.Context) (T, error), opts ...replayer.Option) (*analyze.Report, T) {
	t.Helper()
	store, err := spanlog.OpenExisting(dir)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := replayer.Load(store, id)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	rep, err := replayer.Replay(context.Background(), rec, func(ctx context.Context) error {
		var err error
		_, out, err = Run(ctx, t, dir, name, work)
		return err
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return rep, out
}
