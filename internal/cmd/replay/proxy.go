package replay

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/agentrr/agentrr/internal/cmd/internal/proxyrun"
	"github.com/agentrr/agentrr/internal/proxy"
	"github.com/agentrr/agentrr/replayer"
)

// addProxyFlag adds --proxy: replay an agent in any language through
// agentrr's proxy.
func addProxyFlag(cmd *cobra.Command, opts *Options) {
	cmd.Flags().BoolVar(&opts.Proxy, "proxy", false, "serve the recording through agentrr's OpenAI/Anthropic proxy (for agents in any language: the command gets OPENAI_BASE_URL and ANTHROPIC_BASE_URL)")
}

// runProxy replays rec through the proxy: the agent command is started
// with OPENAI_BASE_URL and ANTHROPIC_BASE_URL pointing at it (see
// proxy.Server.Env), every request it makes is answered from the recording
// without any upstream connection, and the report is printed when it exits.
func runProxy(ctx context.Context, opts *Options, rec *replayer.Recording, mode replayer.Mode) error {
	var ropts []replayer.Option
	if opts.HasUntil {
		ropts = append(ropts, replayer.WithUntilSeq(opts.UntilSeq))
	}
	if opts.Chaos != nil {
		fmt.Fprintf(opts.IO.ErrOut, "agentrr: chaos mode, seed %d (replay again with --chaos=%d to perturb the same way)\n", *opts.Chaos, *opts.Chaos)
		ropts = append(ropts, replayer.WithChaos(*opts.Chaos))
	}
	return proxyrun.Run(ctx, &proxyrun.Options{
		IO: opts.IO,
		Config: proxy.Config{
			Store:         opts.StorePath,
			Replay:        rec,
			ReplayMode:    mode,
			ReplayOptions: ropts,
		},
		Command: opts.Command,
		JSON:    opts.JSON,
	})
}
