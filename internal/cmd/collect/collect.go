// Package collect implements `agentrr collect`: an OTLP/HTTP trace receiver
// that records the boundary spans it receives into the store.
package collect

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/spanlog"
)

// DefaultListen is where collect listens unless --listen says otherwise:
// loopback only, on the standard OTLP/HTTP port.
const DefaultListen = "127.0.0.1:4318"

// Options are the inputs of `agentrr collect`.
type Options struct {
	IO        *cmdutil.IOStreams
	StorePath string

	Listen          string
	MaxRequestBytes int64
	// Ready, if set, is called with the listening address once the
	// receiver accepts requests (tests listen on port 0).
	Ready func(addr net.Addr)
}

// NewCmdCollect returns the collect command. runF, if not nil, replaces the
// command's logic (for tests).
func NewCmdCollect(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "collect [--listen 127.0.0.1:4318]",
		Short: "Receive OTLP traces and record their boundary spans into the store",
		Long: `Run an OTLP/HTTP trace receiver (POST /v1/traces, protobuf or JSON,
optionally gzip) that writes the boundary spans it receives into the store,
one run per trace id, and answers only once they are synced to disk. Point
an OpenTelemetry Collector's otlphttp exporter at it (see collector-config/),
or an agent in any language that sets the agentrr boundary attributes
(agentrr.kind, agentrr.seq, agentrr.name, agentrr.request, agentrr.response
or agentrr.error, agentrr.signature, agentrr.payload.sha256, the lengths).

Each request is checked whole before anything is written: a boundary span
without agentrr.seq, with a payload that does not match its hash or length
(for example cut by a forwarding limit), or clashing with a boundary already
stored under its seq, gets a 400 and nothing of the request is stored. A
request over --max-request-bytes gets a 413. Spans already stored (same seq
and span id) are skipped, so retries are harmless. Other spans are ignored.

A run's spans may arrive over several requests. The run ends when its root
span (the span carrying agentrr.run, with agentrr.boundaries) arrives; until
every boundary is there the run shows as truncated or damaged (a hole).

collect listens on loopback unless --listen names another address; it has
no authentication. Stop it with Ctrl-C.`,
		Example: `  agentrr collect
  agentrr collect --listen 127.0.0.1:14318 --store /var/lib/agentrr`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.StorePath = f.StorePath()
			if runF != nil {
				return runF(opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Listen, "listen", DefaultListen, "`host:port` to listen on")
	cmd.Flags().Int64Var(&opts.MaxRequestBytes, "max-request-bytes", DefaultMaxRequestBytes, "largest request body accepted, after decompression, in `bytes`")
	return cmd
}

// Run receives until ctx is done, then stops accepting requests and waits
// (at most 10 s) for those in progress.
func Run(ctx context.Context, opts *Options) error {
	if ctx == nil {
		ctx = context.Background()
	}
	store, err := spanlog.Open(opts.StorePath)
	if err != nil {
		return err
	}
	// The writer slot runs are received into, taken before the first
	// request; Close seals what is left in it when collect stops.
	if err := store.StartIngest(); err != nil {
		return err
	}
	defer store.Close()
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return cmdutil.FlagError("listen on %s: %v", opts.Listen, err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() {
		fmt.Fprintf(opts.IO.ErrOut, "agentrr collect: warning: listening on %s, which is not a loopback address; the receiver has no authentication\n", ln.Addr())
	}
	srv := &http.Server{
		Handler:           NewReceiver(store, opts.MaxRequestBytes, opts.IO.ErrOut),
		ReadHeaderTimeout: 10 * time.Second,
	}
	fmt.Fprintf(opts.IO.ErrOut, "agentrr collect: receiving OTLP traces at http://%s%s, recording into %s\n", ln.Addr(), TracesPath, store.Root())
	if opts.Ready != nil {
		opts.Ready(ln.Addr())
	}
	return cmdutil.Serve(ctx, srv, ln, "collect", 10*time.Second, opts.IO.ErrOut)
}
