// Package export implements `agentrr export`.
package export

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"

	"github.com/agentrr/agentrr/exporter"
	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/spanlog"
)

// Options are the inputs of `agentrr export`.
type Options struct {
	IO    *cmdutil.IOStreams
	Store func() (*spanlog.Store, error)

	TraceID string
	// Endpoint is the OTLP/HTTP endpoint (--otlp-endpoint); empty: the
	// OTLP exporter reads OTEL_EXPORTER_OTLP_TRACES_ENDPOINT /
	// OTEL_EXPORTER_OTLP_ENDPOINT.
	Endpoint string
	// Headers are sent with each request (--header); nil: the exporter
	// reads OTEL_EXPORTER_OTLP_HEADERS.
	Headers      map[string]string
	PayloadLimit int
	JSON         bool
	// File is where to write the run as a bundle (--file; "-" for
	// standard output) instead of sending it; Gzip compresses it (--gzip,
	// or a File ending in .gz).
	File string
	Gzip bool
	// Fixture is a directory to write the bundle into under a name made of
	// the run's name and short id (--fixture; see FixtureName), instead of
	// File.
	Fixture string
}

// NewCmdExport returns the export command. runF, if not nil, replaces the
// command's logic (for tests).
func NewCmdExport(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Store: f.Store}
	var headers []string
	cmd := &cobra.Command{
		Use:   "export <trace-id> (--otlp-endpoint <url> | --file <path>)",
		Short: "Write a stored run to one file, or send it to an OTLP backend such as Jaeger",
		Long: `With --file, write a run from the store as one file, a bundle, to attach
to a bug report or commit to a repository: OTLP JSON, one line holding the
run's resource, its root span and every boundary span exactly as stored
(the OpenTelemetry file exporter's format, which the Collector's
otlpjsonfile receiver reads). --gzip (or a path ending in .gz) compresses
it. agentrr import puts it into a store, agentrr replay --from-file replays
it, agentrr verify checks it; exporting the run again, from any store it
was imported into, gives the same bytes. --file - writes to standard
output. The file is written whole or not at all.

--fixture DIR writes the bundle into DIR (made if need be) as
<run name>-<first 8 digits of the id>.json (.json.gz with --gzip), the
file a regression suite replays: agentrr test DIR -- <agent>, or
rrtest.ReplayFolder in a go test (by convention DIR is testdata/agentrr).

With --otlp-endpoint, send the run to any OTLP/HTTP endpoint (Jaeger, an
OpenTelemetry Collector, agentrr collect), so a run recorded offline can be
viewed in Jaeger, or replayed later from it with agentrr replay --jaeger.

The run goes out as OTLP/HTTP protobuf: its resource (from the run header),
its root span (rebuilt from the run header and end record) and every
boundary span with the trace and span ids it was recorded with. Exporting a
run twice sends the same spans again; Jaeger's query deduplicates identical
spans and agentrr's loader counts a span id once. Payloads longer than
--payload-limit are cut in what is sent (marked agentrr.<payload>.truncated,
so a replay from the backend refuses them); the store is not touched.
Requests are split to stay under Jaeger's default 20 MiB OTLP/HTTP limit.

The endpoint is --otlp-endpoint, else OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
(used as is), else OTEL_EXPORTER_OTLP_ENDPOINT (+ /v1/traces). Headers are
--header, else OTEL_EXPORTER_OTLP_HEADERS; they are sent, never printed.`,
		Example: `  agentrr export 4bf92f35 --file run.otlp.json
  agentrr export 4bf92f35 --file run.otlp.json.gz
  agentrr export 4bf92f35 --fixture testdata/agentrr
  agentrr export 4bf92f35 --otlp-endpoint http://127.0.0.1:4318
  OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 agentrr export 4bf92f35 --json`,
		Args:              cmdutil.ExactRunArgs(1),
		ValidArgsFunction: cmdutil.CompleteRunIDs(f, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.TraceID = args[0]
			if opts.Fixture != "" {
				if opts.File != "" || opts.Endpoint != "" {
					return cmdutil.FlagError("give one of --fixture, --file and --otlp-endpoint")
				}
				if runF != nil {
					return runF(opts)
				}
				return RunFile(opts)
			}
			if opts.File != "" {
				if opts.Endpoint != "" {
					return cmdutil.FlagError("give --file or --otlp-endpoint, not both")
				}
				opts.Gzip = opts.Gzip || strings.HasSuffix(opts.File, ".gz")
				if runF != nil {
					return runF(opts)
				}
				return RunFile(opts)
			}
			if opts.Gzip {
				return cmdutil.FlagError("--gzip goes with --file")
			}
			if opts.Endpoint == "" && endpointFromEnv() == "" {
				return cmdutil.FlagError("give --file PATH to write the run as one file, or the OTLP/HTTP endpoint to send it to with --otlp-endpoint (e.g. http://127.0.0.1:4318) or OTEL_EXPORTER_OTLP_ENDPOINT")
			}
			if opts.Endpoint != "" {
				if _, err := endpointURL(opts.Endpoint); err != nil {
					return err
				}
			}
			h, err := parseHeaders(headers)
			if err != nil {
				return err
			}
			opts.Headers = h
			if runF != nil {
				return runF(opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.File, "file", "", "write the run as a bundle (OTLP JSON) to `path` (- for standard output)")
	cmd.Flags().StringVar(&opts.Fixture, "fixture", "", "write the bundle into `directory`, named after the run (<name>-<short id>.json): a fixture for agentrr test and rrtest.ReplayFolder")
	cmd.Flags().BoolVar(&opts.Gzip, "gzip", false, "gzip the bundle (the default for a --file ending in .gz)")
	cmd.Flags().StringVar(&opts.Endpoint, "otlp-endpoint", "", "OTLP/HTTP endpoint `url` (/v1/traces is added when it has no path)")
	cmd.Flags().StringArrayVar(&headers, "header", nil, "`key=value` header sent with each request (repeatable)")
	cmd.Flags().IntVar(&opts.PayloadLimit, "payload-limit", exporter.DefaultPayloadLimit, "cut payloads longer than this many `bytes` in what is sent (0: no limit)")
	cmdutil.AddJSONFlag(cmd, &opts.JSON)
	return cmd
}

// Result is the --json output of export.
type Result struct {
	TraceID    string `json:"trace_id"`
	Status     string `json:"status"`
	URL        string `json:"url"`
	Spans      int    `json:"spans"`
	Boundaries int    `json:"boundaries"`
	Requests   int    `json:"requests"`
	Truncated  int    `json:"truncated_payloads"`
}

// Run exports the run.
func Run(ctx context.Context, opts *Options) error {
	if ctx == nil {
		ctx = context.Background()
	}
	store, id, err := cmdutil.ResolveRun(opts.Store, opts.TraceID)
	if err != nil {
		return err
	}
	td, run, err := store.RunTraces(id)
	if err != nil {
		return cmdutil.RecordingCause(err)
	}
	info := run.Info
	switch info.Status {
	case spanlog.StatusDamaged:
		fmt.Fprintf(opts.IO.ErrOut, "agentrr: warning: run %s is damaged (%s): exporting the %d whole boundaries before the damage\n", info.TraceID, info.Reason, len(run.Records))
	case spanlog.StatusTruncated:
		fmt.Fprintf(opts.IO.ErrOut, "agentrr: note: run %s is truncated (%s): exporting it without an end\n", info.TraceID, info.Reason)
	}
	limit := opts.PayloadLimit
	if limit == 0 {
		limit = -1
	}
	xopts := []otlptracehttp.Option{otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false})}
	shown := endpointFromEnv()
	if opts.Endpoint != "" {
		u, _ := endpointURL(opts.Endpoint)
		xopts = append(xopts, otlptracehttp.WithEndpointURL(u))
		shown = u
	}
	if opts.Headers != nil {
		xopts = append(xopts, otlptracehttp.WithHeaders(opts.Headers))
	}
	exp, err := otlptracehttp.New(ctx, xopts...)
	if err != nil {
		return fmt.Errorf("export run %s: %w", info.TraceID, err)
	}
	defer exp.Shutdown(context.WithoutCancel(ctx))
	res, err := exporter.Export(ctx, exp, td, exporter.ExportOptions{PayloadLimit: limit})
	if err != nil {
		return fmt.Errorf("export run %s to %s: %w", info.TraceID, redactURL(shown), err)
	}
	out := Result{
		TraceID:    info.TraceID,
		Status:     string(info.Status),
		URL:        redactURL(shown),
		Spans:      res.Spans,
		Boundaries: len(run.Records),
		Requests:   res.Requests,
		Truncated:  res.Truncated,
	}
	if opts.JSON {
		return cmdutil.WriteJSON(opts.IO.Out, out)
	}
	fmt.Fprintf(opts.IO.Out, "exported run %s (%s): %d spans (the root and %d boundaries) in %d request(s) to %s\n",
		out.TraceID, out.Status, out.Spans, out.Boundaries, out.Requests, out.URL)
	if out.Truncated > 0 {
		fmt.Fprintf(opts.IO.Out, "%d payload(s) longer than %d bytes were cut in what was sent (the store keeps them whole)\n", out.Truncated, opts.PayloadLimit)
	}
	if info.Status == spanlog.StatusDamaged {
		// The warning above named the damage; what was sent is not the whole run.
		return cmdutil.SilentExit(cmdutil.ExitDamaged)
	}
	return nil
}

// endpointFromEnv returns the OTLP/HTTP traces URL the standard variables
// name, for messages; the exporter reads them itself.
func endpointFromEnv() string {
	if v := strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")); v != "" {
		return v
	}
	if v := strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")); v != "" {
		return strings.TrimSuffix(v, "/") + "/v1/traces"
	}
	return ""
}

// endpointURL checks --otlp-endpoint and adds /v1/traces when it has no path.
func endpointURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", cmdutil.FlagError("--otlp-endpoint %q: want a URL such as http://127.0.0.1:4318", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return u.String(), nil
}

// redactURL is a URL for messages, without any password.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return raw
}

// parseHeaders parses --header key=value flags; nil when there are none.
func parseHeaders(flags []string) (map[string]string, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	h := make(map[string]string, len(flags))
	for _, f := range flags {
		k, v, ok := strings.Cut(f, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, cmdutil.FlagError("--header wants key=value, got %q", redact(f))
		}
		h[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return h, nil
}

// redact shows a header flag without its value.
func redact(s string) string {
	if k, _, ok := strings.Cut(s, "="); ok {
		return k + "=…"
	}
	if len(s) > 8 {
		return s[:4] + "…"
	}
	return s
}

// FileResult is the --json output of export --file.
type FileResult struct {
	TraceID    string `json:"trace_id"`
	Status     string `json:"status"`
	File       string `json:"file"`
	Gzip       bool   `json:"gzip"`
	Bytes      int64  `json:"bytes"`
	Boundaries int    `json:"boundaries"`
}

// RunFile writes the run as a bundle to opts.File.
func RunFile(opts *Options) error {
	store, id, err := cmdutil.ResolveRun(opts.Store, opts.TraceID)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	run, err := store.WriteBundle(&buf, id, spanlog.BundleOptions{Gzip: opts.Gzip})
	if err != nil {
		return cmdutil.RecordingCause(err)
	}
	info := run.Info
	if opts.Fixture != "" {
		if err := os.MkdirAll(opts.Fixture, 0o755); err != nil {
			return fmt.Errorf("--fixture: %w", err)
		}
		opts.File = filepath.Join(opts.Fixture, FixtureName(info.Name, id, opts.Gzip))
	}
	switch info.Status {
	case spanlog.StatusDamaged:
		fmt.Fprintf(opts.IO.ErrOut, "agentrr: warning: run %s is damaged (%s): the bundle holds the %d whole boundaries before the damage\n", info.TraceID, info.Reason, len(run.Records))
	case spanlog.StatusTruncated:
		fmt.Fprintf(opts.IO.ErrOut, "agentrr: note: run %s is truncated (%s): the bundle holds it without an end\n", info.TraceID, info.Reason)
	}
	if opts.File == "-" {
		if _, err := opts.IO.Out.Write(buf.Bytes()); err != nil {
			return err
		}
	} else if err := writeFileAtomic(opts.File, buf.Bytes()); err != nil {
		return fmt.Errorf("export run %s: %w", id, err)
	}
	if opts.File != "-" {
		out := FileResult{TraceID: id, Status: string(info.Status), File: opts.File, Gzip: opts.Gzip, Bytes: int64(buf.Len()), Boundaries: len(run.Records)}
		if opts.JSON {
			if err := cmdutil.WriteJSON(opts.IO.Out, out); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(opts.IO.Out, "exported run %s (%s, %d boundaries) to %s (%d bytes)\n", id, info.Status, len(run.Records), opts.File, buf.Len())
		}
	}
	if info.Status == spanlog.StatusDamaged {
		return cmdutil.SilentExit(cmdutil.ExitDamaged)
	}
	return nil
}

// FixtureName is the file name --fixture gives the bundle of run id named
// name: the name with every character but letters, digits, '.', '_' and
// '-' made '-', then the first 8 digits of the id, then .json (.json.gz
// when gzipped), e.g. deterministic_support-4bf92f35.json.
func FixtureName(name, id string, gzip bool) string {
	clean := strings.Trim(strings.Map(func(r rune) rune {
		if r == '.' || r == '_' || r == '-' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
			return r
		}
		return '-'
	}, name), "-.")
	if clean == "" {
		clean = "run"
	}
	ext := ".json"
	if gzip {
		ext += ".gz"
	}
	return clean + "-" + id[:min(8, len(id))] + ext
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory, synced and renamed: the file is there whole or not at all. It
// holds a run's payloads: owner-only, like the store.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
