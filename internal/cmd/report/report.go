// Package report implements `agentrr report`: one run as a self-contained
// HTML file.
package report

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/view"
	"github.com/agentrr/agentrr/spanlog"
)

// Options are the inputs of `agentrr report`.
type Options struct {
	IO    *cmdutil.IOStreams
	Store func() (*spanlog.Store, error)
	Now   func() time.Time

	TraceID string
	// HTML is the file to write ("-": stdout).
	HTML string
}

// NewCmdReport returns the report command. runF, if not nil, replaces the
// command's logic (for tests).
func NewCmdReport(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Store: f.Store, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "report <trace-id> --html FILE",
		Short: "Write one run, and its divergence, as a self-contained HTML file",
		Long: `Write the view of one run (what agentrr view shows of it) as one HTML file to
attach to a bug report: the run's timeline, every boundary's request and
response (LLM calls as conversations, the raw JSON), where the text of each
request came from (as agentrr why says; left out for runs of more than 2000
boundaries), and for a replay the recording it replays, when the store
holds it, with the divergence and the structural diff side by side.

The file holds everything it shows and loads nothing: no network, no other
file. It holds what the store holds, which may include prompts, tool
results and anything else the agent read: values the recorder redacted
stay redacted, nothing else is. Read it before you share it.

--html - writes the file to stdout. A run being recorded cannot be reported
(exit status 6); a damaged run is reported up to its damage (exit status 3).`,
		Example:           `  agentrr report 4bf92f35 --html bug-1234.html`,
		Args:              cmdutil.ExactRunArgs(1),
		ValidArgsFunction: cmdutil.CompleteRunIDs(f, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.TraceID = args[0]
			if opts.HTML == "" {
				return cmdutil.FlagError("--html FILE is required: the file to write (- for stdout)")
			}
			if runF != nil {
				return runF(opts)
			}
			return runReport(opts)
		},
	}
	cmd.Flags().StringVar(&opts.HTML, "html", "", "write the report to `FILE` (- for stdout)")
	return cmd
}

func runReport(opts *Options) error {
	store, id, err := cmdutil.ResolveRun(opts.Store, opts.TraceID)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	info, err := view.WriteReport(&buf, func() (*spanlog.Store, error) { return store, nil }, id, opts.Now())
	if err != nil {
		return err
	}
	if opts.HTML == "-" {
		if _, err := opts.IO.Out.Write(buf.Bytes()); err != nil {
			return err
		}
	} else if err := writeFile(opts.HTML, buf.Bytes()); err != nil {
		return err
	}
	what := cmdutil.Plural(info.Boundaries, "boundary", "boundaries")
	if info.Original != "" {
		what += ", with the recording it replays, " + info.Original
	}
	if info.WhyOmitted {
		what += "; without provenance (more than " + fmt.Sprint(view.ReportWhyLimit) + " boundaries)"
	}
	if opts.HTML != "-" {
		fmt.Fprintf(opts.IO.ErrOut, "agentrr report: wrote %s: run %s (%s)\n", opts.HTML, info.Run, what)
	}
	return cmdutil.DamagedRun(spanlog.RunInfo{RunMeta: spanlog.RunMeta{TraceID: info.Run}, Status: info.Status, Reason: info.Reason})
}

// writeFile writes data to path through a temporary file in the same
// directory, so that an existing file is replaced whole or not at all.
func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return cmdutil.FlagError("--html %s: %v", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
