package replay

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentrr/agentrr/exporter"
	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/handshake"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// LoadRecording loads the recording opts names (TraceID, Jaeger,
// FromFile, Store; the other fields are not read) for a replay in a child
// process (Child.Recording, with env added to Child.Env): from the store,
// or, with --jaeger / --from-file, from Jaeger or an OTLP JSON file (a bundle, gzip
// or not). A recording not from the store reaches the agent as an OTLP JSON
// file (env, to add to the agent's environment, names it in
// AGENTRR_REPLAY_FILE); cleanup removes it.
//
// A run from the store is not read whole here: the agent reads it, with
// every check, and this process reads only its summary (Store.Summary: the
// run index, else the run's structure) to refuse at once a run that is
// unknown, being recorded or damaged where that shows. Its Records are
// then empty (see FullCheck, fullRecording).
func LoadRecording(ctx context.Context, opts *Options) (rec *replayer.Recording, env []string, cleanup func(), err error) {
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
		data, rerr := io.ReadAll(io.LimitReader(f, spanlog.MaxBundleSize+1))
		f.Close()
		if rerr != nil {
			return nil, nil, cleanup, fmt.Errorf("--from-file %s: %w", opts.FromFile, rerr)
		}
		// A bundle (or any file holding one run) gets the verdict a store
		// gives it: one cut short or changed is damaged (exit 3).
		if b, berr := spanlog.ReadBundle(bytes.NewReader(data)); errors.Is(berr, spanlog.ErrDamaged) {
			return nil, nil, cleanup, fmt.Errorf("--from-file %s: %w", opts.FromFile, berr)
		} else if berr == nil && b.Info.Status == spanlog.StatusDamaged && (opts.TraceID == "" || strings.HasPrefix(b.Info.TraceID, strings.ToLower(opts.TraceID))) {
			return nil, nil, cleanup, &replayer.DamagedError{TraceID: b.Info.TraceID, Reason: b.Info.Reason}
		}
		r, zerr := maybeGunzip(bytes.NewReader(data))
		if zerr != nil {
			return nil, nil, cleanup, fmt.Errorf("--from-file %s: %w", opts.FromFile, zerr)
		}
		rec, err = replayer.LoadOTLPJSON(r, opts.TraceID)
	default:
		store, serr := opts.Store()
		if serr != nil {
			return nil, nil, cleanup, serr
		}
		id, rerr := store.Resolve(opts.TraceID)
		if rerr != nil {
			return nil, nil, cleanup, rerr
		}
		info, ierr := store.Summary(id)
		if ierr != nil {
			return nil, nil, cleanup, ierr
		}
		if info.Status == spanlog.StatusDamaged {
			return nil, nil, cleanup, &replayer.DamagedError{TraceID: id, Reason: info.Reason}
		}
		return &replayer.Recording{TraceID: id, Truncated: info.Status == spanlog.StatusTruncated, Info: info}, nil, cleanup, nil
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

// maybeGunzip returns r decompressed when it starts like gzip, else r.
func maybeGunzip(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		return gzip.NewReader(br)
	}
	return br, nil
}

// fullRecording reads rec whole from the store, with every check, when
// LoadRecording read its structure only.
func fullRecording(opts *Options, rec *replayer.Recording) (*replayer.Recording, error) {
	if len(rec.Records) > 0 || opts.Jaeger != "" || opts.FromFile != "" {
		return rec, nil
	}
	_, full, err := cmdutil.LoadRecording(opts.Store, rec.TraceID)
	return full, err
}

// FullCheck reads rec whole when the agent did not replay it (RunChild
// failed), so that a
// recording the agent refused as damaged gets that verdict (exit status 3)
// rather than the agent's failure. It returns nil when the recording is
// whole.
func FullCheck(opts *Options, rec *replayer.Recording) error {
	_, err := fullRecording(opts, rec)
	return err
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
