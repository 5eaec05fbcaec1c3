// Package view implements `agentrr view`: the local web view of the store.
package view

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/view"
	"github.com/agentrr/agentrr/spanlog"
)

// DefaultListen is where view listens unless --listen says otherwise. When
// that port is taken (another view, of another store), a free port is
// used instead.
const DefaultListen = "127.0.0.1:7777"

// Options are the inputs of `agentrr view`.
type Options struct {
	IO    *cmdutil.IOStreams
	Store func() (*spanlog.Store, error)

	// TraceID is the run to open (empty: the run list).
	TraceID string
	Listen  string
	// ListenSet says --listen was given: its port is then not replaced
	// when taken.
	ListenSet bool
	// Ready, if set, is called with the page's address once the server
	// accepts requests (tests listen on port 0).
	Ready func(url string)
}

// NewCmdView returns the view command. runF, if not nil, replaces the
// command's logic (for tests).
func NewCmdView(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Store: f.Store}
	cmd := &cobra.Command{
		Use:   "view [trace-id] [--listen 127.0.0.1:7777]",
		Short: "Look at runs in a local web page: timelines, conversations, divergences, provenance",
		Long: `Serve a web page that shows the store: the runs (status, replays and their
verdicts; runs being recorded show up and update as they change), one run
as a timeline of its boundaries by branch, with durations, each boundary's
request and response (an LLM call as a conversation: system, user,
assistant and tool messages, tool calls; the raw JSON a click away), where
the text of a request came from (as agentrr why says), a replay's
divergence from its recording with the structural diff side by side, and
two runs compared as agentrr diff aligns them.

With a trace id, the page opens at that run. The address is printed on
stdout; open it in a browser on this machine.

The server listens on loopback only (127.0.0.1:7777 unless --listen names
another loopback address; when 7777 is taken, a free port): the store holds
full prompts and tool results. It answers only requests addressed to a
loopback name or address, and the page loads nothing from the network:
the script, the style and everything it shows come from this binary and
the store, so it works offline. It shows what the store holds: values the
recorder redacted stay redacted. Stop it with Ctrl-C.`,
		Example: `  agentrr view
  agentrr view 4bf92f35
  agentrr view --listen 127.0.0.1:0`,
		Args:              cmdutil.RunArgs(0, 1),
		ValidArgsFunction: cmdutil.CompleteRunIDs(f, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.TraceID = args[0]
			}
			opts.ListenSet = cmd.Flags().Changed("listen")
			if runF != nil {
				return runF(opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Listen, "listen", DefaultListen, "loopback `host:port` to listen on (port 0: any free port)")
	return cmd
}

// Run serves the view until ctx is done.
func Run(ctx context.Context, opts *Options) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := checkLoopback(opts.Listen); err != nil {
		return err
	}
	store, err := opts.Store()
	if err != nil {
		return err
	}
	fragment := "#/"
	if opts.TraceID != "" {
		id, err := store.Resolve(opts.TraceID)
		if err != nil {
			return err
		}
		fragment = "#/run/" + id
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil && !opts.ListenSet && errors.Is(err, syscall.EADDRINUSE) {
		fmt.Fprintf(opts.IO.ErrOut, "agentrr view: %s is taken; using a free port\n", opts.Listen)
		host, _, _ := net.SplitHostPort(opts.Listen)
		ln, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
	}
	if err != nil {
		return cmdutil.FlagError("listen on %s: %v", opts.Listen, err)
	}
	srv := &http.Server{Handler: view.Handler(opts.Store), ReadHeaderTimeout: 10 * time.Second}
	url := "http://" + ln.Addr().String() + "/" + fragment
	fmt.Fprintf(opts.IO.Out, "agentrr view: %s\n", url)
	fmt.Fprintf(opts.IO.ErrOut, "agentrr view: serving the store %s on loopback only (nothing is sent anywhere else); Ctrl-C stops it\n", store.Root())
	if opts.Ready != nil {
		opts.Ready(url)
	}
	return cmdutil.Serve(ctx, srv, ln, "view", 5*time.Second, opts.IO.ErrOut)
}

// checkLoopback refuses an address that is not on loopback: the view has
// no authentication and shows everything the store holds.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return cmdutil.FlagError("--listen %q: %v (want host:port, such as 127.0.0.1:7777)", addr, err)
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return cmdutil.FlagError("--listen %q is not a loopback address: agentrr view serves only this machine (127.0.0.1, ::1, localhost), because it shows every prompt and tool result in the store to whoever connects", addr)
}
