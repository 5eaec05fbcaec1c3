// Command benchagent is the agent `make bench` records and replays: it makes
// -n tool boundaries (otelrr.Tool) with JSON text payloads of -size bytes,
// from -conc goroutines, and prints its run id. Under `agentrr replay` it
// replays (it builds its provider with otelrr.FromEnv).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"

	"github.com/agentrr/agentrr/bench/internal/payload"
	"github.com/agentrr/agentrr/otelrr"
)

func main() {
	n := flag.Int("n", 10000, "number of tool boundaries")
	size := flag.Int("size", 1024, "payload (request and response) size in bytes")
	conc := flag.Int("conc", 1, "goroutines making boundaries at once")
	flag.Parse()
	if err := run(*n, *size, *conc); err != nil {
		fmt.Fprintln(os.Stderr, "benchagent:", err)
		os.Exit(1)
	}
}

func search(_ context.Context, d payload.Doc) (payload.Doc, error) { return d, nil }

func run(n, size, conc int) (err error) {
	ctx := context.Background()
	tp, err := otelrr.NewTracerProvider(ctx, otelrr.FromEnv(), otelrr.WithServiceName("benchagent"))
	if err != nil {
		return err
	}
	defer func() {
		if serr := tp.Shutdown(ctx); err == nil {
			err = serr
		}
	}()
	ctx, r, err := tp.StartRun(ctx, "bench")
	if err != nil {
		return err
	}
	doc := payload.Text(size, 1)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		werr error
	)
	for g := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += conc {
				if _, err := otelrr.Tool(ctx, "search", doc, search); err != nil {
					mu.Lock()
					werr = err
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := r.End(werr); err != nil {
		return err
	}
	if werr != nil {
		return werr
	}
	fmt.Println(r.TraceID())
	return nil
}
