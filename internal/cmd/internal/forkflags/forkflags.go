// Package forkflags holds what `agentrr fork` and `agentrr replay
// --continue-live` share: the flags that allow tools to run live after the
// fork point, and the environment that hands the fork settings to the
// agent (read there by otelrr.FromEnv).
package forkflags

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/handshake"
	"github.com/agentrr/agentrr/replayer"
)

// Live names what may run live after the fork point besides LLM calls,
// clock reads, random draws and ids, which always do.
type Live struct {
	// Tools are the tools (or HTTP exchanges, "METHOD /path") allowed
	// (--live-tool); All allows every one (--live-tools).
	Tools []string
	All   bool
}

// AddFlags adds --live-tool and --live-tools to cmd.
func (l *Live) AddFlags(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&l.Tools, "live-tool", nil, "let the tool `NAME` run live after the fork point (repeat for more; an HTTP exchange is named \"METHOD /path\")")
	cmd.Flags().BoolVar(&l.All, "live-tools", false, "let every tool run live after the fork point (side effects included)")
}

// Set reports whether either flag was given.
func (l *Live) Set() bool { return l.All || len(l.Tools) > 0 }

// Check says what is wrong with the names given.
func (l *Live) Check() error {
	for _, n := range l.Tools {
		switch {
		case strings.TrimSpace(n) == "":
			return cmdutil.FlagError("--live-tool needs a tool name")
		case strings.Contains(n, ","):
			return cmdutil.FlagError("--live-tool %q: a tool name cannot hold a comma; give one name per --live-tool", n)
		}
	}
	return nil
}

// Options are the replayer options the flags stand for.
func (l *Live) Options() []replayer.Option {
	switch {
	case l.All:
		return []replayer.Option{replayer.AllLiveTools()}
	case len(l.Tools) > 0:
		return []replayer.Option{replayer.LiveTools(l.Tools...)}
	}
	return nil
}

// Env is the environment that hands the flags to the agent.
func (l *Live) Env() []string {
	switch {
	case l.All:
		return []string{handshake.EnvReplayLiveTools + "=*"}
	case len(l.Tools) > 0:
		return []string{handshake.EnvReplayLiveTools + "=" + strings.Join(l.Tools, ",")}
	}
	return nil
}

// ContinueLiveEnv is the environment of `agentrr replay --continue-live`.
func ContinueLiveEnv() []string { return []string{handshake.EnvReplayContinueLive + "=1"} }
