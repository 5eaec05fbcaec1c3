// Package version implements `agentrr version`.
package version

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/agentrr/agentrr/internal/cmdutil"
)

// Options are the inputs of `agentrr version`.
type Options struct {
	IO *cmdutil.IOStreams
	// ReadBuildInfo reads the binary's build information
	// (debug.ReadBuildInfo; tests inject their own).
	ReadBuildInfo func() (*debug.BuildInfo, bool)

	JSON bool
}

// NewCmdVersion returns the version command. runF, if not nil, replaces
// the command's logic (for tests).
func NewCmdVersion(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, ReadBuildInfo: debug.ReadBuildInfo}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print agentrr's version and build",
		Long: `Print the version of agentrr's module, the VCS revision it was built from
(and whether the work tree had uncommitted changes) and the Go version that
built it. A binary built from a source tree, not installed with
go install module@version, reports its version as (devel).`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runVersion(opts)
		},
	}
	cmdutil.AddJSONFlag(cmd, &opts.JSON)
	return cmd
}

// Info is the JSON document `agentrr version --json` writes.
type Info struct {
	Version     string `json:"version"`
	Module      string `json:"module,omitempty"`
	VCSRevision string `json:"vcs_revision,omitempty"`
	VCSTime     string `json:"vcs_time,omitempty"`
	VCSModified bool   `json:"vcs_modified"`
	Go          string `json:"go"`
}

// NewInfo reads the version information from bi (nil: none available).
func NewInfo(bi *debug.BuildInfo) Info {
	info := Info{Version: "(devel)", Go: "unknown"}
	if bi == nil {
		return info
	}
	if bi.Main.Version != "" {
		info.Version = bi.Main.Version
	}
	info.Module, info.Go = bi.Main.Path, bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.VCSRevision = s.Value
		case "vcs.time":
			info.VCSTime = s.Value
		case "vcs.modified":
			info.VCSModified = s.Value == "true"
		}
	}
	return info
}

func runVersion(opts *Options) error {
	bi, ok := opts.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	info := NewInfo(bi)
	if opts.JSON {
		return cmdutil.WriteJSON(opts.IO.Out, info)
	}
	rev := info.VCSRevision
	if rev == "" {
		rev = "unknown (not built from a VCS checkout)"
	} else if info.VCSModified {
		rev += " (modified)"
	}
	fmt.Fprintf(opts.IO.Out, "agentrr %s\n", info.Version)
	return cmdutil.WriteFields(opts.IO.Out, []cmdutil.Field{
		{Label: "module", Value: info.Module},
		{Label: "revision", Value: rev},
		{Label: "committed", Value: info.VCSTime},
		{Label: "go", Value: info.Go},
	})
}
