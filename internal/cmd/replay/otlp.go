package replay

import (
	"context"
	"fmt"
	"os"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentrr/agentrr/exporter"
	"github.com/agentrr/agentrr/internal/handshake"
	"github.com/agentrr/agentrr/replayer"
)

// traceIDToCheck is the trace id CheckCommand sees: --from-file may leave
// --from-trace out when the file holds a single run.
func traceIDToCheck(opts *Options) string {
	if opts.TraceID == "" && opts.FromFile != "" {
		return "<trace-id>"
	}
	return opts.TraceID
}

// loadRecording loads the recording to replay: from the store, or, with
// --jaeger / --from-file, from Jaeger or an OTLP JSON file. A recording not
// from the store reaches the agent as an OTLP JSON file (env, to add to the
// agent's environment, names it in AGENTRR_REPLAY_FILE); cleanup removes it.
func loadRecording(ctx context.Context, opts *Options) (rec *replayer.Recording, env []string, cleanup func(), err error) {
	cleanup = func() {}
	switch {
	case opts.Jaeger != "":
		if ctx == nil {
			ctx = context.Background()
		}
		rec, err = replayer.FetchJaeger(ctx, opts.Jaeger, opts.TraceID)
	case opts.FromFile != "":
		f, ferr := os.Open(opts.FromFile)
		if ferr != nil {
			return nil, nil, cleanup, fmt.Errorf("--from-file: %w", ferr)
		}
		rec, err = replayer.LoadOTLPJSON(f, opts.TraceID)
		f.Close()
	default:
		store, serr := opts.Store()
		if serr != nil {
			return nil, nil, cleanup, serr
		}
		rec, err = replayer.Load(store, opts.TraceID)
		return rec, nil, cleanup, err
	}
	if err != nil {
		return nil, nil, cleanup, err
	}
	path, err := writeRecordingFile(rec)
	if err != nil {
		return nil, nil, cleanup, err
	}
	return rec, []string{handshake.EnvReplayFile + "=" + path}, func() { os.Remove(path) }, nil
}

// writeRecordingFile writes rec as OTLP JSON to a temporary file (owner-only:
// it holds the run's payloads) and returns its path.
func writeRecordingFile(rec *replayer.Recording) (string, error) {
	b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(exporter.RunTraces(rec.Info, rec.Records))
	if err != nil {
		return "", fmt.Errorf("encode recording %s: %w", rec.TraceID, err)
	}
	f, err := os.CreateTemp("", "agentrr-recording-*.json")
	if err != nil {
		return "", err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
