// Package proxy implements `agentrr proxy`.
package proxy

import (
	"context"
	"net"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/agentrr/agentrr/internal/cmd/internal/proxyrun"
	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/proxy"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// Options are the inputs of `agentrr proxy`.
type Options struct {
	IO        *cmdutil.IOStreams
	Store     func() (*spanlog.Store, error)
	StorePath string

	Listen            string
	Port              int
	OpenAIUpstream    string
	AnthropicUpstream string
	Name              string
	// Replay is the run to replay (--replay); empty records.
	Replay  string
	Observe bool
	JSON    bool
	Command []string
}

// NewCmdProxy returns the proxy command. runF, if not nil, replaces the
// command's logic (for tests).
func NewCmdProxy(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Store: f.Store}
	cmd := &cobra.Command{
		Use:   "proxy [--port N | --listen ADDR] [--replay <trace-id>] [flags] [-- <client command> [args...]]",
		Short: "Record (or replay) agents in any language through an OpenAI- and Anthropic-compatible proxy",
		Long: `Serve an OpenAI- and Anthropic-compatible HTTP proxy that records every
exchange of the clients pointed at it into the store, as the Go transport
records them (same boundaries, signatures, GenAI attributes and secret
rules: API keys are forwarded upstream, never stored). Streams pass through
as they arrive. Point an SDK at it by base URL:

  OPENAI_BASE_URL=http://127.0.0.1:PORT/openai/v1
  ANTHROPIC_BASE_URL=http://127.0.0.1:PORT/anthropic

With a client command after --, the proxy runs it with those variables
set, and stops when it exits; without one, it serves until Ctrl-C (or
SIGTERM). It then ends its runs and prints them.

It listens on 127.0.0.1 (a free port unless --port gives one), and beyond
loopback only when --listen says so, with a warning. Requests are forwarded
to the real APIs unless --openai-upstream / --anthropic-upstream name
others (an OpenAI-compatible server, a local fake).

Runs: one run per proxy session; a request with a W3C traceparent header
joins the run of its trace (its run id is the trace id), with the requests
of each parent span on a branch of their own; X-Agentrr-Run: <name> puts a
request in the run of that name, X-Agentrr-Branch: <path> on that branch.
See docs/proxy.md.

--replay <trace-id> serves a recorded run instead, with no upstream
connection (as agentrr replay --from-trace <id> --proxy does), and prints
the replay report when it stops: exit 1 on divergence.

Exit status: 0 ok (a faithful replay), 1 the replay diverged, 2 usage error,
unknown run, or the port is in use, 3 damaged run, 4 the client command
failed, 6 the run is still being recorded.`,
		Example: `  agentrr proxy -- node agent.mjs
  agentrr proxy --port 8787
  agentrr proxy --openai-upstream http://127.0.0.1:8000 -- python agent.py
  agentrr proxy --replay 4bf92f35 -- node agent.mjs
  agentrr proxy --replay 4bf92f35 --port 8787`,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch dash := cmd.ArgsLenAtDash(); {
			case (dash < 0 && len(args) > 0) || dash > 0:
				return cmdutil.FlagError("unexpected arguments %q: give the client command after --", args)
			case dash == 0 && len(args) == 0:
				return cmdutil.FlagError("give the client command after --, e.g. agentrr proxy -- node agent.mjs (or nothing, and no --, to serve until Ctrl-C)")
			}
			for flag, v := range map[string]string{"--openai-upstream": opts.OpenAIUpstream, "--anthropic-upstream": opts.AnthropicUpstream} {
				if err := proxy.CheckUpstream(v); err != nil {
					return cmdutil.FlagError("%s: %v", flag, err)
				}
			}
			if cmd.Flags().Changed("port") {
				if cmd.Flags().Changed("listen") {
					return cmdutil.FlagError("give --port or --listen, not both")
				}
				if opts.Port < 0 || opts.Port > 65535 {
					return cmdutil.FlagError("--port %d is not a port number (0 to 65535; 0 picks a free one)", opts.Port)
				}
				opts.Listen = net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.Port))
			}
			if opts.Observe && opts.Replay == "" {
				return cmdutil.FlagError("--observe needs --replay")
			}
			opts.Command = args
			opts.StorePath = f.StorePath()
			if runF != nil {
				return runF(opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Listen, "listen", proxy.DefaultListen, "listen on `host:port` (beyond loopback only when you say so)")
	cmd.Flags().IntVar(&opts.Port, "port", 0, "listen on 127.0.0.1:`N` (0: a free port)")
	cmd.Flags().StringVar(&opts.OpenAIUpstream, "openai-upstream", proxy.DefaultOpenAIUpstream, "forward OpenAI requests to this base `url`")
	cmd.Flags().StringVar(&opts.AnthropicUpstream, "anthropic-upstream", proxy.DefaultAnthropicUpstream, "forward Anthropic requests to this base `url`")
	cmd.Flags().StringVar(&opts.Name, "name", proxy.DefaultRunName, "`name` of the runs the proxy records")
	cmd.Flags().StringVar(&opts.Replay, "replay", "", "replay the run `trace-id` (or a unique prefix) instead of recording")
	cmd.Flags().BoolVar(&opts.Observe, "observe", false, "with --replay: never halt, collect every divergence")
	cmdutil.AddJSONFlag(cmd, &opts.JSON)
	return cmd
}

// Run runs the proxy.
func Run(ctx context.Context, opts *Options) error {
	cfg := proxy.Config{
		Listen:            opts.Listen,
		Store:             opts.StorePath,
		OpenAIUpstream:    opts.OpenAIUpstream,
		AnthropicUpstream: opts.AnthropicUpstream,
		RunName:           opts.Name,
	}
	if opts.Replay != "" {
		_, rec, err := cmdutil.LoadRecording(opts.Store, opts.Replay)
		if err != nil {
			return err
		}
		cfg.Replay = rec
		cfg.ReplayMode = replayer.Strict
		if opts.Observe {
			cfg.ReplayMode = replayer.Observe
		}
	}
	return proxyrun.Run(ctx, &proxyrun.Options{IO: opts.IO, Config: cfg, Command: opts.Command, JSON: opts.JSON})
}
